"""The change journal: one JSON line per record write (and per deliberate skip), from which a run can be undone."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from lifecycle_guard.layout import JOB_SEGMENT_SUFFIX, RunLayout
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.sources import ValueSource
from lifecycle_guard.storage import ObjectStore, read_in_order


class Write(StrEnum):
    SET = "set"
    CLEAR = "clear"
    NONE = "none"  # nothing written: the entry records why a planned change was skipped


class WriteOutcome(StrEnum):
    APPLIED = "applied"  # HubSpot stores the value we wrote (read back)
    IGNORED = "ignored"  # HubSpot answered 2xx but kept the old value (e.g. a backward set)
    FAILED = "failed"  # HubSpot answered an error for this record
    SKIPPED = "skipped"  # deliberately not written (changed by someone else since, or deleted)


class JournalEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_id: str
    job_id: str
    object_type: ObjectType
    object_id: str
    write: Write
    before: str
    after: str
    rule: str
    at: datetime
    outcome: WriteOutcome
    detail: str = ""
    source: ValueSource | None = None  # what gave the record the value this run fixes (the plan's root cause)


def utcnow() -> datetime:
    return datetime.now(UTC)


def write_segment(store: ObjectStore, key: str, entries: Iterable[JournalEntry]) -> None:
    body = b"".join(entry.model_dump_json().encode() + b"\n" for entry in entries)
    if body:
        store.put(key, body, "application/x-ndjson")


def parse_entries(lines: bytes) -> Iterator[JournalEntry]:
    """The entries of a journal segment (or of the compacted journal)."""
    for line in lines.splitlines():
        if line.strip():
            yield JournalEntry.model_validate_json(line)


def segment_keys(store: ObjectStore, layout: RunLayout) -> list[str]:
    """A run's journal segments in write order, each entry in one of them: a job attempt that finished every batch
    wrote them again as one segment, read instead of its batch segments (one GET a job, not one a batch of 100);
    an attempt that died half-way has its batch segments only."""
    keys = sorted(store.keys(layout.journal_segments))
    whole = {key.removesuffix(JOB_SEGMENT_SUFFIX) for key in keys if key.endswith(JOB_SEGMENT_SUFFIX)}

    def covered(key: str) -> bool:
        stem, _, batch = key.removesuffix(".jsonl").rpartition("-")
        return batch.isdigit() and stem in whole

    return [key for key in keys if not covered(key)]


def read_journal(store: ObjectStore, layout: RunLayout) -> Iterator[JournalEntry]:
    """A run's entries in write order: the compacted journal if the run finished, else its segments."""
    compacted = store.get(layout.journal)
    if compacted is not None:
        yield from parse_entries(compacted)
        return
    for segment in read_in_order(store, segment_keys(store, layout)):
        yield from parse_entries(segment)


def compact_journal(store: ObjectStore, layout: RunLayout, *, inspect: Callable[[bytes], None] | None = None) -> None:
    """Concatenate a run's segments into ``journal.jsonl`` (streamed); ``inspect`` sees each segment on the way, so
    the report can gather what it needs from the journal without reading it twice."""

    def segments() -> Iterator[bytes]:
        for segment in read_in_order(store, segment_keys(store, layout)):
            if inspect is not None:
                inspect(segment)
            yield segment

    store.put_chunks(layout.journal, segments(), "application/x-ndjson")
