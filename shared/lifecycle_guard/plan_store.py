"""A run's plan in the bucket: its fix jobs (``work/<run>/jobs/``), their counts by rule, and ``plan.jsonl``."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator, Mapping

from lifecycle_guard.jobs import FixJob, JobId, PlannedChange, RuleCount, plan_rows
from lifecycle_guard.layout import RunLayout, key_name
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.stages import StageCatalog
from lifecycle_guard.storage import ObjectStore, read_in_order


class PlanStore:
    def __init__(self, store: ObjectStore, layout: RunLayout, *, hold_jobs: bool = False) -> None:
        """``hold_jobs``: keep the jobs ``jobs()`` reads, for a caller that goes through the plan more than once
        (the report: plan.jsonl, then changes.csv) - their bodies, tens of MB for a million changes, instead of
        one more GET per job."""
        self._store = store
        self._layout = layout
        self._held: dict[str, bytes] | None = {} if hold_jobs else None

    def put(self, job_id: JobId, changes: list[PlannedChange]) -> None:
        job = FixJob(self._layout.run_id, job_id, changes)
        self._store.put(self._layout.job(str(job_id)), job.to_json())

    def job_ids(self) -> list[JobId]:
        return sorted(JobId.parse(key_name(key)) for key in self._keys())

    def job(self, job_id: JobId) -> FixJob | None:
        body = self._store.get(self._layout.job(str(job_id)))
        return None if body is None else FixJob.from_json(body)

    def jobs(self, object_type: ObjectType | None = None) -> Iterator[FixJob]:
        """The stored jobs in plan order (several read at once: ``read_in_order``)."""
        wanted = [
            self._layout.job(str(j)) for j in self.job_ids() if object_type is None or j.object_type is object_type
        ]
        held = self._held
        if held is not None and all(key in held for key in wanted):
            bodies: Iterable[bytes] = (held[key] for key in wanted)
        else:
            bodies = read_in_order(self._store, wanted)
        for key, body in zip(wanted, bodies, strict=True):
            if held is not None:
                held[key] = body
            if body:
                yield FixJob.from_json(body)

    def drop_from(self, sequence: int) -> None:
        """Jobs numbered ``sequence`` or later: leftovers of a planning attempt that failed half-way, whose
        numbers the next attempt (resuming from its cursor) writes again."""
        for job_id in self.job_ids():
            if job_id.sequence >= sequence:
                self._store.delete(self._layout.job(str(job_id)))

    def sample(self, object_type: ObjectType, size: int, seed: str) -> list[FixJob]:
        """A seeded handful of the jobs of one object type, for spot checks without reading the whole plan."""
        ids = [job_id for job_id in self.job_ids() if job_id.object_type is object_type]
        chosen = random.Random(seed).sample(ids, min(size, len(ids)))  # noqa: S311 - sampling, not security
        return [job for job_id in chosen if (job := self.job(job_id)) is not None]

    def checkpoint(self) -> bytes | None:
        """Where planning stands (``job_dispatch.PlanCheckpoint``), as stored; None before the first one."""
        return self._store.get(self._layout.plan_checkpoint)

    def save_checkpoint(self, body: bytes) -> None:
        self._store.put(self._layout.plan_checkpoint, body)

    def save_counts(self, counts: list[RuleCount]) -> None:
        body = json.dumps([count.model_dump(mode="json") for count in counts]).encode()
        self._store.put(self._layout.plan_counts, body)

    def counts(self) -> list[RuleCount]:
        body = self._store.get(self._layout.plan_counts)
        return [RuleCount.model_validate(count) for count in json.loads(body)] if body else []

    def export(self, catalogs: Mapping[ObjectType, StageCatalog]) -> str:
        """Write ``plan.jsonl`` (streamed: a million-record plan is never held in memory); returns its key."""
        lines = (json.dumps(row).encode() + b"\n" for row in plan_rows(self.jobs(), catalogs))
        self._store.put_chunks(self._layout.plan, lines, "application/x-ndjson")
        return self._layout.plan

    def _keys(self) -> Iterator[str]:
        return self._store.keys(self._layout.jobs)
