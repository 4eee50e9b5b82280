"""Parsing and validating ``PublicObjectSearchRequest`` bodies with HubSpot's limits.

Limits (facts §2.1/§2.3): at most 5 filter groups, 6 filters per group, 18 filters in all, 1 sort; ``limit``
default 10, at most 200; ``after`` is an offset and a page reaching past the 10,000th result (``after + limit >
10000``) is a 400. The wording of these 400 messages is UNCONFIRMED (HubSpot's exact text was not found); category
VALIDATION_ERROR is. Also UNCONFIRMED, chosen strict: a filter or sort on a property the sandbox does not know is a
400 (a typo must not silently match nothing), and ``limit: 0`` returns no results, the ``total`` and no paging.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hubspot_sandbox.catalog import ObjectType
from hubspot_sandbox.errors import validation_error

MAX_FILTER_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS_TOTAL = 18
MAX_SORTS = 1
DEFAULT_LIMIT = 10
MAX_LIMIT = 200
MAX_RESULTS = 10_000
MAX_QUERY_LENGTH = 3000


class Operator(StrEnum):
    EQ = "EQ"
    NEQ = "NEQ"
    LT = "LT"
    LTE = "LTE"
    GT = "GT"
    GTE = "GTE"
    BETWEEN = "BETWEEN"
    IN = "IN"
    NOT_IN = "NOT_IN"
    HAS_PROPERTY = "HAS_PROPERTY"
    NOT_HAS_PROPERTY = "NOT_HAS_PROPERTY"
    CONTAINS_TOKEN = "CONTAINS_TOKEN"  # noqa: S105 - an operator name, not a credential
    NOT_CONTAINS_TOKEN = "NOT_CONTAINS_TOKEN"  # noqa: S105


_SINGLE_VALUE = frozenset(
    {
        Operator.EQ,
        Operator.NEQ,
        Operator.LT,
        Operator.LTE,
        Operator.GT,
        Operator.GTE,
        Operator.CONTAINS_TOKEN,
        Operator.NOT_CONTAINS_TOKEN,
    }
)
_MULTI_VALUE = frozenset({Operator.IN, Operator.NOT_IN})


@dataclass(frozen=True, slots=True)
class Filter:
    property: str
    operator: Operator
    value: str | None = None
    high_value: str | None = None
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Sort:
    property: str
    descending: bool


@dataclass(frozen=True, slots=True)
class SearchQuery:
    groups: tuple[tuple[Filter, ...], ...]  # OR of ANDs
    sort: Sort | None
    properties: tuple[str, ...] | None  # None: the type's default properties
    limit: int
    offset: int
    text: str | None


def _wire_string(value: object) -> str:
    """Filter values arrive as strings from the SDK, but HubSpot also takes JSON numbers and booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise validation_error(f"Invalid filter value: {value!r}")


def _int_field(body: Mapping[str, Any], key: str, default: int) -> int:
    raw = body.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise validation_error(f"Invalid {key}: {raw!r} is not an integer") from None


def _parse_filter(raw: object, object_type: ObjectType) -> Filter:
    if not isinstance(raw, Mapping):
        raise validation_error("Each filter must be an object with propertyName and operator")
    name, operator_name = raw.get("propertyName"), raw.get("operator")
    if not isinstance(name, str) or not name:
        raise validation_error("Filter is missing propertyName")
    try:
        operator = Operator(str(operator_name))
    except ValueError:
        raise validation_error(f"Unsupported filter operator: {operator_name!r}") from None
    if name not in object_type.properties:
        raise validation_error(
            f"There was a problem with the request: property {name!r} does not exist on {object_type.name}"
        )
    value = raw.get("value")
    high_value = raw.get("highValue")
    values = raw.get("values")
    if operator in _SINGLE_VALUE and value is None:
        raise validation_error(f"Filter on {name} with operator {operator} requires a value")
    if operator is Operator.BETWEEN and (value is None or high_value is None):
        raise validation_error(f"Filter on {name} with operator BETWEEN requires value and highValue")
    if operator in _MULTI_VALUE and (not isinstance(values, list) or not values):
        raise validation_error(f"Filter on {name} with operator {operator} requires a non-empty values list")
    return Filter(
        property=name,
        operator=operator,
        value=None if value is None else _wire_string(value),
        high_value=None if high_value is None else _wire_string(high_value),
        values=tuple(_wire_string(item) for item in values) if isinstance(values, list) else (),
    )


