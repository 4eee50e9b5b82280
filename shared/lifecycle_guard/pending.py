"""Pending-write markers: a batch's planned changes, stored before its first write and deleted after its journal.

A marker left behind means the batch may have been interrupted between a clear and its set; ``fixing`` finishes
such batches (the job's own retry, the verify step of the same run, or the start of the next run).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from lifecycle_guard.jobs import PlannedChange
from lifecycle_guard.layout import PENDING_PREFIX
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


@dataclass(frozen=True)
class PendingBatch:
    key: str
    run_id: str
    job_id: str
    object_type: ObjectType
    changes: list[PlannedChange]


def pending_batches(store: ObjectStore, run_id: str | None = None) -> Iterator[PendingBatch]:
    """Markers of batches whose writes may have been interrupted: of one run, or of every run."""
    prefix = PENDING_PREFIX + (f"{run_id}/" if run_id else "")
    for key in store.keys(prefix):
        body = store.get(key)
        if body is None:
            continue
        data = json.loads(body)
        object_type = ObjectType(data["object_type"])
        yield PendingBatch(
            key=key,
            run_id=data["run_id"],
            job_id=data["job_id"],
            object_type=object_type,
            changes=[PlannedChange.from_row(object_type, row) for row in data["changes"]],
        )
