"""What search can see of one object type, including HubSpot's indexing lag.

``live`` holds the ids search returns (sorted), and every indexed property has value -> sorted ids buckets,
``None`` being the "no value" bucket. Writes reach these structures as events; with ``lag_ms = 0`` an event applies
at once, otherwise it waits until it is ``lag_ms`` old. While a change waits, ``visible_value`` keeps answering the
value search saw before it, so search matching and the property values search returns both lag, while GET and
batch read (which read the store) do not. Events apply in write order, so a change's "old" value is exactly what
search sees when the event matures.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from sortedcontainers import SortedList

Value = str | None


class _Created(NamedTuple):
    at_ms: int
    record_id: int
    indexed_values: dict[str, Value]


class _Changed(NamedTuple):
    at_ms: int
    record_id: int
    name: str
    old: Value
    new: Value


class _Archived(NamedTuple):
    at_ms: int
    record_id: int
    indexed_values: dict[str, Value]


_Event = _Created | _Changed | _Archived


class _Hidden:
    """The value search still sees for a (record, property) while ``pending`` changes of it wait."""

    __slots__ = ("pending", "value")

    def __init__(self, value: Value) -> None:
        self.value = value
        self.pending = 1


class SearchIndex:
    __slots__ = ("_overlay", "_pending", "buckets", "lag_ms", "live")

    def __init__(self, indexed: Iterable[str], lag_ms: int = 0) -> None:
        self.lag_ms = lag_ms
        self.live: SortedList = SortedList()
        self.buckets: dict[str, dict[Value, SortedList]] = {name: {} for name in indexed}
        self._pending: deque[_Event] = deque()
        self._overlay: dict[tuple[int, str], _Hidden] = {}

    def bulk_load(self, ids: Sequence[int], columns: Mapping[str, Sequence[Value]]) -> None:
        """Index consecutive new records in one go (generator path); ``ids`` ascending."""
        self.live.update(ids)
        for name, buckets in self.buckets.items():
            column = columns.get(name)
            grouped: dict[Value, list[int]] = {}
            if column is None:
                grouped[None] = list(ids)
            else:
                for record_id, value in zip(ids, column, strict=True):
                    grouped.setdefault(value, []).append(record_id)
            for value, members in grouped.items():
                bucket = buckets.get(value)
                if bucket is None:
                    buckets[value] = SortedList(members)
                else:
                    bucket.update(members)

    # --- events -------------------------------------------------------------------------------------------
    def record_created(self, now_ms: int, record_id: int, indexed_values: dict[str, Value]) -> None:
        self._submit(now_ms, _Created(now_ms, record_id, indexed_values))

    def value_changed(self, now_ms: int, record_id: int, name: str, old: Value, new: Value) -> None:
        if self.lag_ms <= 0 and not self._pending and name not in self.buckets:
            return  # nothing indexed and nothing to hide: the common fast path
        self._submit(now_ms, _Changed(now_ms, record_id, name, old, new))

    def record_archived(self, now_ms: int, record_id: int, indexed_values: dict[str, Value]) -> None:
        self._submit(now_ms, _Archived(now_ms, record_id, indexed_values))

    def mature(self, now_ms: int) -> None:
        """Apply every pending event that is at least ``lag_ms`` old."""
        horizon = now_ms - max(self.lag_ms, 0)
        pending = self._pending
        while pending and pending[0].at_ms <= horizon:
            self._apply(pending.popleft())

    def visible_value(self, record_id: int, name: str, current: Value) -> Value:
        if not self._overlay:
            return current
        hidden = self._overlay.get((record_id, name))
        return current if hidden is None else hidden.value

    def clone(self) -> SearchIndex:
        copy = SearchIndex((), self.lag_ms)
        copy.live = self.live.copy()
        copy.buckets = {
            name: {value: ids.copy() for value, ids in by_value.items()} for name, by_value in self.buckets.items()
        }
        copy._pending = deque(self._pending)
        for key, hidden in self._overlay.items():
            copy._overlay[key] = _Hidden(hidden.value)
            copy._overlay[key].pending = hidden.pending
        return copy

    # --- internals ----------------------------------------------------------------------------------------
    def _submit(self, now_ms: int, event: _Event) -> None:
        self.mature(now_ms)
        if self.lag_ms <= 0 and not self._pending:
            self._apply(event)
            return
        if isinstance(event, _Changed):
            hidden = self._overlay.get((event.record_id, event.name))
            if hidden is None:
                self._overlay[(event.record_id, event.name)] = _Hidden(event.old)
            else:
                hidden.pending += 1
        self._pending.append(event)

    def _apply(self, event: _Event) -> None:
        if isinstance(event, _Changed):
            self._move(event.record_id, event.name, event.old, event.new)
            hidden = self._overlay.get((event.record_id, event.name))
            if hidden is not None:
                hidden.pending -= 1
                if hidden.pending == 0:
                    del self._overlay[(event.record_id, event.name)]
        elif isinstance(event, _Created):
            self.live.add(event.record_id)
            for name in self.buckets:
                self._bucket(name, event.indexed_values.get(name)).add(event.record_id)
        else:
            self.live.discard(event.record_id)
            for name in self.buckets:
                self._bucket(name, event.indexed_values.get(name)).discard(event.record_id)

    def _move(self, record_id: int, name: str, old: Value, new: Value) -> None:
        if name not in self.buckets or old == new:
            return
        self._bucket(name, old).discard(record_id)
        self._bucket(name, new).add(record_id)

    def _bucket(self, name: str, value: Value) -> SortedList:
        buckets = self.buckets[name]
        bucket = buckets.get(value)
        if bucket is None:
            bucket = buckets[value] = SortedList()
        return bucket
