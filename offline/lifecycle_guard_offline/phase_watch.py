"""What a run is doing, read from its execution's history: the phases a user recognises, what a long wait waits for,
which step failed and why, and the probe records the live test created.

The history is the state machine's own account, so nothing here depends on how a step is implemented: a phase is a
group of states, a failed step is the Task whose error a Catch sent to ``ReportFailure``, a wait's length is in the
Wait state's input (the execution state the contracts define); what the state does not carry (the run's config) is
read from the run's context, stored by ``Begin`` under the execution's name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from lifecycle_guard.contracts import ExecutionState, RunContext
from lifecycle_guard.layout import RunLayout, context_key
from lifecycle_guard.live_test import Probe
from lifecycle_guard.plan_store import PlanStore
from lifecycle_guard.storage import S3Store
from lifecycle_guard.tracker import RunTracker
from lifecycle_guard_offline.executions import execution_history
from lifecycle_guard_offline.harness import OfflineApp

# The state machine's states, grouped into the phases a user recognises.
PHASES = {
    "Begin": "audit",
    "Plan": "plan",
    "Dispatch": "fix",
    "WaitForJobs": "fix",
    "CheckProgress": "fix",
    "EnsurePrevention": "prevent",
    "StartProbe": "verify",
    "WaitForPrevention": "verify",
    "CheckProbe": "verify",
    "Verify": "verify",
    "PausePrevention": "undo",
    "Undo": "undo",
    "DispatchRestores": "undo",
    "WaitForRestores": "undo",
    "CheckRestoreProgress": "undo",
    "ResumePrevention": "undo",
    "CheckRestores": "undo",
    "StopRestores": "undo",
    "WaitForRestoresInFlight": "undo",
    "ResumeAfterFailure": "undo",
    "Report": "report",
    "ReportFailure": "report",
}
FAILURE_STATE = "ReportFailure"  # where every Catch of a step leads
# What a state is doing while it runs, for the states whose phase has no figures of its own to show.
DOING = {
    "Begin": "reading the portal's stages and counting its records",
    "EnsurePrevention": "checking the prevention workflows",
    "StartProbe": "creating the live test's probe records",
    "CheckProbe": "checking whether the prevention workflows have acted on the probe records",
    "Verify": "checking the portal",
    "Report": "writing the report",
    "ReportFailure": "writing the report",
}

PhaseStatus = Literal["running", "done", "failed", "interrupted"]


@dataclass(frozen=True)
class Progress:
    phase: str
    done: int = 0
    total: int = 0
    detail: str = ""
    seconds: float = 0.0  # time spent in the phase so far
    status: PhaseStatus = "running"  # anything else: the figures are the phase's final ones

    @property
    def ended(self) -> bool:
        return self.status != "running"


@dataclass(frozen=True)
class FailedStep:
    """The step whose error ended the run: its phase, the error's type (the exception's class) and its message."""

    phase: str
    error: str
    message: str


@dataclass(frozen=True)
class _Phase:
    name: str
    started: datetime
    entered_by: str  # the state whose entry began the phase


class PhaseWatch:
    """Turns the execution's history into progress: every phase entered is reported in order, even one that began
    and ended between two samples, and a phase that has ended is reported once more with its final figures, its
    duration from the history's timestamps and whether it failed, so a log shows each phase's outcome rather than its
    last sample. While a phase runs, its line says what the current state is doing or waiting for."""

    def __init__(
        self, app: OfflineApp, tracker: RunTracker, arn: str, run_id: str, on_progress: Callable[[Progress], None]
    ) -> None:
        self._app, self._tracker, self._arn, self._run_id = app, tracker, arn, run_id
        self._on_progress = on_progress
        self._ended = 0  # phases already reported with their final figures
        self._run: RunContext | None = None  # the run's stored context, read once a phase needs it

    def sample(self, stopped: datetime | None, *, interrupted: bool = False) -> None:
        """Report progress; ``stopped`` is when the execution stopped, None while it runs; ``interrupted``: it was
        stopped by a signal, in the phase it had reached."""
        history = execution_history(self._app.client("stepfunctions"), self._arn)
        phases = _phases(history)
        for index in range(self._ended, len(phases)):
            phase = phases[index]
            following = phases[index + 1] if index + 1 < len(phases) else None
            ended = following.started if following else stopped
            seconds = max(((ended or datetime.now(UTC)) - phase.started).total_seconds(), 0.0)
            status: PhaseStatus = "running"
            if following is not None and following.entered_by == FAILURE_STATE:
                status = "failed"
            elif following is not None or stopped is not None:
                status = "interrupted" if interrupted and following is None else "done"
            self._on_progress(self._figures(phase.name, seconds, status, history))
            if status != "running":
                self._ended = index + 1

    def _figures(self, phase: str, seconds: float, status: PhaseStatus, history: list[dict[str, Any]]) -> Progress:
        if phase == "plan":
            jobs = len(self._app.list_keys(RunLayout(self._run_id, "").jobs))
            return Progress(phase, detail=f"{jobs:,} fix jobs planned", seconds=seconds, status=status)
        if phase == "fix" and not self._context().apply:  # no job runs: the plan's count is the preview
            plans = PlanStore(S3Store(self._app.client("s3"), self._app.bucket_name), self._context().layout)
            planned = sum(count.planned for count in plans.counts())
            return Progress(phase, detail=f"{planned:,} records would change", seconds=seconds, status=status)
        if phase in ("fix", "undo"):  # an undo's restores are fix jobs too
            run = self._tracker.state(self._run_id)
            done = run.jobs_done + run.jobs_failed
            detail = f"{run.applied:,} records {'restored' if phase == 'undo' else 'fixed'}"
            return Progress(phase, done, run.jobs_total, detail, seconds=seconds, status=status)
        detail = "" if status != "running" else doing(history, datetime.now(UTC), self._settle)
        return Progress(phase, detail=detail, seconds=seconds, status=status)

    def _settle(self) -> int:
        """How long search may take to show the run's last writes: its config."""
        return self._context().config.verification.settle_seconds

    def _context(self) -> RunContext:
        """The context ``Begin`` stored (read once: it does not change)."""
        if self._run is None:
            self._run = RunContext.model_validate(self._app.read_json(context_key(self._run_id)))
        return self._run


