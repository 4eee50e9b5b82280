"""Fixing, fanned out: the rest of the plan to the workers once planning is complete (after the caps), the worker's
job, and polling for the end. In an apply run most jobs went out while planning went on (``job_dispatch``); an
undo's restore jobs go through the same steps, uncapped."""

from __future__ import annotations

import json
import time
from typing import Any

from lifecycle_guard.caps import CapExceededError, check_caps
from lifecycle_guard.contracts import ProgressStatus, RunContext, UndoCursor
from lifecycle_guard.crm import AuthenticationFailed, DailyLimitReached, MissingScopes
from lifecycle_guard.fixing import Fixer, FixMode
from lifecycle_guard.job_dispatch import JobDispatcher
from lifecycle_guard.jobs import FixJob, JobCursor, JobId, count_rules
from lifecycle_guard.layout import context_key
from lifecycle_guard.plan_store import PlanStore
from lifecycle_guard.planning import PlanCursor
from lifecycle_guard.queue import FixJobMessage
from lifecycle_guard.runtime import Services
from lifecycle_guard.steps.context import RunContextError

STALL_SECONDS = 2 * 3600  # no job finished for this long: stop waiting, report the unfinished jobs
MAX_POLL_SECONDS = 300
FIX_WORKER_TIMEOUT_SECONDS = 300  # FixWorkerFunction's Timeout in template.yaml (tests/template holds them equal)


class RunAbortedError(RuntimeError):
    """A fix worker stopped the run (e.g. the token lost its write scope); the report says why."""


def dispatch(run: RunContext, services: Services) -> ProgressStatus:
    """Count the complete plan (a run's, or an undo's restores); check a run's against the caps unless its jobs went
    out behind them already; then (apply mode) hand over every job not sent yet."""
    plans = PlanStore(services.store, run.layout)
    counts = count_rules(plans.jobs(), run.catalogs())
    plans.save_counts(counts)
    cursor = UndoCursor if run.action == "undo" else PlanCursor
    dispatcher: JobDispatcher[JobCursor] = JobDispatcher(
        run, plans, services.tracker, services.queue if run.apply else None, cursor
    )
    checkpoint = dispatcher.checkpoint
    if dispatcher.capped and not checkpoint.overlap:
        if run.before is None:
            raise RuntimeError(f"run {run.run_id} has no before-audit: the caps cannot be checked")
        check_caps(run.config.caps, run.before, counts)
    if not run.apply:
        return ProgressStatus(jobs_total=checkpoint.cursor.next_job, done=True)
    if checkpoint.halted is not None:
        services.tracker.halt(run.run_id, checkpoint.halted)
    dispatcher.finish()
    # Jobs handed over while planning went on may all be settled already: then the run goes on at once.
    return poll(run, services)


def poll(run: RunContext, services: Services) -> ProgressStatus:
    """How far the fix jobs are; dead-lettered jobs of this run count as failed, a silent stall ends the wait."""
    for dead in services.queue.dead_jobs(run.run_id):
        services.tracker.settle_job(run.run_id, dead.job_id, "failed", {})
    state = services.tracker.state(run.run_id)
    if state.status == "aborted":
        raise RunAbortedError(state.abort_reason or "a fix worker aborted the run")
    if state.halt_reason is not None and state.jobs_unfinished <= 0:
        raise CapExceededError(
            f"{state.halt_reason}: dispatching stopped there, after {state.jobs_total} fix jobs (inside the caps, "
            "applied and journaled). Review the report, then raise the cap if the plan is right."
        )
    now = time.time()
    stalled = state.jobs_unfinished > 0 and now - state.last_progress > STALL_SECONDS
    done = state.jobs_unfinished <= 0 or stalled
    settled = state.jobs_done + state.jobs_failed
    waited = now - state.dispatched_at if state.dispatched_at else 0.0
    return ProgressStatus(
        jobs_total=state.jobs_total,
        jobs_done=state.jobs_done,
        jobs_failed=state.jobs_failed,
        done=done,
        stalled=stalled,
        wait_seconds=poll_wait_seconds(services.settings.poll_minimum_seconds, waited),
        noticed_after_seconds=round(now - state.last_progress, 1) if done and settled and not stalled else 0.0,
    )


