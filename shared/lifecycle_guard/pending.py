"""Pending-write markers: a batch's planned changes, stored before its first write and deleted after its journal.

A marker left behind means the batch may have been interrupted between a clear and its set; ``fixing`` finishes
such batches (the job's own retry, the verify step of the same run, or the start of the next run).

A marker recovery cannot finish is *quarantined*: moved under ``work/quarantine/`` with the reason, so that it is
reported instead of failing every later run. That is a marker that cannot be read, one whose body names another run
than its key (a copy, or a forgery: its journal entries would be credited to the wrong run), or one whose replay
HubSpot refuses outright (``fixing.recover_pending``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lifecycle_guard.jobs import PlannedChange
from lifecycle_guard.journal import utcnow
from lifecycle_guard.layout import PENDING_PREFIX, QUARANTINE_PREFIX, quarantine_key
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.storage import ObjectStore


def marker_body(run_id: str, job_id: str, changes: Sequence[PlannedChange]) -> bytes:
    return json.dumps(
        {
            "run_id": run_id,
            "job_id": job_id,
            "object_type": changes[0].object_type.value,
            "changes": [change.to_row() for change in changes],
        }
    ).encode()


class _MarkerBody(BaseModel):
    """What ``marker_body`` writes, read strictly: anything else is not a marker this code wrote."""

    model_config = ConfigDict(extra="forbid", strict=True)

    run_id: str
    job_id: str
    object_type: ObjectType = Field(strict=False)  # a string in JSON
    # id, before, target, rule, the record's name and the source of its bad value (type, id, label, user); markers
    # of versions before sources had five, before names four
    changes: list[
        tuple[str, str, str, str, str, str, str, str, str] | tuple[str, str, str, str, str] | tuple[str, str, str, str]
    ] = Field(min_length=1)


@dataclass(frozen=True)
class PendingBatch:
    key: str
    run_id: str
    job_id: str
    object_type: ObjectType
    changes: list[PlannedChange]


class UnreadableMarker(ValueError):
    """A pending marker recovery cannot trust; the message says why."""


def read_marker(key: str, body: bytes) -> PendingBatch:
    """The batch a marker at ``key`` (``work/pending/<run>/<name>``) describes."""
    try:
        data = _MarkerBody.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:3])
        raise UnreadableMarker(f"not a readable pending marker ({problems})") from exc
    run_of_key = key.removeprefix(PENDING_PREFIX).split("/", 1)[0]
    if data.run_id != run_of_key:
        raise UnreadableMarker(f"its body names run {data.run_id!r}, its key run {run_of_key!r}")
    return PendingBatch(
        key=key,
        run_id=data.run_id,
        job_id=data.job_id,
        object_type=data.object_type,
        changes=[PlannedChange.from_row(data.object_type, row) for row in data.changes],
    )


def _markers(store: ObjectStore, prefix: str) -> Iterator[tuple[str, PendingBatch | UnreadableMarker]]:
    """Each marker under ``prefix``: its batch, or why it cannot be trusted."""
    for key in store.keys(prefix):
        body = store.get(key)
        if body is None:
            continue
        try:
            yield key, read_marker(key, body)
        except UnreadableMarker as exc:
            yield key, exc


def pending_batches(store: ObjectStore, run_id: str | None = None, *, quarantined_by: str) -> Iterator[PendingBatch]:
    """Markers of batches whose writes may have been interrupted: of one run, or of every run. Markers that cannot
    be trusted are quarantined on the way (by run ``quarantined_by``) and not yielded."""
    for key, batch in _markers(store, PENDING_PREFIX + (f"{run_id}/" if run_id else "")):
        if isinstance(batch, UnreadableMarker):
            quarantine(store, key, str(batch), quarantined_by=quarantined_by)
            continue
        yield batch


def records_pending(store: ObjectStore, run_id: str) -> int:
    """Records in the batches of ``run_id`` still marked pending: a batch stopped by a refused token or the daily
    limit (no write can succeed, a restore included), or by a crash. Those it had cleared stay blank until recovery
    finishes them. A marker that cannot be read counts nothing here; recovery quarantines it."""
    return sum(
        len(batch.changes)
        for _, batch in _markers(store, f"{PENDING_PREFIX}{run_id}/")
        if isinstance(batch, PendingBatch)
    )


class QuarantinedMarker(BaseModel):
    """A marker moved aside, as the report lists it."""

    key: str  # where it is now
    marker_key: str  # where it was
    reason: str
    quarantined_by: str = ""  # the run that moved it
    quarantined_at: datetime | None = None


def quarantine(store: ObjectStore, key: str, reason: str, *, quarantined_by: str) -> None:
    """Move the marker at ``key`` under ``work/quarantine/``, its body kept verbatim next to the reason."""
    body = store.get(key)
    if body is None:
        return
    moved = quarantine_key(key)
    record = QuarantinedMarker(
        key=moved, marker_key=key, reason=reason, quarantined_by=quarantined_by, quarantined_at=utcnow()
    )
    store.put(moved, json.dumps({**record.model_dump(mode="json"), "marker": body.decode("utf-8", "replace")}).encode())
    store.delete(key)


def quarantined_markers(store: ObjectStore) -> list[QuarantinedMarker]:
    """Every marker in quarantine, oldest name first."""
    found = []
    for key in sorted(store.keys(QUARANTINE_PREFIX)):
        body = store.get(key)
        if body is None:
            continue
        try:
            found.append(QuarantinedMarker.model_validate_json(body))
        except ValidationError:
            # Not what ``quarantine`` writes; listed all the same, so the report shows everything that is there.
            unknown = QuarantinedMarker(key=key, marker_key="", reason="not a quarantine record lifecycle-guard wrote")
            found.append(unknown)
    return found
