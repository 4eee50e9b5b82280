"""A lifecycle-guard run on a laptop: the real state machine on moto, aimed at any HubSpot-compatible API.

``LocalRun`` deploys the SAM app into moto (``OfflineApp``), starts an execution, reports progress while it runs,
and afterwards copies the run's report, journal and plan under ``<out>/<run-id>/``. moto's bucket lives only as
long as the process, so ``<out>/.bucket/`` mirrors it between runs: what a later run or an undo finds in S3 (the
journals, pending-write markers of a crashed run) is what earlier runs left there, as in a real bucket.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from lifecycle_guard.layout import RunLayout
from lifecycle_guard.reporting import RunReport
from lifecycle_guard.tracker import RunTracker
from lifecycle_guard_offline.executions import ExecutionResult, execution_history
from lifecycle_guard_offline.harness import OfflineApp

MIRROR = ".bucket"
SERVICE_NAME = "lifecycle-guard"  # POWERTOOLS_SERVICE_NAME in template.yaml
RUN_FILES = ("report.json", "report.html", "changes.csv", "journal.jsonl", "plan.jsonl")
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
    "Verify": "verify",
    "PausePrevention": "undo",
    "Undo": "undo",
    "ResumePrevention": "undo",
    "CheckRestores": "undo",
    "ResumeAfterFailure": "undo",
    "Report": "report",
    "ReportFailure": "report",
}


@contextmanager
def _moto_logs_to(stream: TextIO) -> Iterator[None]:
    """moto's own log lines (resource types its CloudFormation skips, the ASL interpreter's account of a failed
    execution) go to the run's log file: the run's report already tells the user what failed."""
    moto_log = logging.getLogger("moto")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    previous = moto_log.propagate
    moto_log.addHandler(handler)
    moto_log.propagate = False
    try:
        yield
    finally:
        moto_log.removeHandler(handler)
        moto_log.propagate = previous


@contextmanager
def _lambda_logs_to(stream: TextIO) -> Iterator[None]:
    """Point the handlers' Powertools logger at this run's log file, and back when the run ends. Powertools
    configures the logger of a service once per process and keeps its stream, so a later run (or anything else
    logging through it) would otherwise write to this run's closed file; a logger not configured yet picks up the
    redirected stdout when the handlers load."""
    logger = logging.getLogger(SERVICE_NAME)
    outside = sys.stdout  # entered before stdout is redirected to the run's log
    previous = {handler: handler.stream for handler in logger.handlers if isinstance(handler, logging.StreamHandler)}
    for handler in previous:
        _set_stream(handler, stream)
    try:
        yield
    finally:
        for each in logger.handlers:
            if isinstance(each, logging.StreamHandler) and each.stream is stream:
                _set_stream(each, previous.get(each) or outside)


def _set_stream(handler: logging.StreamHandler[TextIO], stream: TextIO) -> None:
    # Not setStream(): it flushes the old stream, which may be closed already.
    with handler.lock or nullcontext():
        handler.stream = stream


@dataclass(frozen=True)
class Progress:
    phase: str
    done: int = 0
    total: int = 0
    detail: str = ""
    seconds: float = 0.0  # time spent in the phase so far
    ended: bool = False  # the figures are the phase's final ones


class _PhaseWatch:
    """Turns the execution's history into progress: every phase entered is reported in order, even one that began
    and ended between two samples, and a phase that has ended is reported once more with its final figures and its
    duration from the history's timestamps, so a log shows each phase's outcome rather than its last sample."""

    def __init__(
        self, app: OfflineApp, tracker: RunTracker, arn: str, run_id: str, on_progress: Callable[[Progress], None]
    ) -> None:
        self._app, self._tracker, self._arn, self._run_id = app, tracker, arn, run_id
        self._on_progress = on_progress
        self._ended = 0  # phases already reported with their final figures

    def sample(self, stopped: datetime | None) -> None:
        """Report progress; ``stopped`` is when the execution stopped, None while it runs."""
        phases = _phases(execution_history(self._app.client("stepfunctions"), self._arn))
        for index in range(self._ended, len(phases)):
            phase, started = phases[index]
            ended = phases[index + 1][1] if index + 1 < len(phases) else stopped
            seconds = ((ended or datetime.now(UTC)) - started).total_seconds()
            self._on_progress(self._figures(phase, max(seconds, 0.0), ended is not None))
            if ended is not None:
                self._ended = index + 1

    def _figures(self, phase: str, seconds: float, ended: bool) -> Progress:
        if phase == "plan":
            jobs = len(self._app.list_keys(RunLayout(self._run_id, "").jobs))
            return Progress(phase, detail=f"{jobs:,} fix jobs planned", seconds=seconds, ended=ended)
        if phase == "fix":
            run = self._tracker.state(self._run_id)
            done = run.jobs_done + run.jobs_failed
            detail = f"{run.applied:,} records fixed"
            return Progress(phase, done, run.jobs_total, detail, seconds=seconds, ended=ended)
        return Progress(phase, seconds=seconds, ended=ended)


def _phases(history: list[dict[str, Any]]) -> list[tuple[str, datetime]]:
    """The phases entered so far, in order, each with when it began; Choice and end states belong to the phase
    they sit in."""
    phases: list[tuple[str, datetime]] = []
    for event in history:
        if event["type"].endswith("StateEntered"):
            phase = PHASES.get(event["stateEnteredEventDetails"]["name"])
            if phase is not None and (not phases or phases[-1][0] != phase):
                phases.append((phase, event["timestamp"]))
    return phases


@dataclass(frozen=True)
class LocalRunResult:
    run_id: str
    status: str
    report: RunReport
    run_dir: Path

    @property
    def report_path(self) -> Path:
        return self.run_dir / "report.json"


class LocalRun:
    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        guard_config: Mapping[str, Any],
        out_dir: Path,
        log: TextIO,
        parameters: Mapping[str, str] | None = None,
    ) -> None:
        self._base_url = base_url
        self._token = token
        self._config = guard_config
        self._out = out_dir
        self._log = log
        self._parameters = {"ProgressPollSeconds": "1", **(parameters or {})}

    def execute(
        self,
        request: Mapping[str, Any],
        run_id: str,
        on_progress: Callable[[Progress], None],
        timeout_seconds: float,
        seed: Mapping[str, bytes] | None = None,
    ) -> LocalRunResult:
        """Run to the end; ``seed`` objects are put into the bucket first (e.g. an imported journal)."""
        # Lambda code logs JSON lines to stdout (Powertools); keep them in the run's log file, not the terminal,
        # and with them Powertools' warning about a failed invocation that published no metric.
        with (
            _lambda_logs_to(self._log),
            warnings.catch_warnings(),
            redirect_stdout(self._log),
            _moto_logs_to(self._log),
            OfflineApp(
                hubspot_token=self._token,
                hubspot_base_url=self._base_url,
                guard_config=self._config,
                parameters=self._parameters,
            ) as app,
        ):
            warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
            self._restore_mirror(app)
            for key, body in (seed or {}).items():
                app.write_object(key, body)
            arn = app.start_execution(dict(request), name=run_id)
            watch = _PhaseWatch(app, RunTracker(app.client("dynamodb"), app.table_name), arn, run_id, on_progress)
            sfn = app.client("stepfunctions")
            deadline = time.monotonic() + timeout_seconds
            while True:
                described = sfn.describe_execution(executionArn=arn)
                stopped = described.get("stopDate") if described["status"] != "RUNNING" else None
                watch.sample(stopped)
                if stopped is not None:
                    result = app.wait_for_execution(arn, timeout_seconds=10)
                    break
                if time.monotonic() > deadline:
                    result = app.wait_for_execution(arn, timeout_seconds=0)
                    break
                time.sleep(0.5)
            on_progress(Progress("done"))
            self._save_mirror(app)
            return self._collect(app, run_id, result, str(request.get("action", "run")))

    def _collect(self, app: OfflineApp, run_id: str, result: ExecutionResult, action: str) -> LocalRunResult:
        """Copy the run's files out of the bucket; the report exists for failed runs too (the failure path)."""
        run_dir = self._out / run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        reports = [key for key in app.list_keys("runs/") if key.endswith(f"/{run_id}/report.json")]
        if reports:
            prefix = reports[0].removesuffix("report.json")
            present = set(app.list_keys(prefix))
            for name in RUN_FILES:
                if prefix + name in present:
                    (run_dir / name).write_bytes(app.read_object(prefix + name))
            report = RunReport.model_validate_json((run_dir / "report.json").read_bytes())
        else:
            # Only if even the failure report could not be written: the execution's own error and cause.
            now = datetime.now(UTC)
            report = RunReport(
                run_id=run_id,
                action=action,
                mode="unknown",
                source="cli",
                outcome="failed",
                started_at=now,
                finished_at=now,
                failures=[f"{result.error}: {result.cause}"],
            )
            (run_dir / "report.json").write_text(report.model_dump_json(indent=2))
        return LocalRunResult(run_id, result.status, report, run_dir)

    # ---- the bucket mirror ----

    def _mirror_files(self) -> Iterator[tuple[str, Path]]:
        root = self._out / MIRROR
        if root.is_dir():
            for path in root.rglob("*"):
                if path.is_file():
                    yield path.relative_to(root).as_posix(), path

    def _restore_mirror(self, app: OfflineApp) -> None:
        for key, path in self._mirror_files():
            app.write_object(key, path.read_bytes())

    def _save_mirror(self, app: OfflineApp) -> None:
        root = self._out / MIRROR
        for key in app.list_keys(""):
            target = root / key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(app.read_object(key))