def stop(run: RunContext, services: Services) -> ProgressStatus:
    """After a failure with jobs handed over (an undo's, whose prevention flows are still off): the run is aborted,
    so the workers start none of its jobs any more, and this says whether one may still be writing. Done once none
    is in flight, or once a fix worker's timeout has passed since the abort (an attempt begun before it has ended
    by then, whether or not it could settle its job)."""
    tracker = services.tracker
    state = tracker.state(run.run_id)
    in_flight = 0
    if state.jobs_unfinished > 0:
        tracker.abort(run.run_id, "stopped after the failure: the jobs not started yet do not run")
        state = tracker.state(run.run_id)
        job_ids = [str(job_id) for job_id in PlanStore(services.store, run.layout).job_ids()]
        in_flight = tracker.jobs_started(run.run_id, job_ids)
    waited = time.time() - state.aborted_at if state.aborted_at else 0.0
    return ProgressStatus(
        jobs_total=state.jobs_total,
        jobs_done=state.jobs_done,
        jobs_failed=state.jobs_failed,
        done=in_flight == 0 or waited >= FIX_WORKER_TIMEOUT_SECONDS,
        wait_seconds=services.settings.poll_minimum_seconds,
    )


def _job_of(message: FixJobMessage, services: Services) -> tuple[RunContext, FixJob]:
    """The run and the job a message names, as Dispatch stored them; a message pointing anywhere else (a job key
    outside its run's plan, a context of another run) is refused."""
    body = services.store.get(context_key(message.run_id))
    run = RunContext.model_validate_json(body) if body else None
    if run is None or run.run_id != message.run_id:
        raise RunContextError(f"fix job {message.job_id}: no stored context of run {message.run_id!r}")
    job_key = run.layout.job(str(JobId.parse(message.job_id)))
    if message.job_key != job_key:
        raise RunContextError(f"fix job {message.job_id}: its key {message.job_key!r} is not the plan's {job_key!r}")
    stored = services.store.get(job_key)
    if stored is None:
        raise RunContextError(f"fix job {message.job_id}: {job_key} does not exist")
    return run, FixJob.from_json(stored)


def poll_wait_seconds(minimum: int, waited: float) -> int:
    """A fortieth of the time already waited, between ``minimum`` and five minutes: the poll that sees the last job
    comes at most that long after it.

    No rate estimate: jobs go out while planning goes on, at planning's pace, so the rate at which they settled
    says little about how soon the last ones will. Each poll adds 9 events to the execution's history (limit
    25,000); growing waits keep them to about 40 per tenfold of waiting (fewer than 400 in a day of fixing).
    """
    return int(min(MAX_POLL_SECONDS, max(minimum, waited / 40)))


def fix_job(message: FixJobMessage, receive_count: int, services: Services) -> dict[str, Any]:
    """Apply one job. Safe to deliver twice: a settled job is not redone, a retried one resumes from HubSpot."""
    tracker = services.tracker
    if tracker.state(message.run_id).status != "running":
        return {"job_id": message.job_id, "status": "skipped", "reason": "the run is no longer running"}
    try:
        run, job = _job_of(message, services)
    except (RunContextError, ValueError) as exc:
        # Not a job any run planned: nothing to retry, and no run's counters to touch.
        return {"job_id": message.job_id, "status": "refused", "reason": str(exc)}
    attempt = tracker.start_job(message.run_id, message.job_id)
    if attempt.settled:
        return {"job_id": message.job_id, "status": attempt.previous_status, "reason": "already settled"}
    job_id = str(job.job_id)
    try:
        with services.hubspot(run.run_id, run.config) as gateway:
            fixer = Fixer(gateway.crm, run.catalogs()[job.object_type], services.store, run.config.fix, run.layout)
            mode = FixMode.RESUME if attempt.attempt > 1 else FixMode.FRESH
            outcome = fixer.apply(job_id, job.changes, mode=mode, attempt=attempt.attempt)
    except (MissingScopes, AuthenticationFailed) as exc:
        tracker.abort(run.run_id, f"fix job {job_id}: {exc}")
        tracker.settle_job(run.run_id, job_id, "failed", {})
        return {"job_id": job_id, "status": "failed", "reason": str(exc)}
    except DailyLimitReached as exc:
        tracker.settle_job(run.run_id, job_id, "failed", {})
        return {"job_id": job_id, "status": "failed", "reason": str(exc)}
    except Exception:
        if receive_count >= services.settings.max_receives:
            # Last delivery before the dead-letter queue: settle now so the run does not wait for it.
            tracker.settle_job(run.run_id, job_id, "failed", {})
        raise
    counts = outcome.counts()
    services.store.put(run.layout.result(job_id), json.dumps({**counts, "residue": outcome.residue}).encode())
    tracker.settle_job(run.run_id, job_id, "done", counts)
    return {"job_id": job_id, "status": "done", **counts}
