"""An in-memory CRM implementing ``lifecycle_guard.crm.Crm``, for fast unit tests of planning, fixing and
verification. It keeps the one HubSpot rule those depend on - a backward stage set is answered 2xx and ignored
(hubspot-facts §1.3) - and records every call, so a test can assert what went to HubSpot and in which order.
HTTP, pacing, 429s, indexing lag and every other behaviour are the sandbox's job (tests/sandbox, tests/functional).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from lifecycle_guard.crm import (
    BATCH_SIZE,
    HISTORY_BATCH_SIZE,
    SEARCH_PAGE_SIZE,
    Association,
    Crm,
    SearchFilter,
    SearchPage,
    WriteResult,
)
from lifecycle_guard.objects import LIFECYCLE_STAGE, NO_STAGE, ObjectType, Record
from lifecycle_guard.sources import StageValue, ValueSource
from lifecycle_guard.stages import StageCatalog

DEFAULT_STAGES = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer"]
DEFAULT_STAGES += ["evangelist", "other"]
PRIMARY, UNLABELED = 1, 279


@dataclass(frozen=True)
class Call:
    method: str
    object_type: str
    ids: tuple[str, ...] = ()
    values: tuple[str, ...] = ()  # the stage values an update wrote, in input order


@dataclass
class InMemoryCrm:
    stages: list[str] = field(default_factory=lambda: list(DEFAULT_STAGES))
    records: dict[str, dict[str, dict[str, str | None]]] = field(default_factory=dict)
    links: dict[tuple[str, str], dict[str, dict[str, Association]]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    # (object_type, id) -> lifecyclestage history, newest first; records without one have none (never set).
    histories: dict[tuple[str, str], list[StageValue]] = field(default_factory=dict)
    # Called with (object_type, {id: properties}) before an update is applied; returns per-id failures (a 207), or
    # raises what HubSpot would answer for the whole batch (e.g. RequestRejected: a 400 VALIDATION_ERROR).
    reject: Callable[[str, Mapping[str, Mapping[str, str]]], dict[str, str]] | None = None
    _next_id: int = 1000

    # ---- building a portal ----

    def add(self, object_type: str, record_id: str, stage: str = NO_STAGE, **properties: str) -> str:
        self.records.setdefault(object_type, {})[record_id] = {LIFECYCLE_STAGE: stage or None, **properties}
        return record_id

    def link(self, from_type: str, from_id: str, to_type: str, to_id: str, *type_ids: int) -> None:
        self.links.setdefault((from_type, to_type), {}).setdefault(from_id, {})[to_id] = Association(
            to_id, frozenset(type_ids or (UNLABELED,))
        )

    def set_history(self, object_type: str, record_id: str, *entries: tuple[str, ValueSource]) -> None:
        """The record's stage history, newest first, as (value, source) pairs."""
        self.histories[(object_type, record_id)] = [StageValue(value=v, source=s) for v, s in entries]

    def stage_of(self, object_type: str, record_id: str) -> str:
        return self.records[object_type][record_id].get(LIFECYCLE_STAGE) or NO_STAGE

    def updates(self, object_type: str | None = None) -> list[Call]:
        return [c for c in self.calls if c.method == "update" and object_type in (None, c.object_type)]

    # ---- the Crm protocol ----

    def stage_catalog(self, object_type: ObjectType) -> StageCatalog:
        options = [{"value": v, "label": v.title(), "displayOrder": i} for i, v in enumerate(self.stages)]
        return StageCatalog.from_property(object_type, {"options": options})

    def _matching(self, object_type: str, where: SearchFilter | None) -> list[str]:
        table = self.records.get(object_type, {})
        return sorted((i for i, p in table.items() if where is None or where.matches(p)), key=int)

    def count(self, object_type: str, where: SearchFilter | None = None) -> int:
        self.calls.append(Call("count", object_type))
        return len(self._matching(object_type, where))

    def search_after(
        self,
        object_type: str,
        where: SearchFilter | None,
        properties: Sequence[str],
        after_id: int,
        limit: int = SEARCH_PAGE_SIZE,
    ) -> SearchPage:
        matching = self._matching(object_type, where)
        beyond = [i for i in matching if int(i) > after_id]
        page = beyond[:limit]
        self.calls.append(Call("search", object_type, tuple(page)))
        records = [self._record(object_type, i, properties) for i in page]
        return SearchPage(records=records, total=len(matching), has_more=len(beyond) > limit)

    def read(self, object_type: str, ids: Sequence[str], properties: Sequence[str]) -> dict[str, Record]:
        for start in range(0, len(ids), BATCH_SIZE):
            self.calls.append(Call("read", object_type, tuple(ids[start : start + BATCH_SIZE])))
        table = self.records.get(object_type, {})
        return {i: self._record(object_type, i, properties) for i in ids if i in table}

    def stage_history(self, object_type: str, ids: Sequence[str]) -> dict[str, list[StageValue]]:
        for start in range(0, len(ids), HISTORY_BATCH_SIZE):
            self.calls.append(Call("stage_history", object_type, tuple(ids[start : start + HISTORY_BATCH_SIZE])))
        table = self.records.get(object_type, {})
        return {i: list(self.histories.get((object_type, i), [])) for i in ids if i in table}

    def associations(self, from_type: str, to_type: str, ids: Sequence[str]) -> dict[str, dict[str, Association]]:
        self.calls.append(Call("associations", f"{from_type}->{to_type}", tuple(ids)))
        known = self.links.get((from_type, to_type), {})
        return {i: dict(known.get(i, {})) for i in ids}

    def get(self, object_type: str, object_id: str, properties: Sequence[str]) -> Record | None:
        self.calls.append(Call("get", object_type, (object_id,)))
        if object_id not in self.records.get(object_type, {}):
            return None
        return self._record(object_type, object_id, properties)

    def update(self, object_type: str, properties_by_id: Mapping[str, Mapping[str, str]]) -> WriteResult:
        assert len(properties_by_id) <= BATCH_SIZE, "a batch update takes at most 100 records"
        stages = tuple(values.get(LIFECYCLE_STAGE, "") for values in properties_by_id.values())
        self.calls.append(Call("update", object_type, tuple(properties_by_id), stages))
        failed = self.reject(object_type, properties_by_id) if self.reject else {}
        table = self.records.setdefault(object_type, {})
        result = WriteResult(failed=dict(failed))
        for object_id, values in properties_by_id.items():
            if object_id in failed:
                continue
            if object_id not in table:
                result.failed[object_id] = f"OBJECT_NOT_FOUND: no {object_type} {object_id}"
                continue
            self._write(object_type, object_id, values)
            result.records[object_id] = self._record(object_type, object_id, [LIFECYCLE_STAGE])
        return result

    def update_record(self, object_type: str, object_id: str, properties: Mapping[str, str]) -> Record | None:
        self.calls.append(Call("update_record", object_type, (object_id,), (properties.get(LIFECYCLE_STAGE, ""),)))
        if object_id not in self.records.get(object_type, {}):
            return None
        self._write(object_type, object_id, properties)
        return self._record(object_type, object_id, list(properties))

    def _write(self, object_type: str, object_id: str, values: Mapping[str, str]) -> None:
        current = self.records[object_type][object_id]
        for name, value in values.items():
            if name == LIFECYCLE_STAGE and value:
                now = current.get(LIFECYCLE_STAGE) or NO_STAGE
                if self.stage_catalog(ObjectType(object_type)).needs_clear_first(now, value):
                    continue  # HubSpot ignores a backward set, answering 2xx
            current[name] = value or None

    def create(self, object_type: str, properties: Mapping[str, str], *, retry: bool = False) -> Record:
        self._next_id += 1
        record_id = str(self._next_id)
        self.calls.append(Call("create", object_type, (record_id,)))
        self.records.setdefault(object_type, {})[record_id] = dict(properties)
        return self._record(object_type, record_id, list(properties))

    def archive(self, object_type: str, object_id: str) -> None:
        self.calls.append(Call("archive", object_type, (object_id,)))
        self.records.get(object_type, {}).pop(object_id, None)

    @contextmanager
    def finishing(self) -> Iterator[None]:
        yield

    def check_daily_watermark(self) -> None:
        return

    def _record(self, object_type: str, object_id: str, properties: Sequence[str]) -> Record:
        stored = self.records[object_type][object_id]
        return Record(object_id, {name: stored.get(name) for name in (*properties, LIFECYCLE_STAGE)})


def as_crm(crm: InMemoryCrm) -> Crm:
    """Where mypy (``make typecheck`` checks this module) proves the fake still is a ``Crm``."""
    return crm
