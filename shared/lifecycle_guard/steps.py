"""One function per state of the state machine; the Lambda handlers parse their input and call these.

Data between steps stays small (a run context of a few KB, cursors, counters): plans, journals and reports live
in S3 and counters in DynamoDB, so a million-record run never comes near Step Functions' 256 KB payload limit.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from lifecycle_guard.audit import AuditSnapshot, audit
from lifecycle_guard.config import ConfigError, load_config, validate_for_portal
from lifecycle_guard.fixing import Fixer, FixMode, recover_pending
from lifecycle_guard.gateway import AuthenticationFailed, DailyLimitReached, MissingScopes
from lifecycle_guard.journal import compact_journal, read_journal, utcnow
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.planning import (
    ContextCache,
    FixJob,
    JobSink,
    PlanCursor,
    PlannedChange,
    Planner,
    move_kind,
)
from lifecycle_guard.reporting import ApiSummary, FixSummary, RuleCount, RunReport, render_html
from lifecycle_guard.runs import ExecutionInfo, FixCounts, RunContext, RunRequest
from lifecycle_guard.runtime import Services
from lifecycle_guard.storage import jobs_prefix, run_prefix
from lifecycle_guard.undo import Undoer, journal_jobs
from lifecycle_guard.verification import ProbeState, Verification, Verifier, prevention_check, start_probes
from lifecycle_guard.workflows import PreventionOutcome, ensure_flows

LOCK_TTL_SECONDS = 86_400  # the state machine's own timeout
LAMBDA_SAFETY_MS = 120_000  # stop looping this long before the Lambda would time out
STALL_SECONDS = 2 * 3600  # no job finished for this long: stop waiting, report the unfinished jobs
MAX_POLL_SECONDS = 300
SPOT_CHECK_JOBS = 20


class CapExceededError(RuntimeError):
    """The plan would change more than the safety caps allow; nothing was written."""


class RunAbortedError(RuntimeError):
    """A fix worker stopped the run (e.g. the token lost its write scope); the report says why."""


class UnknownRunError(LookupError):
    """Undo asked for a run whose journal is not in the bucket."""


class ProgressStatus(BaseModel):
    jobs_total: int = 0
    jobs_done: int = 0
    jobs_failed: int = 0
    done: bool = False
    stalled: bool = False
    wait_seconds: int = 30


class UndoCursor(BaseModel):
    done: bool = False
    after_job: str = ""
    restored: dict[str, int] = {}  # per object type (would be restored, in a dry run)
    skipped: dict[str, int] = {}  # per object type: changed since the run, left alone
    after: AuditSnapshot | None = None  # the portal's counts once the undo is done


class FixJobMessage(BaseModel):
    run_id: str
    job_id: str
    job_key: str


def _run_json_key(run_id: str) -> str:
    return f"work/{run_id}/run.json"


def _index_key(run_id: str) -> str:
    return f"runs/index/{run_id}.json"


def _deadline(remaining_ms: int) -> float:
    return time.monotonic() + max(0, remaining_ms - LAMBDA_SAFETY_MS) / 1000


# ---------------------------------------------------------------- begin


def begin(request: RunRequest, execution: ExecutionInfo, services: Services) -> dict[str, Any]:
    """Validate input, config and token against the portal (before any write), take the lock, recover, audit."""
    run_id = execution.name
    prefix = run_prefix(run_id, execution.start_time.isoformat())
    config = load_config(services.settings.deployed_config, request.config)
    undo_prefix = None
    if request.action == "undo":
        if not request.undo_run_id:
            raise ConfigError("an undo needs undo_run_id: the execution name of the run to undo")
        undo_prefix = _find_run_prefix(services, request.undo_run_id)
    try:
        gateway = services.gateway(config)
        catalogs = {object_type: gateway.stage_catalog(object_type) for object_type in ObjectType}
        validate_for_portal(config, catalogs)
        _check_scopes(gateway.token_scopes(), write=request.mode.value == "apply")
        services.tracker.acquire_lock(run_id, execution.id, LOCK_TTL_SECONDS, services.execution_running)
        services.tracker.start_run(run_id, prefix)
        services.store.put(_index_key(run_id), json.dumps({"prefix": prefix}).encode())
        if request.mode.value == "apply":
            recovered = recover_pending(services.store, gateway, catalogs, config.fix, run_id=run_id, run_prefix=prefix)
            services.tracker.add(run_id, {"recovered": recovered.applied})
        run = RunContext(
            run_id=run_id,
            action=request.action,
            mode=request.mode,
            source=request.source,
            started_at=execution.start_time,
            prefix=prefix,
            config=config,
            stages={t: [(s.value, s.label) for s in catalog.stages] for t, catalog in catalogs.items()},
            before=audit(gateway, catalogs),
            undo_run_id=request.undo_run_id,
            undo_prefix=undo_prefix,
            force=request.force,
        )
        services.store.put(_run_json_key(run_id), run.model_dump_json().encode())
    finally:
        services.flush_usage(run_id)
    cursor: BaseModel = UndoCursor() if request.action == "undo" else PlanCursor()
    return {"run": run.model_dump(mode="json"), "plan": cursor.model_dump(mode="json")}


READ_SCOPES = ("crm.objects.contacts.read", "crm.objects.companies.read", "crm.objects.deals.read")
WRITE_SCOPES = ("crm.objects.contacts.write", "crm.objects.companies.write")


def _check_scopes(scopes: frozenset[str] | None, *, write: bool) -> None:
    """Before any write: a token that cannot do the job is a clear error now, not a 403 half-way through."""
    if scopes is None:
        return  # HubSpot could not say (not a private-app token); a 403 later stops the run cleanly instead
    missing = [scope for scope in READ_SCOPES + (WRITE_SCOPES if write else ()) if scope not in scopes]
    if missing:
        raise MissingScopes(
            f"the HubSpot token lacks the scopes {', '.join(missing)}; nothing was written. Add them to the "
            "private app, or run in dry-run mode."
        )


def _find_run_prefix(services: Services, run_id: str) -> str:
    body = services.store.get(_index_key(run_id))
    if body is None:
        raise UnknownRunError(f"no run {run_id!r} in the report bucket (is its journal expired?)")
    return str(json.loads(body)["prefix"])


# ---------------------------------------------------------------- plan


def _job_key(run_id: str, job_id: str) -> str:
    return f"{jobs_prefix(run_id)}{job_id}.json"


def _jobs(services: Services, run_id: str, object_type: ObjectType | None = None) -> Iterator[FixJob]:
    for key in sorted(services.store.keys(jobs_prefix(run_id))):
        if object_type is None or f"-{object_type.value}-" in key:
            body = services.store.get(key)
            if body is not None:
                yield FixJob.from_json(body)


def plan(run: RunContext, cursor: PlanCursor, services: Services, remaining_ms: int) -> PlanCursor:
    """Plan until done or close to the Lambda deadline; each call resumes from ``cursor``."""
    store = services.store
    for key in list(store.keys(jobs_prefix(run.run_id))):
        # Leftovers of an attempt that failed half-way: this attempt writes those sequence numbers again.
        if int(key.rsplit("/", 1)[-1].split("-", 1)[0]) >= cursor.next_job:
            store.delete(key)
    cache = ContextCache()
    for job in _jobs(services, run.run_id, ObjectType.COMPANIES):
        cache.planned_company_stages.update((c.object_id, c.target) for c in job.changes)

    def store_job(job_id: str, object_type: ObjectType, changes: list[PlannedChange]) -> None:
        store.put(_job_key(run.run_id, job_id), FixJob(run.run_id, job_id, object_type, changes).to_json())

    fix = run.config.fix
    sink = JobSink(run.catalogs(), fix.job_size, fix.batch_size, store_job, next_job=cursor.next_job)
    try:
        planner = Planner(services.gateway(run.config), run.config, sink, cache)
        return planner.plan(cursor, _deadline(remaining_ms))
    finally:
        services.flush_usage(run.run_id)


# ---------------------------------------------------------------- dispatch and progress


def _plan_counts(run: RunContext, services: Services) -> list[RuleCount]:
    counts: Counter[tuple[ObjectType, str, str]] = Counter()
    catalogs = run.catalogs()
    for job in _jobs(services, run.run_id):
        catalog = catalogs[job.object_type]
        counts.update((job.object_type, change.rule, move_kind(catalog, change)) for change in job.changes)
    return [
        RuleCount(object_type=object_type, rule=rule, kind=kind, planned=n)
        for (object_type, rule, kind), n in sorted(counts.items())
    ]


def _check_caps(run: RunContext, counts: list[RuleCount]) -> None:
    caps = run.config.caps
    total = sum(count.planned for count in counts)
    if caps.max_changes is not None and total > caps.max_changes:
        raise CapExceededError(
            f"the plan would change {total:,} records, over caps.max_changes={caps.max_changes:,}; nothing was "
            "written. Review the dry-run report, then raise the cap if the plan is right."
        )
    assert run.before is not None
    for object_type in ObjectType:
        changes = sum(count.planned for count in counts if count.object_type is object_type)
        records = run.before.counts[object_type].total
        percent = 100 * changes / records if records else 0.0
        if percent > caps.max_percent:
            raise CapExceededError(
                f"the plan would change {percent:.1f}% of {object_type.value} ({changes:,} of {records:,}), over "
                f"caps.max_percent={caps.max_percent:g}; nothing was written. Review the dry-run report, then "
                "raise the cap if the plan is right."
            )


def dispatch(run: RunContext, services: Services) -> ProgressStatus:
    """Check the complete plan against the caps, then (apply mode) enqueue one SQS message per job."""
    counts = _plan_counts(run, services)
    services.store.put(
        f"work/{run.run_id}/plan-counts.json", json.dumps([c.model_dump(mode="json") for c in counts]).encode()
    )
    _check_caps(run, counts)
    keys = sorted(services.store.keys(jobs_prefix(run.run_id)))
    if not run.apply:
        return ProgressStatus(jobs_total=len(keys), done=True)
    services.tracker.set_jobs_total(run.run_id, len(keys))
    for start in range(0, len(keys), 10):
        entries = []
        for key in keys[start : start + 10]:
            job_id = key.rsplit("/", 1)[-1].removesuffix(".json")
            message = FixJobMessage(run_id=run.run_id, job_id=job_id, job_key=key)
            entries.append({"Id": job_id[:80].replace(".", "_"), "MessageBody": message.model_dump_json()})
        reply = services.sqs.send_message_batch(QueueUrl=services.settings.job_queue_url, Entries=entries)
        if reply.get("Failed"):
            raise RuntimeError(f"SQS refused {len(reply['Failed'])} fix jobs: {reply['Failed'][0]}")
    return ProgressStatus(jobs_total=len(keys), done=not keys, wait_seconds=services.settings.poll_seconds)


def poll(run: RunContext, services: Services) -> ProgressStatus:
    """How far the fix jobs are; dead-lettered jobs of this run count as failed, a silent stall ends the wait."""
    _settle_dead_letters(run, services)
    state = services.tracker.state(run.run_id)
    if state.status == "aborted":
        raise RunAbortedError(state.abort_reason or "a fix worker aborted the run")
    finished = state.jobs_done + state.jobs_failed
    now = time.time()
    stalled = finished < state.jobs_total and now - state.last_progress > STALL_SECONDS
    return ProgressStatus(
        jobs_total=state.jobs_total,
        jobs_done=state.jobs_done,
        jobs_failed=state.jobs_failed,
        done=finished >= state.jobs_total or stalled,
        stalled=stalled,
        wait_seconds=poll_wait_seconds(services.settings.poll_seconds, now - state.dispatched_at),
    )


def poll_wait_seconds(minimum: int, waited: float) -> int:
    """A tenth of the time already spent waiting, between ``minimum`` and five minutes.

    Each poll adds 9 events to the execution's history (limit 25,000): with a fixed 30 s, a day of fixing would
    need 26,000. Growing waits cost at most 10 % of the fix time in latency and keep a day under 3,500 events.
    """
    return int(min(MAX_POLL_SECONDS, max(minimum, waited / 10)))


def _settle_dead_letters(run: RunContext, services: Services) -> None:
    for _ in range(10):
        reply = services.sqs.receive_message(
            QueueUrl=services.settings.dead_letter_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60
        )
        messages = reply.get("Messages", [])
        for message in messages:
            try:
                job = FixJobMessage.model_validate_json(message["Body"])
            except ValueError:
                continue
            if job.run_id == run.run_id:
                # Left in the queue for operators to inspect or redrive; settling is idempotent.
                services.tracker.settle_job(run.run_id, job.job_id, "failed", {})
        if len(messages) < 10:
            return


# ---------------------------------------------------------------- the fix worker


def fix_job(message: FixJobMessage, receive_count: int, services: Services) -> dict[str, Any]:
    """Apply one job. Safe to deliver twice: a settled job is not redone, a retried one resumes from HubSpot."""
    tracker = services.tracker
    if tracker.state(message.run_id).status != "running":
        return {"job_id": message.job_id, "status": "skipped", "reason": "the run is no longer running"}
    attempt, previous = tracker.start_job(message.run_id, message.job_id)
    if previous in ("done", "failed"):
        return {"job_id": message.job_id, "status": previous, "reason": "already settled"}
    run = RunContext.model_validate_json(services.store.get(_run_json_key(message.run_id)) or b"{}")
    job = FixJob.from_json(services.store.get(message.job_key) or b"{}")
    try:
        fixer = Fixer(
            services.gateway(run.config, worker=True),
            run.catalogs()[job.object_type],
            services.store,
            run.config.fix,
            run_id=run.run_id,
            run_prefix=run.prefix,
        )
        mode = FixMode.RESUME if attempt > 1 else FixMode.FRESH
        outcome = fixer.apply(job.job_id, job.changes, mode=mode, attempt=attempt)
    except (MissingScopes, AuthenticationFailed) as exc:
        tracker.abort(run.run_id, f"fix job {job.job_id}: {exc}")
        tracker.settle_job(run.run_id, job.job_id, "failed", {})
        return {"job_id": job.job_id, "status": "failed", "reason": str(exc)}
    except DailyLimitReached as exc:
        tracker.settle_job(run.run_id, job.job_id, "failed", {})
        return {"job_id": job.job_id, "status": "failed", "reason": str(exc)}
    except Exception:
        if receive_count >= services.settings.job_max_receives:
            # Last delivery before the dead-letter queue: settle now so the run does not wait for it.
            tracker.settle_job(run.run_id, job.job_id, "failed", {})
        raise
    finally:
        services.flush_usage(run.run_id)
    counts = {
        "applied": outcome.applied,
        "failed": outcome.failed,
        "ignored": outcome.ignored,
        "skipped": outcome.skipped,
    }
    services.store.put(
        f"work/{run.run_id}/results/{job.job_id}.json", json.dumps({**counts, "residue": outcome.residue}).encode()
    )
    tracker.settle_job(run.run_id, job.job_id, "done", counts)
    return {"job_id": job.job_id, "status": "done", **counts}


# ---------------------------------------------------------------- prevention and verification


def prevent(run: RunContext, services: Services) -> PreventionOutcome:
    try:
        return ensure_flows(services.gateway(run.config), run.config, run.catalogs(), apply=run.apply)
    finally:
        services.flush_usage(run.run_id)


def start_probe(run: RunContext, prevention: PreventionOutcome, services: Services) -> ProbeState:
    try:
        return start_probes(services.gateway(run.config), run.config, prevention, run_id=run.run_id, apply=run.apply)
    finally:
        services.flush_usage(run.run_id)


def verify(run: RunContext, probe: ProbeState, prevention: PreventionOutcome, services: Services) -> Verification:
    """Finish batches of this run that died half-way, then check the portal."""
    gateway = services.gateway(run.config)
    try:
        catalogs = run.catalogs()
        if not run.apply:
            return Verification(after=audit(gateway, catalogs), checks=[prevention_check(prevention)])
        recovered = recover_pending(
            services.store,
            gateway,
            catalogs,
            run.config.fix,
            run_id=run.run_id,
            run_prefix=run.prefix,
            of_run=run.run_id,
        )
        services.tracker.add(run.run_id, {"recovered": recovered.applied})
        state = services.tracker.state(run.run_id)
        unfinished = state.jobs_total - state.jobs_done - state.jobs_failed
        verification = Verifier(gateway, run.config, catalogs).verify(
            probe=probe,
            contact_changes=_spot_check_candidates(services, run),
            jobs_failed=state.jobs_failed + unfinished,
            residue=state.ignored + state.failed,
            run_id=run.run_id,
        )
        verification.checks.append(prevention_check(prevention))
        return verification
    finally:
        services.flush_usage(run.run_id)


def _spot_check_candidates(services: Services, run: RunContext) -> list[PlannedChange]:
    """Contact changes of a random handful of jobs: enough to sample from without reading the whole plan."""
    keys = [k for k in services.store.keys(jobs_prefix(run.run_id)) if "-contacts-" in k]
    chosen = random.Random(run.run_id).sample(keys, min(SPOT_CHECK_JOBS, len(keys)))  # noqa: S311
    changes: list[PlannedChange] = []
    for key in chosen:
        body = services.store.get(key)
        if body is not None:
            changes.extend(FixJob.from_json(body).changes)
    return changes


# ---------------------------------------------------------------- undo


def undo(run: RunContext, cursor: UndoCursor, services: Services, remaining_ms: int) -> UndoCursor:
    """Restore an earlier run's before-values, job by job, until done or near the Lambda deadline."""
    if run.undo_prefix is None or run.undo_run_id is None:
        raise UnknownRunError("this run has nothing to undo")
    deadline = _deadline(remaining_ms)
    gateway = services.gateway(run.config)
    undoer = Undoer(
        gateway,
        run.catalogs(),
        services.store,
        run.config.fix,
        run_id=run.run_id,
        run_prefix=run.prefix,
        undo_run_id=run.undo_run_id,
        force=run.force,
        apply=run.apply,
    )
    restored, skipped = Counter(cursor.restored), Counter(cursor.skipped)
    try:
        for job_id, entries in journal_jobs(read_journal(services.store, run.undo_prefix)):
            if cursor.after_job and job_id <= cursor.after_job:
                continue
            counts = undoer.undo_job(job_id, entries)
            restored.update(counts.restored)
            skipped.update(counts.skipped)
            outcome = counts.outcome
            services.tracker.add(
                run.run_id,
                {
                    "applied": outcome.applied,
                    "failed": outcome.failed,
                    "ignored": outcome.ignored,
                    "skipped": sum(counts.skipped.values()) + outcome.skipped,
                },
            )
            cursor = UndoCursor(after_job=job_id, restored=dict(restored), skipped=dict(skipped))
            if time.monotonic() >= deadline:
                return cursor
        return cursor.model_copy(update={"done": True, "after": audit(gateway, run.catalogs())})
    finally:
        services.flush_usage(run.run_id)


