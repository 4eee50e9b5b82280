"""The change journal: one JSON line per record write (and per deliberate skip), from which a run can be undone."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from lifecycle_guard.objects import ObjectType
from lifecycle_guard.storage import ObjectStore

JOURNAL_FILE = "journal.jsonl"
SEGMENTS = "journal/"


class Write(StrEnum):
    SET = "set"
    CLEAR = "clear"
    NONE = "none"  # nothing written: the entry records why a planned change was skipped


class Outcome(StrEnum):
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
    outcome: Outcome
    detail: str = ""


def utcnow() -> datetime:
    return datetime.now(UTC)


def segment_key(run_prefix: str, job_id: str, batch: int) -> str:
    return f"{run_prefix}{SEGMENTS}{job_id}-{batch:04d}.jsonl"


def write_segment(store: ObjectStore, key: str, entries: Iterable[JournalEntry]) -> None:
    body = b"".join(entry.model_dump_json().encode() + b"\n" for entry in entries)
    if body:
        store.put(key, body, "application/x-ndjson")


def _parse(lines: bytes) -> Iterator[JournalEntry]:
    for line in lines.splitlines():
        if line.strip():
            yield JournalEntry.model_validate_json(line)


def read_journal(store: ObjectStore, run_prefix: str) -> Iterator[JournalEntry]:
    """A run's entries in write order: the compacted journal if the run finished, else its segments."""
    compacted = store.get(run_prefix + JOURNAL_FILE)
    if compacted is not None:
        yield from _parse(compacted)
        return
    for key in sorted(store.keys(run_prefix + SEGMENTS)):
        yield from _parse(store.get(key) or b"")


def compact_journal(store: ObjectStore, run_prefix: str) -> tuple[str, int]:
    """Concatenate a run's segments into ``journal.jsonl`` (streamed); returns its key and entry count."""
    count = 0

    def chunks() -> Iterator[bytes]:
        nonlocal count
        for key in sorted(store.keys(run_prefix + SEGMENTS)):
            body = store.get(key) or b""
            count += body.count(b"\n")
            yield body

    key = run_prefix + JOURNAL_FILE
    store.put_chunks(key, chunks(), "application/x-ndjson")
    return key, count
