"""Executing a search against the index: plan from indexed filters, scan only for what no index answers.

Per filter group the planner turns ``hs_object_id`` comparisons into an id range (or an explicit id set) and one
filter on an indexed property (EQ, IN, NEQ, NOT_IN, HAS_PROPERTY, NOT_HAS_PROPERTY) into a union of value buckets;
everything else becomes a residual predicate checked per candidate. A residual-free group counts its total from
bucket positions (O(log n)) and slices its page positionally, so the audit queries of the job (keyset page,
``limit=1`` count) are logarithmic at 1M records. Scans (fallbacks, O(matches)) happen for residual filters,
OR-groups that cannot be folded into one bucket union, and sorts on anything but ``hs_object_id``.

Comparison semantics: numeric when both sides parse as numbers (ids, epoch-ms dates), dates also from ISO text,
strings case-insensitively; enumeration/bool values compare exactly. NEQ / NOT_IN / NOT_CONTAINS_TOKEN do not match
records without a value — UNCONFIRMED; this reading forces clients to ask NOT_HAS_PROPERTY explicitly, which is
correct under either behaviour.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from sortedcontainers import SortedList

from hubspot_sandbox.catalog import (
    CREATEDATE,
    CREATION_SOURCE_PROPERTIES,
    HS_LASTMODIFIEDDATE,
    HS_OBJECT_ID,
    LASTMODIFIEDDATE,
    ObjectType,
    PropertyDef,
    PropertyKind,
)
from hubspot_sandbox.errors import validation_error
from hubspot_sandbox.history import PropertyHistory
from hubspot_sandbox.records import RecordStore
from hubspot_sandbox.search_index import SearchIndex, Value
from hubspot_sandbox.search_query import Filter, Operator, SearchQuery, Sort
from hubspot_sandbox.timefmt import ms_from_text

Predicate = Callable[[int], bool]
CompareKey = tuple[int, float | str]

_TOKEN_SPLIT = re.compile(r"[^\w*]+")


class SearchView:
    """Property values of one object type as search sees them (index lag applied to stored properties; the
    computed timestamps ``createdate``/``lastmodifieddate`` and the record source are always current)."""

    __slots__ = ("history", "index", "object_type", "store")

    def __init__(
        self, object_type: ObjectType, store: RecordStore, index: SearchIndex, history: PropertyHistory
    ) -> None:
        self.object_type = object_type
        self.store = store
        self.index = index
        self.history = history

    def value(self, record_id: int, name: str) -> Value:
        slot = record_id - self.store.first_id
        if name == HS_OBJECT_ID:
            return str(record_id)
        if name == CREATEDATE:
            return str(self.store.created_ms[slot])
        if name in (LASTMODIFIEDDATE, HS_LASTMODIFIEDDATE):
            return str(self.store.updated_ms[slot])
        if name in CREATION_SOURCE_PROPERTIES:
            return self.history.creation_value(slot, name)
        return self.index.visible_value(record_id, name, self.store.value(slot, name))


@dataclass(frozen=True, slots=True)
class SearchPage:
    total: int
    ids: list[int]
    next_offset: int | None


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def compare_key(kind: PropertyKind, text: str) -> CompareKey:
    """Orderable key: numbers (and dates as epoch ms) before strings, strings case-insensitive."""
    if kind is PropertyKind.DATETIME:
        ms = ms_from_text(text)
        if ms is not None:
            return (0, float(ms))
    number = _number(text)
    if number is not None:
        return (0, number)
    return (1, text.casefold())


def _tokens(text: str) -> set[str]:
    return {token for token in _TOKEN_SPLIT.split(text.casefold()) if token}


def _token_matches(text: str, token: str) -> bool:
    wanted = token.casefold()
    if "*" not in wanted:
        return wanted in _tokens(text)
    pattern = re.compile(re.escape(wanted).replace(r"\*", r"\w*"))
    return any(pattern.fullmatch(candidate) for candidate in _tokens(text))


def _value_predicate(flt: Filter, prop: PropertyDef) -> Callable[[Value], bool]:
    """The test a filter applies to one value (``None`` = no value)."""
    op = flt.operator
    if op is Operator.HAS_PROPERTY:
        return lambda value: value is not None
    if op is Operator.NOT_HAS_PROPERTY:
        return lambda value: value is None
    exact = prop.kind in (PropertyKind.ENUMERATION, PropertyKind.BOOL)
    if op in (Operator.IN, Operator.NOT_IN, Operator.EQ, Operator.NEQ):
        wanted = flt.values if op in (Operator.IN, Operator.NOT_IN) else (str(flt.value),)
        if exact:
            members: set[object] = set(wanted)
            key: Callable[[str], object] = str
        else:
            members = {compare_key(prop.kind, item) for item in wanted}
            kind = prop.kind
            key = lambda text: compare_key(kind, text)  # noqa: E731
        if op in (Operator.IN, Operator.EQ):
            return lambda value: value is not None and key(value) in members
        return lambda value: value is not None and key(value) not in members
    if op in (Operator.CONTAINS_TOKEN, Operator.NOT_CONTAINS_TOKEN):
        token = str(flt.value)
        negate = op is Operator.NOT_CONTAINS_TOKEN
        return lambda value: value is not None and _token_matches(value, token) != negate
    low = compare_key(prop.kind, str(flt.value))
    high = compare_key(prop.kind, str(flt.high_value)) if op is Operator.BETWEEN else low
    checks: dict[Operator, Callable[[CompareKey], bool]] = {
        Operator.LT: lambda key: key < low,
        Operator.LTE: lambda key: key <= low,
        Operator.GT: lambda key: key > low,
        Operator.GTE: lambda key: key >= low,
        Operator.BETWEEN: lambda key: low <= key <= high,
    }
    check = checks[op]
    kind = prop.kind
    return lambda value: value is not None and check(compare_key(kind, value))


def _record_predicate(flt: Filter, prop: PropertyDef, view: SearchView) -> Predicate:
    test = _value_predicate(flt, prop)
    name = flt.property
    return lambda record_id: test(view.value(record_id, name))


def _text_predicate(text: str, view: SearchView) -> Predicate:
    terms = text.casefold().split()
    names = view.object_type.text_search_properties

    def matches(record_id: int) -> bool:
        haystack = " ".join(filter(None, (view.value(record_id, name) for name in names))).casefold()
        return all(term in haystack for term in terms)

    return matches


def _id_value(text: str | None) -> float:
    number = None if text is None else _number(text)
    if number is None:
        raise validation_error(f"hs_object_id filter value {text!r} is not a number")
    return number


@dataclass(slots=True)
class _GroupPlan:
    low: int | None = None  # inclusive id bounds
    high: int | None = None
    explicit_ids: frozenset[int] | None = None
    driver_property: str | None = None  # None: all live ids
    driver_values: frozenset[Value] = frozenset()
    residual: list[Predicate] = field(default_factory=list)
    impossible: bool = False

    def raise_low(self, bound: int) -> None:
        self.low = bound if self.low is None else max(self.low, bound)

    def lower_high(self, bound: int) -> None:
        self.high = bound if self.high is None else min(self.high, bound)

    def sources(self, index: SearchIndex) -> list[SortedList]:
        if self.driver_property is None:
            return [index.live]
        buckets = index.buckets[self.driver_property]
        ordered = sorted(self.driver_values, key=lambda value: (value is None, value or ""))
        return [buckets[value] for value in ordered if buckets.get(value)]

    def id_in_bounds(self, record_id: int) -> bool:
        return (self.low is None or record_id >= self.low) and (self.high is None or record_id <= self.high)


def _restrict_ids(plan: _GroupPlan, flt: Filter) -> bool:
    """Fold an ``hs_object_id`` filter into the plan's id bounds; False if it must stay a residual check."""
    op = flt.operator
    if op is Operator.HAS_PROPERTY:
        return True
    if op is Operator.NOT_HAS_PROPERTY:
        plan.impossible = True
        return True
    if op in (Operator.EQ, Operator.IN):
        numbers = [_id_value(text) for text in (flt.values if op is Operator.IN else (flt.value,))]
        ids = frozenset(int(number) for number in numbers if number.is_integer())
        plan.explicit_ids = ids if plan.explicit_ids is None else plan.explicit_ids & ids
        return True
    if op is Operator.BETWEEN:
        plan.raise_low(math.ceil(_id_value(flt.value)))
        plan.lower_high(math.floor(_id_value(flt.high_value)))
        return True
    bounds: dict[Operator, Callable[[float], None]] = {
        Operator.GT: lambda number: plan.raise_low(math.floor(number) + 1),
        Operator.GTE: lambda number: plan.raise_low(math.ceil(number)),
        Operator.LT: lambda number: plan.lower_high(math.ceil(number) - 1),
        Operator.LTE: lambda number: plan.lower_high(math.floor(number)),
    }
    apply_bound = bounds.get(op)
    if apply_bound is None:
        return False
    apply_bound(_id_value(flt.value))
    return True


