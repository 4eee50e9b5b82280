"""Handing a run's fix jobs to the workers while planning goes on, behind the safety caps.

Fixing waits for nothing but its own jobs: as planning stores jobs, they go to the queue, so the workers write
under planning's paced searches instead of after them (both draw on the one burst budget, ``shared_budget``).
Three rules keep that as safe as planning everything first:

- the caps stay a gate before the first write: jobs go out during planning only if the most the plan can hold
  (``caps.plan_bound``, known from the audit) is inside the caps; otherwise the whole plan is checked first, as
  before. While jobs go out, a running count stops dispatching at the cap (``halted``), and the run fails once
  the jobs already handed over have finished (their writes are journaled and reported, never cut off);
- a checkpoint (``PlanCheckpoint``: the cursor, the changes decided but not yet in a job, which jobs went out) is
  stored before the jobs it lists are sent, so a Plan invocation that fails and is retried resumes from it and
  never plans again what the workers may be writing; jobs whose sending was not acknowledged are sent again (a
  worker skips a job that is settled, and Powertools idempotency a copy that is in progress);
- the run's job total in DynamoDB is set (not added to) before the jobs go out, so the progress poll never sees
  more jobs settled than dispatched.

An undo's restores go out the same way (``steps.undo``: its cursor is an ``UndoCursor``), checkpointed alike, but
uncapped: it writes back at most what the undone run wrote, which passed the caps then, and a cap that stopped an
undo half-way would leave the portal between the run and its undo.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from pydantic import BaseModel

from lifecycle_guard.caps import cap_excess, plan_bound
from lifecycle_guard.contracts import RunContext
from lifecycle_guard.jobs import JobCursor, JobId, JobSink, PlannedChange
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.plan_store import PlanStore
from lifecycle_guard.queue import FixJobMessage, JobQueue
from lifecycle_guard.tracker import RunTracker


class PlanCheckpoint[CursorT: JobCursor](BaseModel):
    """Where planning (or an undo's deciding) stands and what it handed over
    (``work/<run>/plan-checkpoint.json``)."""

    cursor: CursorT
    pending: dict[ObjectType, list[list[str]]] = {}  # decided, not yet in a job (``JobSink.pending``), as rows
    overlap: bool = False  # jobs go out while planning goes on
    sent_through: int = 0  # the jobs numbered below this were handed to the queue ...
    sending_from: int = 0  # ... those from this one on possibly not (their sending was not acknowledged)
    dispatched: dict[ObjectType, int] = {}  # changes in the jobs handed over, per object type
    halted: str | None = None  # why dispatching stopped early: a cap the plan reached

    def pending_changes(self) -> list[PlannedChange]:
        return [PlannedChange.from_row(t, row) for t, rows in self.pending.items() for row in rows]

    @property
    def unacknowledged(self) -> range:
        return range(self.sending_from, self.sent_through)


class RunStoppedError(RuntimeError):
    """The run was stopped (its execution, or its status) while planning went on: no more jobs go out."""


class JobDispatcher[CursorT: JobCursor]:
    """Stores a run's jobs as planning cuts them, and hands them to the queue in checkpointed steps."""

    def __init__(
        self,
        run: RunContext,
        plans: PlanStore,
        tracker: RunTracker,
        queue: JobQueue | None,
        cursor: type[CursorT],
        execution_stopped: Callable[[], bool] = lambda: False,
    ) -> None:
        """``queue`` None: a dry run, whose jobs never go out. ``cursor``: the kind of cursor the checkpoint holds
        (a run's ``PlanCursor``, an undo's ``UndoCursor``). ``execution_stopped``: whether the run's execution has
        ended, asked before each hand-over while planning goes on."""
        self._run = run
        self._plans = plans
        self._tracker = tracker
        self._queue = queue
        self._cursor = cursor
        # Parametrised at run time: pydantic parses and serialises the cursor as this kind, not as a JobCursor.
        self._checkpoint_type: type[PlanCheckpoint[CursorT]] = PlanCheckpoint[cursor]  # type: ignore[valid-type]
        self._execution_stopped = execution_stopped
        self._stored: dict[int, Counter[ObjectType]] = {}  # jobs stored by this process, not yet handed over
        self.checkpoint = self._load()

    @property
    def capped(self) -> bool:
        """Whether the safety caps gate these jobs: a run's plan, not an undo's restores (see the module's doc)."""
        return self._run.action == "run"

    def _load(self) -> PlanCheckpoint[CursorT]:
        stored = self._plans.checkpoint()
        if stored is not None:
            checkpoint = self._checkpoint_type.model_validate_json(stored)
            self._plans.drop_from(checkpoint.cursor.next_job)  # a failed attempt's jobs: planned again
            if checkpoint.unacknowledged:
                self._send(checkpoint.unacknowledged)
                checkpoint = checkpoint.model_copy(update={"sending_from": checkpoint.sent_through})
                self._plans.save_checkpoint(checkpoint.model_dump_json().encode())
            return checkpoint
        run, fix = self._run, self._run.config.fix
        within_caps = not self.capped or (
            run.before is not None
            and cap_excess(run.config.caps, run.before, plan_bound(run.config, run.before)) is None
        )
        overlap = self._queue is not None and fix.overlap_planning and within_caps
        self._plans.drop_from(0)
        return self._checkpoint_type(cursor=self._cursor(), overlap=overlap)

    def sink(self) -> JobSink:
        """Where planning cuts its changes into jobs, resuming from the checkpoint: the jobs stored here, numbered
        on from its cursor, the changes it left pending added first."""
        fix = self._run.config.fix
        return JobSink(
            self._run.catalogs(),
            fix.job_size,
            fix.batch_size,
            self.store,
            next_job=self.checkpoint.cursor.next_job,
            pending=self.checkpoint.pending_changes(),
        )

    def store(self, job_id: JobId, changes: list[PlannedChange]) -> None:
        """The sink's ``store_job``: the job goes to S3 now, to the queue at the next commit."""
        self._plans.put(job_id, changes)
        self._stored[job_id.sequence] = Counter(change.object_type for change in changes)

    def commit(self, cursor: CursorT, pending: Iterable[PlannedChange]) -> None:
        """Planning reached ``cursor``: store the checkpoint, then hand over the jobs it may (``overlap``)."""
        checkpoint = self.checkpoint
        rows: dict[ObjectType, list[list[str]]] = {}
        for change in pending:
            rows.setdefault(change.object_type, []).append(change.to_row())
        update: dict[str, object] = {"cursor": cursor, "pending": rows}
        if checkpoint.overlap and checkpoint.halted is None and cursor.next_job > checkpoint.sent_through:
            self._refuse_if_stopped()
            update |= self._handover(checkpoint, cursor.next_job)
        self.checkpoint = checkpoint.model_copy(update=update)
        self._plans.save_checkpoint(self.checkpoint.model_dump_json().encode())
        if self.checkpoint.unacknowledged:
            self._send(self.checkpoint.unacknowledged)
            self.checkpoint = self.checkpoint.model_copy(update={"sending_from": self.checkpoint.sent_through})
            self._plans.save_checkpoint(self.checkpoint.model_dump_json().encode())

    def _refuse_if_stopped(self) -> None:
        """A Lambda goes on when its execution is stopped (StopExecution ends the state machine, not the task in
        flight), and the workers skip jobs only of a run whose status is no longer "running": planning must not
        keep handing jobs over to a run someone stopped."""
        if self._execution_stopped() or self._tracker.state(self._run.run_id).status != "running":
            raise RunStoppedError(f"run {self._run.run_id} was stopped: no more fix jobs are handed to the workers")

    def _handover(self, checkpoint: PlanCheckpoint[CursorT], next_job: int) -> dict[str, object]:
        """The jobs of the next hand-over, as far as the caps allow; halted at the first that would pass them."""
        before = self._run.before if self.capped else None
        dispatched = Counter(checkpoint.dispatched)
        sent_through = checkpoint.sent_through
        for sequence in range(checkpoint.sent_through, next_job):
            stored = self._stored.pop(sequence, None)
            grown = dispatched + (stored if stored is not None else self._changes_in(sequence))
            excess = cap_excess(self._run.config.caps, before, grown) if before is not None else None
            if excess:
                return {"sent_through": sent_through, "sending_from": checkpoint.sent_through, "halted": excess}
            dispatched, sent_through = grown, sequence + 1
        return {"sent_through": sent_through, "sending_from": checkpoint.sent_through, "dispatched": dispatched}

    def _changes_in(self, sequence: int) -> Counter[ObjectType]:
        """A stored job's changes per object type, read back (a job another invocation stored)."""
        for job_id in self._plans.job_ids():
            job = self._plans.job(job_id) if job_id.sequence == sequence else None
            if job is not None:
                return Counter(change.object_type for change in job.changes)
        raise LookupError(f"job {sequence} of run {self._run.run_id} is not stored")

    def finish(self) -> int:
        """Planning is complete: hand over every job not sent yet; returns how many jobs went out in all."""
        checkpoint = self.checkpoint
        if checkpoint.halted is not None or self._queue is None:
            return checkpoint.sent_through
        self.checkpoint = checkpoint.model_copy(
            update={"sent_through": checkpoint.cursor.next_job, "sending_from": checkpoint.sent_through}
        )
        self._plans.save_checkpoint(self.checkpoint.model_dump_json().encode())
        self._send(self.checkpoint.unacknowledged)
        return self.checkpoint.sent_through

    def _send(self, sequences: range) -> None:
        if not sequences or self._queue is None:
            return
        run = self._run
        self._tracker.set_jobs_total(run.run_id, sequences.stop)
        job_ids = [job_id for job_id in self._plans.job_ids() if job_id.sequence in sequences]
        self._queue.send(
            [FixJobMessage(run_id=run.run_id, job_id=str(j), job_key=run.layout.job(str(j))) for j in job_ids]
        )
