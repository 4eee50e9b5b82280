"""The run report, built from what the state machine carried and what the run's counters say: a pure function."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from lifecycle_guard.budget import ten_secondly_exempt
from lifecycle_guard.changes import ChangedRecord, planned_after
from lifecycle_guard.contracts import ExecutionInfo, ExecutionState, RunContext, UndoCursor
from lifecycle_guard.drift import Drift
from lifecycle_guard.jobs import RuleCount
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.offenders import TOP_SOURCES, SourceCount, linked
from lifecycle_guard.pending import QuarantinedMarker
from lifecycle_guard.rejections import RejectedRecords
from lifecycle_guard.reporting import FixSummary, RunOutcome, RunReport
from lifecycle_guard.rules import describe
from lifecycle_guard.tracker import FixCounts, RunState
from lifecycle_guard.undo import RestoreCheck
from lifecycle_guard.usage import ApiTotals
from lifecycle_guard.verification import Check
from lifecycle_guard.waits import Wait

FAILED_JOBS_NAMED = 20


def failures(state: ExecutionState, tracker: RunState) -> list[str]:
    """Why the run did not do all it should, most direct cause first."""
    found = [state.failure.describe()] if state.failure else []
    progress = state.progress
    if progress and progress.stalled:
        found.append(f"{progress.jobs_total - progress.jobs_done - progress.jobs_failed} fix jobs never finished")
    if tracker.failed_jobs:
        found.append(f"fix jobs failed: {', '.join(tracker.failed_jobs[:FAILED_JOBS_NAMED])}")
    if tracker.abort_reason:
        found.append(tracker.abort_reason)
    if state.undo and not state.undo.done:
        found.append("the undo did not finish")
    if state.resume_failure:
        paused = ", ".join(state.paused.flow_ids) if state.paused else "those it paused"
        found.append(
            f"the prevention workflows ({paused}) could not be switched back on: {state.resume_failure.describe()}; "
            "turn them on in HubSpot, or let the next scheduled run do it"
        )
    return found


def run_outcome(failed: Sequence[str], checks: Sequence[Check]) -> RunOutcome:
    if failed:
        return "failed"
    return "checks_failed" if any(check.status == "FAIL" for check in checks) else "succeeded"


def scope_check(run: RunContext) -> Check:
    """Whether the token's scopes were checked before any write (``steps.begin``): only private-app tokens can be
    introspected; for the others HubSpot's first 403 is where a missing scope shows, naming it."""
    name = "token scopes checked before writing"
    if run.token_scopes_checked:
        return Check(name=name, status="PASS", expected="every scope the run needs", observed="all granted")
    return Check(
        name=name,
        status="SKIPPED",
        detail="HubSpot cannot introspect this kind of token (a service key or an OAuth token, not a legacy "
        "private-app token), so its scopes were not checked before writing; a missing one stops the run at its "
        "first 403, which names the scope",
    )


def restores_check(restores: RestoreCheck) -> Check:
    """Whether the values an undo restored held once the prevention flows were back on."""
    observed = (
        f"{restores.held:,} of {restores.checked:,} held; {restores.reset_by_workflow:,} given the default stage "
        f"again by a workflow; {restores.changed_since:,} changed by someone else since"
    )
    if not restores.complete:
        return Check(
            name="restored values held",
            status="SKIPPED",
            observed=observed,
            detail="the read-back ran out of time before it read every restored record",
        )
    return Check(
        name="restored values held",
        status="PASS" if restores.held == restores.checked else "FAIL",
        expected=f"all {restores.checked:,} restored records hold the restored value",
        observed=observed,
        detail="; ".join(restores.examples),
    )