def _bucket_values(flt: Filter, index: SearchIndex) -> frozenset[Value] | None:
    """The index buckets answering a filter on an indexed property, or None if the index cannot answer it."""
    present = [value for value in index.buckets[flt.property] if value is not None]
    op = flt.operator
    if op is Operator.EQ:
        return frozenset({flt.value})
    if op is Operator.IN:
        return frozenset(flt.values)
    if op is Operator.NOT_HAS_PROPERTY:
        return frozenset({None})
    if op is Operator.HAS_PROPERTY:
        return frozenset(present)
    if op is Operator.NEQ:
        return frozenset(value for value in present if value != flt.value)
    if op is Operator.NOT_IN:
        return frozenset(value for value in present if value not in flt.values)
    return None


def _bucket_size(index: SearchIndex, name: str, values: Iterable[Value]) -> int:
    buckets = index.buckets[name]
    return sum(len(buckets[value]) for value in values if value in buckets)


def _plan_group(filters: tuple[Filter, ...], view: SearchView) -> _GroupPlan:
    plan = _GroupPlan()
    indexed: dict[str, tuple[frozenset[Value], list[Filter]]] = {}
    for flt in filters:
        prop = view.object_type.properties[flt.property]
        if flt.property == HS_OBJECT_ID and _restrict_ids(plan, flt):
            continue
        values = _bucket_values(flt, view.index) if flt.property in view.index.buckets else None
        if values is None:
            plan.residual.append(_record_predicate(flt, prop, view))
            continue
        known, sources = indexed.get(flt.property, (None, []))
        indexed[flt.property] = (values if known is None else known & values, [*sources, flt])
    if indexed and plan.explicit_ids is None:
        # Drive from the smallest candidate set; the other indexed filters are checked per candidate.
        driver = min(indexed, key=lambda name: _bucket_size(view.index, name, indexed[name][0]))
        plan.driver_property, plan.driver_values = driver, indexed.pop(driver)[0]
    for _values, filters_of_property in indexed.values():
        for flt in filters_of_property:
            plan.residual.append(_record_predicate(flt, view.object_type.properties[flt.property], view))
    if plan.low is not None and plan.high is not None and plan.low > plan.high:
        plan.impossible = True
    return plan


