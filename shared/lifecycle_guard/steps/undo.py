"""Undo: restore an earlier run's before-values from its journal, job by job, a Lambda's worth at a time."""

from __future__ import annotations

import time
from collections import Counter

from lifecycle_guard.audit import audit
from lifecycle_guard.contracts import RunContext, UndoCursor
from lifecycle_guard.journal import read_journal
from lifecycle_guard.runtime import Services
from lifecycle_guard.steps.begin import UnknownRunError
from lifecycle_guard.steps.deadline import deadline
from lifecycle_guard.undo import RestoreCheck, Undoer, journal_jobs, read_back_restores


def undo(run: RunContext, cursor: UndoCursor, services: Services, remaining_ms: int) -> UndoCursor:
    """Until done or near the Lambda deadline; each call resumes after ``cursor.after_job``."""
    undone = run.undone_layout
    if undone is None:
        raise UnknownRunError("this run has nothing to undo")
    stop_at = deadline(remaining_ms)
    restored, skipped, already = Counter(cursor.restored), Counter(cursor.skipped), Counter(cursor.already_restored)
    with services.hubspot(run.run_id, run.config) as gateway:
        undoer = Undoer(
            gateway.crm,
            run.catalogs(),
            services.store,
            run.config.fix,
            run.layout,
            undo_run_id=undone.run_id,
            force=run.force,
            apply=run.apply,
        )
        for job_id, entries in journal_jobs(read_journal(services.store, undone)):
            if cursor.after_job and job_id <= cursor.after_job:
                continue
            counts = undoer.undo_job(job_id, entries)
            restored.update(counts.restored)
            skipped.update(counts.skipped)
            already.update(counts.already_restored)
            outcome = counts.outcome.counts()
            outcome["skipped"] += sum(counts.skipped.values())
            services.tracker.add(run.run_id, outcome)
            cursor = UndoCursor(
                after_job=job_id, restored=dict(restored), skipped=dict(skipped), already_restored=dict(already)
            )
            if time.monotonic() >= stop_at:
                return cursor
        return cursor.model_copy(update={"done": True, "after": audit(gateway.crm, run.catalogs())})


def check_restores(run: RunContext, services: Services, remaining_ms: int) -> RestoreCheck:
    """Once the prevention flows are back on: what the records this undo restored hold now."""
    stop_at = deadline(remaining_ms)
    with services.hubspot(run.run_id, run.config) as gateway:
        return read_back_restores(
            gateway.crm,
            read_journal(services.store, run.layout),
            run.config.prevention.default_stage,
            lambda: time.monotonic() >= stop_at,
        )
