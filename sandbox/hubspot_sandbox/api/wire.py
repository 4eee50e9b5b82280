"""Response shapes shared by the handlers (names and fields as in HubSpot's specs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hubspot_sandbox.catalog import ObjectType, resolve_object_type
from hubspot_sandbox.errors import JsonObject, not_found, validation_error
from hubspot_sandbox.history import HistoryEntry
from hubspot_sandbox.http_types import HttpResponse
from hubspot_sandbox.reads import RecordData
from hubspot_sandbox.routing import ScopeRule
from hubspot_sandbox.settings import AUTOMATION_SCOPE
from hubspot_sandbox.timefmt import iso_from_ms, now_ms

MAX_BATCH_INPUTS = 100


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    return HttpResponse(status, body, headers or {})


def resolve_type(params: Mapping[str, str], name: str = "objectType") -> ObjectType:
    """The object type named by a path parameter; 404 like HubSpot for anything it can't infer."""
    token = params[name]
    resolved = resolve_object_type(token)
    if resolved is None:
        raise not_found(f"Unable to infer object type from: {token}")
    return resolved


def read_scopes(*type_params: str) -> ScopeRule:
    """Scope rule: the read or write scope of any object type named by these path parameters."""

    def rule(params: Mapping[str, str]) -> tuple[str, ...]:
        scopes: list[str] = []
        for name in type_params:
            resolved = resolve_object_type(params[name])
            if resolved is not None:
                scopes += [resolved.read_scope, resolved.write_scope]
        return tuple(scopes)

    return rule


def write_scopes(type_param: str = "objectType") -> ScopeRule:
    def rule(params: Mapping[str, str]) -> tuple[str, ...]:
        resolved = resolve_object_type(params[type_param])
        return (resolved.write_scope,) if resolved is not None else ()

    return rule


def automation_scopes(_params: Mapping[str, str]) -> tuple[str, ...]:
    return (AUTOMATION_SCOPE,)


def value_with_timestamp(entry: HistoryEntry) -> JsonObject:
    """``ValueWithTimestamp``."""
    return {"value": entry.value, "timestamp": iso_from_ms(entry.timestamp_ms), **entry.source.as_wire()}


def simple_public_object(record: RecordData) -> JsonObject:
    """``SimplePublicObject``; requested properties without a value are ``null`` (facts §1.4)."""
    body: JsonObject = {
        "id": record.id,
        "properties": record.properties,
        "createdAt": iso_from_ms(record.created_ms),
        "updatedAt": iso_from_ms(record.updated_ms),
        "archived": record.archived_ms is not None,
    }
    if record.archived_ms is not None:
        body["archivedAt"] = iso_from_ms(record.archived_ms)
    if record.history is not None:
        body["propertiesWithHistory"] = {
            name: [value_with_timestamp(entry) for entry in entries] for name, entries in record.history.items()
        }
    return body


def standard_error(
    category: str, message: str, context: Mapping[str, Sequence[str]], sub_category: str | None = None
) -> JsonObject:
    """``StandardError``, the entries of a 207's ``errors``."""
    error: JsonObject = {
        "status": "error",
        "category": category,
        "message": message,
        "context": {key: list(values) for key, values in context.items()},
        "errors": [],
        "links": {},
    }
    if sub_category is not None:
        error["subCategory"] = sub_category
    return error


def batch_response(
    results: list[JsonObject],
    errors: list[JsonObject],
    started_ms: int,
    success_status: int = 200,
    *,
    partial_status: int = 207,
) -> HttpResponse:
    """``BatchResponse...`` (200/201) or ``...WithErrors`` (``partial_status`` when any input failed: 207 on v3,
    200 on the date-versioned APIs)."""
    body: JsonObject = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": iso_from_ms(started_ms),
        "completedAt": iso_from_ms(now_ms()),
    }
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
        return json_response(body, partial_status)
    return json_response(body, success_status)


def batch_inputs(body: object, *, limit: int = MAX_BATCH_INPUTS) -> list[Any]:
    """``inputs`` of a batch body, at most ``limit`` of them (400 VALIDATION_ERROR above; wording UNCONFIRMED)."""
    inputs = body.get("inputs") if isinstance(body, Mapping) else None
    if not isinstance(inputs, list):
        raise validation_error("Batch request must have an inputs list")
    if len(inputs) > limit:
        raise validation_error(
            f"The maximum number of inputs supported in a batch request is {limit}, but {len(inputs)} were provided."
        )
    return inputs


def input_id(item: object, key: str = "id") -> str:
    value = item.get(key) if isinstance(item, Mapping) else None
    if value is None or isinstance(value, bool) or not isinstance(value, str | int):
        raise validation_error(f"Each input needs an {key}")
    return str(value)


def string_list(body: Mapping[str, Any], key: str) -> list[str] | None:
    raw = body.get(key)
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise validation_error(f"{key} must be a list of strings")
    return [str(item) for item in raw]


def next_page(after: str) -> JsonObject:
    return {"next": {"after": after, "link": f"?after={after}"}}