def exemptions_check(run: RunContext, usage: ApiTotals) -> list[Check]:
    """Whether the portal left the calls HubSpot's specs exempt from the ten-secondly limit out of it, as the run
    assumed (``budget.burst_exemptions``); none when the run made no such call outside the burst budget."""
    exempt = sum(count for endpoint, count in usage.calls.items() if ten_secondly_exempt(endpoint))
    if not run.config.budget.burst_exemptions or not exempt:
        return []
    throttled = sum(usage.exemption_throttled.values())
    name = "rate-limit exemptions held"
    observed = f"{throttled:,} ten-secondly 429s on {exempt:,} calls HubSpot's specs exempt from that limit"
    if not throttled:
        return [Check(name=name, status="PASS", expected="no ten-secondly 429 on exempt calls", observed=observed)]
    where = ", ".join(f"{endpoint} ({count:,})" for endpoint, count in sorted(usage.exemption_throttled.items()))
    return [
        Check(
            name=name,
            status="FAIL",
            expected="no ten-secondly 429 on exempt calls",
            observed=observed,
            detail=f"this portal counts them against the ten-secondly limit after all: {where}. The run paced them "
            "from the first such 429 on and retried what was refused; set budget.burst_exemptions to false so "
            "later runs budget for them from the start",
        )
    ]


def report_checks(run: RunContext | None, state: ExecutionState, usage: ApiTotals) -> list[Check]:
    checks = [scope_check(run)] if run else []
    checks += state.verification.checks if state.verification else []
    checks += exemptions_check(run, usage) if run else []
    return checks + ([restores_check(state.restores)] if state.restores and state.restores.checked else [])


def run_waits(state: ExecutionState, usage: ApiTotals) -> list[Wait]:
    """What the run waited for besides its own work: HubSpot's limits, the workflows acting on the probes, search
    catching up, the progress poll noticing the last fix job."""
    waits = []
    if usage.paced_seconds:
        why = "HubSpot's rate limits: the run's share of the ten-second budget and search's five a second"
        waits.append(Wait(phase="all", seconds=usage.paced_seconds, why=why))
    if usage.backoff_seconds:
        waits.append(Wait(phase="all", seconds=usage.backoff_seconds, why="backing off after HubSpot's errors"))
    if state.progress is not None and state.progress.noticed_after_seconds:
        why = "the progress poll to notice the last fix job had settled"
        waits.append(Wait(phase="fix", seconds=state.progress.noticed_after_seconds, why=why))
    probe = state.probe
    if probe is not None and probe.started and probe.settled:
        why = (
            "the prevention workflows to set a stage on the probes "
            f"(checked every few seconds, {probe.wait_seconds} s at most)"
        )
        waits.append(Wait(phase="live test", seconds=probe.waited_seconds, why=why))
    if state.verification is not None:
        waits.extend(state.verification.waits)
    return waits


def _about_the_undo(state: ExecutionState) -> dict[str, Any]:
    return {
        "flows_paused": state.paused.flow_ids if state.paused else [],
        "flows_resumed": state.resumed.flow_ids if state.resumed else [],
        "restores": state.restores,
        "already_restored": sum(state.undo.already_restored.values()) if state.undo else 0,
    }


def undo_changes(undo: UndoCursor, undo_run_id: str) -> list[RuleCount]:
    """An undo's plan: the restores it cut into fix jobs (what the workers applied is ``fix.applied``)."""
    return [
        RuleCount(object_type=ObjectType(t), rule=f"undo:{undo_run_id}", kind="restore", planned=n)
        for t, n in sorted(undo.to_restore.items())
    ]


def fix_summary(
    tracker: RunState,
    undo: UndoCursor | None,
    *,
    jobs_planned: int,
    residue: list[dict[str, str]],
    pending_recovery: int,
) -> FixSummary:
    """What the fix workers did, from the run's counters. An undo's records left alone are the Undo step's (changed
    since the run, never handed to a worker) and the workers' (changed between that decision and the write)."""
    summary = FixSummary(
        **tracker.model_dump(include=set(FixCounts.model_fields)),
        jobs_planned=jobs_planned,
        residue=residue,
        pending_recovery=pending_recovery,
    )
    if undo is not None:
        summary.skipped += sum(undo.skipped.values())
    return summary