def _parse_sort(raw: object, object_type: ObjectType) -> Sort:
    # The SDK types sorts as list[str]; plain "propertyName" strings sort ascending (a "-" prefix descending).
    name: object
    direction: object
    if isinstance(raw, str):
        descending = raw.startswith("-")
        name, direction = raw.lstrip("-"), "DESCENDING" if descending else "ASCENDING"
    elif isinstance(raw, Mapping):
        name, direction = raw.get("propertyName"), raw.get("direction", "ASCENDING")
    else:
        raise validation_error("Each sort must be an object with propertyName and direction")
    if not isinstance(name, str) or name not in object_type.properties:
        raise validation_error(f"Cannot sort by unknown property {name!r}")
    if direction not in ("ASCENDING", "DESCENDING"):
        raise validation_error(f"Invalid sort direction {direction!r}")
    return Sort(name, direction == "DESCENDING")


def parse_search_request(body: object, object_type: ObjectType) -> SearchQuery:
    if not isinstance(body, Mapping):
        raise validation_error("Search request body must be a JSON object")
    raw_groups = body.get("filterGroups") or []
    raw_sorts = body.get("sorts") or []
    if not isinstance(raw_groups, list) or not isinstance(raw_sorts, list):
        raise validation_error("filterGroups and sorts must be lists")
    if len(raw_groups) > MAX_FILTER_GROUPS:
        raise validation_error(f"Too many filter groups ({len(raw_groups)}); the maximum is {MAX_FILTER_GROUPS}")
    groups: list[tuple[Filter, ...]] = []
    for raw_group in raw_groups:
        raw_filters = raw_group.get("filters") if isinstance(raw_group, Mapping) else None
        if not isinstance(raw_filters, list):
            raise validation_error("Each filter group must have a filters list")
        if len(raw_filters) > MAX_FILTERS_PER_GROUP:
            raise validation_error(
                f"Too many filters in a group ({len(raw_filters)}); the maximum is {MAX_FILTERS_PER_GROUP}"
            )
        groups.append(tuple(_parse_filter(raw, object_type) for raw in raw_filters))
    total_filters = sum(len(group) for group in groups)
    if total_filters > MAX_FILTERS_TOTAL:
        raise validation_error(f"Too many filters ({total_filters}); the maximum is {MAX_FILTERS_TOTAL}")
    if len(raw_sorts) > MAX_SORTS:
        raise validation_error(f"Too many sorts ({len(raw_sorts)}); the maximum is {MAX_SORTS}")
    sort = _parse_sort(raw_sorts[0], object_type) if raw_sorts else None

    limit = _int_field(body, "limit", DEFAULT_LIMIT)
    if limit < 0 or limit > MAX_LIMIT:
        raise validation_error(f"limit must be between 0 and {MAX_LIMIT}, got {limit}")
    offset = _int_field(body, "after", 0)
    if offset < 0:
        raise validation_error(f"Invalid after: {offset}")
    if offset + limit > MAX_RESULTS:
        raise validation_error(
            f"Search results are limited to {MAX_RESULTS} total results; the requested page "
            f"(after={offset}, limit={limit}) goes past that. Narrow the query, e.g. page with an "
            "hs_object_id GT filter."
        )

    properties = body.get("properties")
    text = body.get("query")
    if text is not None and (not isinstance(text, str) or len(text) > MAX_QUERY_LENGTH):
        raise validation_error(f"query must be a string of at most {MAX_QUERY_LENGTH} characters")
    return SearchQuery(
        groups=tuple(groups),
        sort=sort,
        properties=tuple(str(name) for name in properties) if isinstance(properties, list) and properties else None,
        limit=limit,
        offset=offset,
        text=text or None,
    )