def _fold_groups(plans: list[_GroupPlan]) -> _GroupPlan | None:
    """OR of residual-free groups over the same id range and driver property = one bucket union."""
    first = plans[0]
    if any(
        plan.residual or plan.explicit_ids is not None or (plan.low, plan.high) != (first.low, first.high)
        for plan in plans
    ):
        return None
    unrestricted = next((plan for plan in plans if plan.driver_property is None), None)
    if unrestricted is not None:
        return unrestricted
    if len({plan.driver_property for plan in plans}) != 1:
        return None
    return _GroupPlan(
        low=first.low,
        high=first.high,
        driver_property=first.driver_property,
        driver_values=frozenset().union(*(plan.driver_values for plan in plans)),
    )


def _stream(plan: _GroupPlan, index: SearchIndex, descending: bool) -> Iterator[int]:
    if plan.impossible:
        return iter(())
    if plan.explicit_ids is not None:
        live = index.live
        stream: Iterator[int] = iter(
            sorted(
                (record_id for record_id in plan.explicit_ids if plan.id_in_bounds(record_id) and record_id in live),
                reverse=descending,
            )
        )
    else:
        ranges = [source.irange(plan.low, plan.high, reverse=descending) for source in plan.sources(index)]
        stream = ranges[0] if len(ranges) == 1 else heapq.merge(*ranges, reverse=descending)
    if plan.residual:
        checks = plan.residual
        stream = (record_id for record_id in stream if all(check(record_id) for check in checks))
    return stream