def stage_labeller(run: RunContext | None, object_type: ObjectType) -> Callable[[str], str]:
    """A stage's label in this portal (its value if the portal no longer lists it)."""
    labels = dict(run.stages.get(object_type, [])) if run else {}
    return lambda value: labels.get(value, value) if value else "(no stage)"


def in_words(run: RunContext | None, object_type: ObjectType, rule: str, target: str) -> str:
    """A rule as the report shows it, with this portal's stage labels."""
    if run is None:
        return rule
    return describe(run.config, rule, target, stage_labeller(run, object_type))


def _about_the_run(execution: ExecutionInfo, run: RunContext | None) -> dict[str, Any]:
    """The report's identity fields: from the run context, or - when Begin failed - only what Step Functions
    says of the execution."""
    if run is None:
        return {
            "run_id": execution.name,
            "action": "run",
            "mode": "unknown",
            "source": "unknown",
            "started_at": execution.start_time,
        }
    return {
        "run_id": run.run_id,
        "action": run.action,
        "mode": run.mode.value,
        "source": run.source,
        "started_at": run.started_at,
        "stages": run.stages,
        "before": run.before,
        "config": run.config.model_dump(mode="json"),
        "overrides": run.overrides,
        "portal_id": run.portal_id,
    }


def build_report(
    execution: ExecutionInfo,
    run: RunContext | None,
    state: ExecutionState,
    tracker: RunState,
    *,
    planned: list[RuleCount],
    jobs_planned: int = 0,
    changed: tuple[list[ChangedRecord], int] = ([], 0),
    residue: list[dict[str, str]],
    pending_recovery: int = 0,
    files: dict[str, str],
    finished_at: datetime,
    rejected: Sequence[RejectedRecords] = (),
    quarantined: Sequence[QuarantinedMarker] = (),
    sources: Sequence[SourceCount] = (),
    drift: Drift | None = None,
) -> RunReport:
    """``run``: the context Begin stored (None if it did not get that far); ``planned``: the plan's counts of a run
    (an undo's come from its cursor, its after-counts from its read-back); ``jobs_planned``: its fix jobs;
    ``changed``: the first changed records and how many there are; ``residue``: a sample of the records left off
    target; ``pending_recovery``: the records in batches the run left pending; ``files``: the report's S3 keys;
    ``rejected``: the records HubSpot refused, by reason; ``quarantined``: the pending markers in quarantine;
    ``sources``: the fixed records by the source of their bad value, worst first; ``drift``: this run against the
    runs before it."""
    failed = failures(state, tracker)
    checks = report_checks(run, state, tracker.usage)
    undo = state.undo if run is not None and run.action == "undo" else None
    if run is not None and undo is not None:
        after = state.restores.after if state.restores else None
        changes = undo_changes(undo, run.undo_run_id or "")
    else:
        after, changes = state.verification.after if state.verification else None, planned
    preview = planned_after(run.before, planned) if run and not run.apply and run.before and planned else None
    outcome = run_outcome(failed, checks)
    return RunReport(
        **_about_the_run(execution, run),
        outcome=outcome,
        finished_at=finished_at,
        after=after,
        planned_after=preview,
        changes=[
            count.model_copy(update={"description": in_words(run, count.object_type, count.rule, count.target)})
            for count in changes
        ],
        changed_records=changed[0],
        changed_total=changed[1],
        probe=state.probe,
        **_about_the_undo(state),
        fix=fix_summary(tracker, undo, jobs_planned=jobs_planned, residue=residue, pending_recovery=pending_recovery),
        prevention=state.prevention,
        checks=checks,
        waits=run_waits(state, tracker.usage),
        api=tracker.usage,
        failures=failed,
        rejected=list(rejected),
        quarantined=list(quarantined),
        sources=linked(sources[:TOP_SOURCES], run.portal_id if run else None),
        drift=drift.finished(outcome) if drift else None,
        files=files,
    )
