"""The plan as data: planned changes, cut into fix jobs of one object type and one kind of move.

A job id is ``<sequence>-<object type>-<kind>`` (``000012-contacts-backward``): sequence numbers order the jobs
(companies are planned, and so numbered, before contacts) and let a planning attempt that failed half-way be
redone from its cursor; ``JobId`` is the only code that writes or reads that form.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from lifecycle_guard.objects import ObjectType
from lifecycle_guard.sources import ValueSource
from lifecycle_guard.stages import StageCatalog

MoveKind = Literal["forward", "backward"]
JobKind = Literal["forward", "backward", "mixed"]
FORWARD: MoveKind = "forward"
BACKWARD: MoveKind = "backward"
MIXED: JobKind = "mixed"  # a job holding both kinds (see ``JobSink.flush``)

_JOB_ID = re.compile(rf"^(\d{{6,}})-({'|'.join(ObjectType)})-(forward|backward|mixed)$")


@dataclass(frozen=True, slots=True)
class PlannedChange:
    object_type: ObjectType
    object_id: str
    before: str
    target: str
    rule: str
    label: str = ""  # what a person knows the record by (a contact's name or e-mail, a company's name or domain)
    source: ValueSource | None = None  # what gave the record its bad value (``sources``); None if not read

    def to_row(self) -> list[str]:
        source = self.source.to_row() if self.source else []
        return [self.object_id, self.before, self.target, self.rule, self.label, *source]

    @classmethod
    def from_row(cls, object_type: ObjectType, row: Sequence[str]) -> PlannedChange:
        object_id, before, target, rule, *rest = row
        return cls(
            object_type, object_id, before, target, rule, rest[0] if rest else "", ValueSource.from_row(rest[1:])
        )


class JobCursor(BaseModel):
    """Where cutting a plan into fix jobs stands: the next job's number, and whether every job is cut. What the
    cutting resumes from beyond that is each planner's own (``planning.PlanCursor``, ``contracts.UndoCursor``)."""

    next_job: int = 0
    done: bool = False


def move_kind(catalog: StageCatalog, change: PlannedChange) -> MoveKind:
    """ "backward" for a move HubSpot would ignore unless the stage is cleared first, else "forward"."""
    return BACKWARD if catalog.needs_clear_first(change.before, change.target) else FORWARD


@dataclass(frozen=True, order=True)
class JobId:
    sequence: int
    object_type: ObjectType
    kind: JobKind

    def __str__(self) -> str:
        return f"{self.sequence:06d}-{self.object_type.value}-{self.kind}"

    @classmethod
    def parse(cls, text: str) -> JobId:
        match = _JOB_ID.match(text)
        if match is None:
            raise ValueError(f"not a fix job id: {text!r}")
        sequence, object_type, kind = match.groups()
        return cls(int(sequence), ObjectType(object_type), kind)  # type: ignore[arg-type]  # the regex allows only JobKind


@dataclass(frozen=True)
class FixJob:
    """A unit of fan-out: up to ``fix.job_size`` changes of one object type (see ``JobSink``)."""

    run_id: str
    job_id: JobId
    changes: list[PlannedChange]

    @property
    def object_type(self) -> ObjectType:
        return self.job_id.object_type

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "run_id": self.run_id,
                "job_id": str(self.job_id),
                "object_type": self.object_type.value,
                "changes": [change.to_row() for change in self.changes],
            }
        ).encode()

    @classmethod
    def from_json(cls, body: bytes) -> FixJob:
        data = json.loads(body)
        job_id = JobId.parse(data["job_id"])
        return cls(
            run_id=data["run_id"],
            job_id=job_id,
            changes=[PlannedChange.from_row(job_id.object_type, row) for row in data["changes"]],
        )


