"""The records a run changed (or, in a dry run, would change), one row each: what an admin reviews and acts on.

A row joins the plan (the record's name, its stage before, the target and the rule) with the journal's final word
on it: applied, failed with HubSpot's reason, skipped (changed by someone else, or deleted), or ignored (HubSpot
kept the old value). Every row goes to ``changes.csv``; the report carries the first ``REPORT_ROWS``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from pydantic import BaseModel

from lifecycle_guard.audit import AuditSnapshot, StageCounts
from lifecycle_guard.jobs import PlannedChange, RuleCount
from lifecycle_guard.journal import JournalEntry, Write, WriteOutcome, parse_entries
from lifecycle_guard.layout import RunLayout
from lifecycle_guard.objects import NO_STAGE, ObjectType
from lifecycle_guard.rules import MISSING
from lifecycle_guard.sources import ValueSource
from lifecycle_guard.storage import ObjectStore

REPORT_ROWS = 200
WOULD_CHANGE = "would change"
# ``source`` in words, then HubSpot's ``sourceType`` and ``sourceId`` of it, for machines to group by.
CSV_COLUMNS = (
    "object_type",
    "id",
    "name",
    "before",
    "after",
    "target",
    "rule",
    "outcome",
    "detail",
    "link",
    "source",
    "source_type",
    "source_id",
)


class ChangedRecord(BaseModel):
    object_type: ObjectType
    object_id: str
    label: str
    before: str
    after: str  # what HubSpot holds now (the target, in a dry run)
    target: str
    rule: str
    outcome: str  # applied | failed | skipped | ignored | would change
    detail: str = ""
    source: ValueSource | None = None  # what gave the record its bad value

    @property
    def fixed(self) -> bool:
        """The run put (a dry run would put) the record on its target."""
        return self.outcome in (WriteOutcome.APPLIED.value, WOULD_CHANGE)


@dataclass
class FinalValue:
    """A record's last applied value, and the failure or skip that explains a record left off target."""

    value: str | None = None
    reason: tuple[str, str] | None = None  # (outcome, detail)


class FinalValues:
    """Each record's final value and reason, gathered from a run's journal segments as the report compacts them
    (``compact_journal``'s ``inspect``), so the journal is not read a second time."""

    def __init__(self) -> None:
        self.by_record: dict[tuple[ObjectType, str], FinalValue] = {}

    def scan(self, segment: bytes) -> None:
        self.add(parse_entries(segment))

    def add(self, entries: Iterable[JournalEntry]) -> None:
        for entry in entries:
            final = self.by_record.setdefault((entry.object_type, entry.object_id), FinalValue())
            if entry.outcome is WriteOutcome.APPLIED and entry.write is not Write.NONE:
                final.value = entry.after
            elif entry.outcome in (WriteOutcome.FAILED, WriteOutcome.SKIPPED):
                final.reason = (entry.outcome.value, entry.detail)


def changed_records(
    planned: Iterable[PlannedChange], finals: Mapping[tuple[ObjectType, str], FinalValue] | None
) -> Iterator[ChangedRecord]:
    """One row per planned change; ``finals`` None for a dry run (nothing was written)."""
    for change in planned:
        if finals is None:
            after, outcome, detail = change.target, WOULD_CHANGE, ""
        else:
            final = finals.get((change.object_type, change.object_id), FinalValue())
            after = change.before if final.value is None else final.value
            if after == change.target:
                outcome, detail = WriteOutcome.APPLIED.value, ""
            else:
                outcome, detail = final.reason or (WriteOutcome.IGNORED.value, "HubSpot kept the old value")
        yield ChangedRecord(
            object_type=change.object_type,
            object_id=change.object_id,
            label=change.label,
            before=change.before,
            after=after,
            target=change.target,
            rule=change.rule,
            outcome=outcome,
            detail=detail,
            source=change.source,
        )


def record_link(portal_id: int | None, object_type: ObjectType, object_id: str) -> str:
    """The record in HubSpot's app (empty when the portal id is unknown)."""
    if portal_id is None:
        return ""
    return f"https://app.hubspot.com/contacts/{portal_id}/record/{object_type.object_type_id}/{object_id}"


def csv_chunks(
    rows: Iterable[ChangedRecord], describe: Callable[[ChangedRecord], str], portal_id: int | None
) -> Iterator[bytes]:
    """``changes.csv``, streamed a row at a time (a million-record run is never held in memory)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                row.object_type.value,
                row.object_id,
                row.label,
                row.before,
                row.after,
                row.target,
                describe(row),
                row.outcome,
                row.detail,
                record_link(portal_id, row.object_type, row.object_id),
                *((row.source.describe(), row.source.source_type, row.source.source_id) if row.source else ("",) * 3),
            ]
        )
        if buffer.tell() > 64_000:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def write_changes(
    store: ObjectStore,
    layout: RunLayout,
    rows: Iterable[ChangedRecord],
    describe: Callable[[ChangedRecord], str],
    portal_id: int | None,
) -> tuple[list[ChangedRecord], int]:
    """Stream every row to ``changes.csv``; return the first ``REPORT_ROWS`` and how many there were."""
    first: list[ChangedRecord] = []
    total = 0

    def counted() -> Iterator[ChangedRecord]:
        nonlocal total
        for row in rows:
            total += 1
            if len(first) < REPORT_ROWS:
                first.append(row)
            yield row

    store.put_chunks(layout.changes_csv, csv_chunks(counted(), describe, portal_id), "text/csv; charset=utf-8")
    return first, total


def planned_after(before: AuditSnapshot, counts: Iterable[RuleCount]) -> AuditSnapshot:
    """The portal's counts as the plan would leave them: each change moves one record from its trigger (no stage,
    or a disallowed stage) to its target."""
    moved = {t: counts_of.model_copy(deep=True) for t, counts_of in before.counts.items()}
    for count in counts:
        trigger = count.rule.split(":", 1)[0]
        stages: StageCounts = moved[count.object_type]
        if trigger == MISSING:
            stages.missing -= count.planned
        else:
            stages.by_stage[trigger] = stages.by_stage.get(trigger, 0) - count.planned
        if count.target != NO_STAGE:
            stages.by_stage[count.target] = stages.by_stage.get(count.target, 0) + count.planned
    return AuditSnapshot(taken_at=before.taken_at, counts=moved)
