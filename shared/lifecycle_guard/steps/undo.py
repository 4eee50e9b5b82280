"""Undo: decide, job by job of the undone run's journal, what to restore, a Lambda's worth at a time; the restores
are cut into fix jobs of the undo run and go to the workers as they are cut (``job_dispatch``), as a run's plan
does. Then, once the prevention flows are back on, read the restores back."""

from __future__ import annotations

import time
from collections import Counter

from lifecycle_guard.audit import audit
from lifecycle_guard.contracts import ExecutionInfo, RunContext, UndoCursor
from lifecycle_guard.job_dispatch import JobDispatcher
from lifecycle_guard.journal import read_journal
from lifecycle_guard.plan_store import PlanStore
from lifecycle_guard.runtime import Services
from lifecycle_guard.steps.begin import UnknownRunError
from lifecycle_guard.steps.deadline import deadline
from lifecycle_guard.undo import RestoreCheck, UndoCounts, Undoer, journal_jobs, read_back_restores


def undo(run: RunContext, execution: ExecutionInfo, services: Services, remaining_ms: int) -> UndoCursor:
    """Until every journaled job is decided or near the Lambda deadline; each call resumes from the stored
    checkpoint: after its last decided job, with the restores it had decided but not yet cut into a job."""
    undone = run.undone_layout
    if undone is None:
        raise UnknownRunError("this run has nothing to undo")
    plans = PlanStore(services.store, run.layout)
    queue = services.queue if run.apply else None
    dispatcher = JobDispatcher(
        run, plans, services.tracker, queue, UndoCursor, lambda: services.execution_stopped(execution.id)
    )
    cursor = dispatcher.checkpoint.cursor
    if cursor.done:
        return cursor  # a retry of an invocation that decided everything but did not answer
    sink = dispatcher.sink()
    stop_at = deadline(remaining_ms)
    with services.hubspot(run.run_id, run.config) as gateway:
        undoer = Undoer(
            gateway.crm, services.store, run.layout, undone_run_id=undone.run_id, force=run.force, restore=sink.add
        )
        for job_id, entries in journal_jobs(read_journal(services.store, undone)):
            if cursor.after_job and job_id <= cursor.after_job:
                continue
            cursor = _decided(cursor, job_id, undoer.undo_job(job_id, entries), sink.next_job)
            dispatcher.commit(cursor, sink.pending())
            if time.monotonic() >= stop_at:
                return cursor
    sink.flush()
    cursor = cursor.model_copy(update={"next_job": sink.next_job, "done": True})
    dispatcher.commit(cursor, sink.pending())
    return cursor


def _decided(cursor: UndoCursor, job_id: str, counts: UndoCounts, next_job: int) -> UndoCursor:
    """The cursor past ``job_id``, its counts added."""
    return cursor.model_copy(
        update={
            "after_job": job_id,
            "next_job": next_job,
            "to_restore": dict(Counter(cursor.to_restore) + counts.to_restore),
            "skipped": dict(Counter(cursor.skipped) + counts.skipped),
            "already_restored": dict(Counter(cursor.already_restored) + counts.already_restored),
        }
    )


def check_restores(run: RunContext, services: Services, remaining_ms: int) -> RestoreCheck:
    """Once every restore job has settled and the prevention flows are back on: the portal's counts, and what the
    records this undo's workers restored hold now (from the undo's journal)."""
    stop_at = deadline(remaining_ms)
    with services.hubspot(run.run_id, run.config) as gateway:
        after = audit(gateway.crm, run.catalogs())
        check = read_back_restores(
            gateway.crm,
            read_journal(services.store, run.layout),
            run.config.prevention.default_stage,
            lambda: time.monotonic() >= stop_at,
        )
    return check.model_copy(update={"after": after})