# ---------------------------------------------------------------- report


def report(execution: ExecutionInfo, state: dict[str, Any], services: Services) -> dict[str, Any]:
    """Write report.json/.html, the journal and the plan under the run's prefix, copy to latest/, release the lock."""
    run = RunContext.model_validate(state["run"]) if "run" in state else None
    run_id = run.run_id if run else execution.name
    prefix = run.prefix if run else run_prefix(run_id, execution.start_time.isoformat())
    failures = [_describe_failure(state["failure"])] if "failure" in state else []
    progress = ProgressStatus.model_validate(state["progress"]) if "progress" in state else None
    prevention = PreventionOutcome.model_validate(state["prevention"]) if "prevention" in state else None
    verification = Verification.model_validate(state["verification"]) if "verification" in state else None
    tracker_state = services.tracker.state(run_id)
    if progress and progress.stalled:
        failures.append(f"{progress.jobs_total - progress.jobs_done - progress.jobs_failed} fix jobs never finished")
    if tracker_state.failed_jobs:
        failures.append(f"fix jobs failed: {', '.join(tracker_state.failed_jobs[:20])}")
    if tracker_state.abort_reason:
        failures.append(tracker_state.abort_reason)
    undone = UndoCursor.model_validate(state["plan"]) if run and run.action == "undo" and "plan" in state else None
    if undone and not undone.done:
        failures.append("the undo did not finish")

    files = {
        "report_json": f"{prefix}report.json",
        "report_html": f"{prefix}report.html",
        "journal": compact_journal(services.store, prefix)[0],
    }
    changes: list[RuleCount] = []
    if run and undone:
        changes = [
            RuleCount(object_type=ObjectType(t), rule=f"undo:{run.undo_run_id}", kind="restore", planned=n)
            for t, n in sorted(undone.restored.items())
        ]
    if run and run.action == "run":
        counts_body = services.store.get(f"work/{run_id}/plan-counts.json")
        changes = [RuleCount.model_validate(c) for c in json.loads(counts_body)] if counts_body else []
        files["plan"] = _write_plan(run, services, prefix)
    checks = verification.checks if verification else []
    outcome = "failed" if failures else "checks_failed" if any(c.status == "FAIL" for c in checks) else "succeeded"
    report_model = RunReport(
        run_id=run_id,
        action=run.action if run else str(state.get("action") or "run"),
        mode=run.mode.value if run else str(state.get("mode") or "unknown"),
        source=run.source if run else str(state.get("source") or "unknown"),
        outcome=outcome,
        started_at=run.started_at if run else execution.start_time,
        finished_at=utcnow(),
        stages=run.stages if run else {},
        before=run.before if run else None,
        after=verification.after if verification else undone.after if undone else None,
        changes=changes,
        fix=FixSummary(
            **tracker_state.model_dump(include=set(FixCounts.model_fields)), residue=_residue(services, run_id)
        ),
        prevention=prevention,
        checks=checks,
        api=ApiSummary(**tracker_state.usage, total_calls=sum(tracker_state.usage.get("calls", {}).values())),
        failures=failures,
        config=run.config.model_dump(mode="json") if run else {},
        files=files,
    )
    body = report_model.model_dump_json(indent=2).encode()
    page = render_html(report_model).encode()
    services.store.put(files["report_json"], body)
    services.store.put(files["report_html"], page, "text/html; charset=utf-8")
    services.store.put("latest/report.json", body)
    services.store.put("latest/report.html", page, "text/html; charset=utf-8")
    services.tracker.finish_run(run_id, outcome)
    services.tracker.release_lock(run_id)
    return report_model.summary()