def _union(streams: list[Iterator[int]], descending: bool) -> Iterator[int]:
    previous = None
    for record_id in heapq.merge(*streams, reverse=descending):
        if record_id != previous:
            yield record_id
            previous = record_id


def _indexed_page(plan: _GroupPlan, index: SearchIndex, query: SearchQuery, descending: bool) -> SearchPage | None:
    """Total from bucket positions and the page from (merged) bucket slices, when no per-record check is needed."""
    if plan.residual or plan.explicit_ids is not None or plan.impossible:
        return None
    spans = [
        (
            source,
            source.bisect_left(plan.low) if plan.low is not None else 0,
            source.bisect_right(plan.high) if plan.high is not None else len(source),
        )
        for source in plan.sources(index)
    ]
    total = sum(max(stop - start, 0) for _, start, stop in spans)
    ids: list[int] = []
    if len(spans) == 1 and query.limit:
        source, start, stop = spans[0]
        if descending:
            upper = stop - query.offset
            lower = max(upper - query.limit, start)
            ids = list(source.islice(lower, upper, reverse=True)) if upper > lower else []
        else:
            begin = start + query.offset
            ids = list(source.islice(begin, min(begin + query.limit, stop)))
    elif spans and query.limit:
        ranges = [source.irange(plan.low, plan.high, reverse=descending) for source, _, _ in spans]
        ids = list(islice(heapq.merge(*ranges, reverse=descending), query.offset, query.offset + query.limit))
    return SearchPage(total, ids, _next_offset(query, total))


def _next_offset(query: SearchQuery, total: int) -> int | None:
    end = query.offset + query.limit
    return end if query.limit and end < total else None


def _sorted_by_property(ids: Iterable[int], sort: Sort, view: SearchView) -> list[int]:
    kind = view.object_type.properties[sort.property].kind
    present: list[tuple[CompareKey, int]] = []
    missing: list[int] = []
    for record_id in ids:
        value = view.value(record_id, sort.property)
        if value is None:
            missing.append(record_id)
        else:
            present.append((compare_key(kind, value), record_id))
    present.sort(key=lambda pair: pair[0], reverse=sort.descending)  # stable: ties stay in id order
    return [record_id for _, record_id in present] + missing  # no value sorts last either way


def execute_search(query: SearchQuery, view: SearchView) -> SearchPage:
    groups = query.groups or ((),)
    plans = [plan for plan in (_plan_group(group, view) for group in groups) if not plan.impossible]
    if query.text:
        text_check = _text_predicate(query.text, view)
        for plan in plans:
            plan.residual.append(text_check)
    if not plans:
        return SearchPage(0, [], None)
    by_id = query.sort is None or query.sort.property == HS_OBJECT_ID
    descending = bool(query.sort and query.sort.descending and by_id)
    folded = plans[0] if len(plans) == 1 else _fold_groups(plans)
    if folded is not None and by_id:
        page = _indexed_page(folded, view.index, query, descending)
        if page is not None:
            return page
    streams = (
        [_stream(folded, view.index, descending)]
        if folded is not None
        else [_stream(plan, view.index, descending) for plan in plans]
    )
    matches: Iterator[int] = streams[0] if len(streams) == 1 else _union(streams, descending)
    if not by_id and query.sort is not None:
        ordered = _sorted_by_property(matches, query.sort, view)
        page_ids = ordered[query.offset : query.offset + query.limit]
        return SearchPage(len(ordered), page_ids, _next_offset(query, len(ordered)))
    # Scan fallback: the exact total needs every match anyway, so collect the page on the way.
    page_ids = []
    total = 0
    stop = query.offset + query.limit
    for position, record_id in enumerate(matches):
        if query.offset <= position < stop:
            page_ids.append(record_id)
        total = position + 1
    return SearchPage(total, page_ids, _next_offset(query, total))