def _phases(history: list[dict[str, Any]]) -> list[_Phase]:
    """The phases entered so far, in order, each with when it began; Choice and end states belong to the phase
    they sit in."""
    phases: list[_Phase] = []
    for event in history:
        if event["type"].endswith("StateEntered"):
            state = event["stateEnteredEventDetails"]["name"]
            phase = PHASES.get(state)
            if phase is not None and (not phases or phases[-1].name != phase):
                phases.append(_Phase(phase, event["timestamp"], state))
    return phases


def doing(history: list[dict[str, Any]], now: datetime, settle_seconds: Callable[[], int]) -> str:
    """What the current state is doing or, for a long wait, waiting for; ``settle_seconds`` is asked only while the
    run verifies."""
    entered = [event for event in history if event["type"].endswith("StateEntered")]
    if not entered:
        return ""
    current = entered[-1]
    details = current["stateEnteredEventDetails"]
    state = details["name"]
    if state == "WaitForPrevention":
        probe = ExecutionState.model_validate_json(details["input"]).probe
        left = max(0, round(probe.wait_seconds - (now.timestamp() - probe.started_at))) if probe else 0
        return (
            "waiting for the prevention workflows to act on the probe records (checked every few seconds; "
            f"at most {left} s more)"
        )
    if state == "Verify":
        return f"checking the portal; search may take up to {settle_seconds()} s to show the last writes"
    return DOING.get(state, "")


def failed_step(history: list[dict[str, Any]]) -> FailedStep | None:
    """The step whose error a Catch sent to the failure report: the last error before that state was entered."""
    phase, error = "", None
    for event in history:
        if event["type"].endswith("StateEntered"):
            state = event["stateEnteredEventDetails"]["name"]
            if state == FAILURE_STATE and error is not None:
                return FailedStep(phase, *error)
            phase = PHASES.get(state, phase)
        elif event["type"] in ("LambdaFunctionFailed", "TaskFailed"):
            details = event.get("lambdaFunctionFailedEventDetails") or event.get("taskFailedEventDetails") or {}
            error = (details.get("error", ""), _error_message(details.get("cause", "")))
    return None


def _error_message(cause: str) -> str:
    """A Lambda error's cause is the handler's error JSON; the message is what people read."""
    try:
        parsed = json.loads(cause)
    except ValueError:
        return cause
    return str(parsed.get("errorMessage", cause)) if isinstance(parsed, dict) else cause


def probes_created(history: list[dict[str, Any]]) -> list[Probe]:
    """The probe records the live test created, from the state StartProbe handed on."""
    for event in reversed(history):
        details = event.get("stateExitedEventDetails") or {}
        if details.get("name") == "StartProbe":
            probe = ExecutionState.model_validate_json(details["output"]).probe
            return list(probe.probes) if probe else []
    return []