class JobSink:
    """Where planned changes go: cut into jobs of one object type, then stored.

    Forward moves (one set each) and backward moves (a clear, then a set) go to separate jobs, so every write
    batch of a job is full. What is left when the sink is flushed are two remainders per object type, each
    shorter than a batch; where both fit in one batch they travel as one "mixed" job, whose single batch clears
    the backward moves in one call and sets all of them in another: one write and one read-back fewer than two
    part-filled batches.
    """

    def __init__(
        self,
        catalogs: Mapping[ObjectType, StageCatalog],
        job_size: int,
        batch_size: int,
        store_job: Callable[[JobId, list[PlannedChange]], None],
        next_job: int = 0,
        pending: Iterable[PlannedChange] = (),
    ) -> None:
        """``pending``: changes an earlier planning invocation decided but did not cut into a job yet."""
        self._catalogs = catalogs
        self._job_size = job_size
        self._batch_size = batch_size
        self._store_job = store_job
        self._buffers: dict[tuple[ObjectType, MoveKind], list[PlannedChange]] = {}
        self.next_job = next_job
        for change in pending:
            self.add(change)

    def pending(self) -> list[PlannedChange]:
        """The changes added but not yet in a job (fewer than a job's worth of each kind)."""
        return [change for buffer in self._buffers.values() for change in buffer]

    def add(self, change: PlannedChange) -> None:
        key = (change.object_type, move_kind(self._catalogs[change.object_type], change))
        buffer = self._buffers.setdefault(key, [])
        buffer.append(change)
        if len(buffer) >= self._job_size:
            self._write(*key, self._buffers.pop(key))

    def flush(self) -> None:
        for object_type in dict.fromkeys(object_type for object_type, _ in self._buffers):
            forward = self._buffers.pop((object_type, FORWARD), [])
            backward = self._buffers.pop((object_type, BACKWARD), [])
            forward_rest, backward_rest = len(forward) % self._batch_size, len(backward) % self._batch_size
            if forward_rest and backward_rest and forward_rest + backward_rest <= self._batch_size:
                mixed = forward[len(forward) - forward_rest :] + backward[len(backward) - backward_rest :]
                forward, backward = forward[: len(forward) - forward_rest], backward[: len(backward) - backward_rest]
            else:
                mixed = []
            self._write(object_type, FORWARD, forward)
            self._write(object_type, BACKWARD, backward)
            self._write(object_type, MIXED, mixed)

    def _write(self, object_type: ObjectType, kind: JobKind, changes: list[PlannedChange]) -> None:
        if changes:
            job_id = JobId(self.next_job, object_type, kind)
            self.next_job += 1
            self._store_job(job_id, changes)


def plan_rows(jobs: Iterable[FixJob], catalogs: Mapping[ObjectType, StageCatalog]) -> Iterator[dict[str, Any]]:
    """The plan as one row per change (``plan.jsonl``), with each change's own kind of move."""
    for job in jobs:
        catalog = catalogs[job.object_type]
        for change in job.changes:
            yield {
                "object_type": change.object_type.value,
                "object_id": change.object_id,
                "before": change.before,
                "target": change.target,
                "rule": change.rule,
                "label": change.label,
                "source": change.source.model_dump() if change.source else None,
                "move": move_kind(catalog, change),
                "job_id": str(job.job_id),
            }


class RuleCount(BaseModel):
    """How many changes of one object type one rule plans to one target, by kind of move."""

    object_type: ObjectType
    rule: str
    kind: str
    planned: int
    target: str = ""
    description: str = ""  # the rule in words, for the report (``rules.describe``)


def count_rules(jobs: Iterable[FixJob], catalogs: Mapping[ObjectType, StageCatalog]) -> list[RuleCount]:
    counts: Counter[tuple[ObjectType, str, str, str]] = Counter()
    for job in jobs:
        catalog = catalogs[job.object_type]
        counts.update((job.object_type, c.rule, c.target, move_kind(catalog, c)) for c in job.changes)
    return [
        RuleCount(object_type=object_type, rule=rule, kind=kind, planned=n, target=target)
        for (object_type, rule, target, kind), n in sorted(counts.items())
    ]