def _write_plan(run: RunContext, services: Services, prefix: str) -> str:
    catalogs = run.catalogs()

    def lines() -> Iterator[bytes]:
        for job in _jobs(services, run.run_id):
            catalog = catalogs[job.object_type]
            for change in job.changes:
                row = {
                    "object_type": change.object_type.value,
                    "object_id": change.object_id,
                    "before": change.before,
                    "target": change.target,
                    "rule": change.rule,
                    "move": move_kind(catalog, change),
                    "job_id": job.job_id,
                }
                yield json.dumps(row).encode() + b"\n"

    key = f"{prefix}plan.jsonl"
    services.store.put_chunks(key, lines(), "application/x-ndjson")
    return key


def _residue(services: Services, run_id: str) -> list[dict[str, str]]:
    sample: list[dict[str, str]] = []
    for key in services.store.keys(f"work/{run_id}/results/"):
        result = json.loads(services.store.get(key) or b"{}")
        sample.extend(result.get("residue", []))
        if len(sample) >= 100:
            break
    return sample[:100]


def _describe_failure(failure: dict[str, Any]) -> str:
    """A Catch's ``{"Error", "Cause"}``; for Lambda errors the cause is the handler's error JSON."""
    error = str(failure.get("Error", "Error"))
    cause = failure.get("Cause", "")
    try:
        parsed = json.loads(cause)
        message = parsed.get("errorMessage", cause) if isinstance(parsed, dict) else cause
    except (TypeError, ValueError):
        message = cause
    return f"{error}: {message}" if message else error
