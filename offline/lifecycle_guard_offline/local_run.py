"""A lifecycle-guard run on a laptop: the real state machine on moto, aimed at any HubSpot-compatible API.

``LocalRun`` deploys the SAM app into moto (``OfflineApp``), starts an execution, reports progress while it runs,
and afterwards copies the run's report, journal and plan under ``<out>/<run-id>/``. moto's bucket lives only as
long as the process, so ``<out>/.bucket/`` mirrors it (``bucket_mirror``), synced every few seconds while the run
goes: what a later run or an undo finds in S3 (the journals, pending-write markers of a crashed run) is what earlier
runs left there, as in a real bucket, even when one of them was killed.

Asked to stop (a signal, see ``stop_signals``), it stops the execution, keeps the fix jobs still queued from
starting, lets the handler in flight finish - a fix job writes and journals its remaining batches (at most
``fix.job_size / fix.batch_size``: the engine checks for a stop only between jobs) - mirrors the bucket a last time
and writes the journal so far to ``<out>/<run-id>/journal.jsonl``. An undo stopped after its PausePrevention gets
its prevention flows switched back on first, as its ResumePrevention would have: a stopped execution runs no more
states (``flow_pause`` has what happens if even this cannot).
"""

from __future__ import annotations

import json
import logging
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, nullcontext, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

from lifecycle_guard.contracts import RunContext
from lifecycle_guard.crm import HubSpotError
from lifecycle_guard.gateway import HubSpotGateway
from lifecycle_guard.journal import JournalEntry, Write, WriteOutcome, read_journal
from lifecycle_guard.layout import PENDING_PREFIX, RunLayout, context_key, index_key
from lifecycle_guard.live_test import Probe
from lifecycle_guard.reporting import RunReport
from lifecycle_guard.steps.prevention import open_pause, resume_paused
from lifecycle_guard.storage import S3Store
from lifecycle_guard.tracker import RunTracker
from lifecycle_guard_offline.bucket_mirror import BucketMirror
from lifecycle_guard_offline.executions import ExecutionResult, execution_history
from lifecycle_guard_offline.harness import OfflineApp
from lifecycle_guard_offline.phase_watch import FailedStep, PhaseWatch, Progress, failed_step, probes_created

SERVICE_NAME = "lifecycle-guard"  # POWERTOOLS_SERVICE_NAME in template.yaml
RUN_FILES = ("report.json", "report.html", "changes.csv", "journal.jsonl", "plan.jsonl")
POLL_SECONDS = 0.5
MIRROR_SECONDS = 2.0  # the most journal a kill -9 loses; longer when a sync itself takes long (see _SyncPace)
# How long a stop waits for the handler in flight: a fix job's remaining batches, an undo's job, a verify settling.
IN_FLIGHT_GRACE_SECONDS = 90.0
FIX_JOB_QUEUE = "FixJobQueue"  # template.yaml
DEFAULT_REQUESTS_PER_10S = 100  # the gateway's own default, for the few calls made outside the execution


class StopRequest(Protocol):
    """Whether the run was asked to stop, and whether it was asked again (stop waiting for the writes in flight)."""

    @property
    def requested(self) -> bool: ...

    @property
    def hurried(self) -> bool: ...


class _NeverStop:
    requested = False
    hurried = False


@contextmanager
def _process_logs_to(stream: TextIO) -> Iterator[None]:
    """Every log record that reaches the root logger - moto's (resource types its CloudFormation skips, the ASL
    interpreter's account of a failed execution), the harness's (a handler's traceback), the libraries' - goes to the
    run's log file: the terminal gets the failed step and its reason, the log the traceback."""
    root = logging.getLogger()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


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
class LocalRunResult:
    run_id: str
    status: str
    report: RunReport
    run_dir: Path
    failed_step: FailedStep | None = None  # the step whose error ended a failed run

    @property
    def report_path(self) -> Path:
        return self.run_dir / "report.json"


@dataclass(frozen=True)
class FlowsResumed:
    """An interrupted undo's prevention flows, switched back on by the CLI - or why they could not be."""

    flow_ids: list[str]
    error: str | None = None  # they stay off; the next undo takes them over, the next run switches them on


@dataclass(frozen=True)
class InterruptedRun:
    """A run stopped on request before it ended: no report, but its journal so far, mirrored and copied out."""

    run_id: str
    records_written: int  # records the run wrote to HubSpot, by its journal
    journal_path: Path | None  # <out>/<run-id>/journal.jsonl; None if nothing was journaled
    probes: list[Probe]  # probe records the live test created (the CLI removes them)
    # Stopped waiting for the handler in flight (a second signal, or it took too long): it still runs in moto, which
    # is left up, its AWS calls held - the process must end without returning through the log's close.
    handler_abandoned: bool
    # Write batches of the run begun and not finished (their pending markers, mirrored): the next run finishes them.
    batches_abandoned: int = 0
    flows_resumed: FlowsResumed | None = None  # None: not an undo that had paused prevention


class _SyncPace:
    """Sync the mirror every MIRROR_SECONDS, or five times as long as the last sync took (a bucket of a million
    records' run holds tens of thousands of objects): the mirror must not slow the run it protects."""

    def __init__(self) -> None:
        self._next = time.monotonic() + MIRROR_SECONDS

    def due(self) -> bool:
        return time.monotonic() >= self._next

    def synced(self, started: float) -> None:
        now = time.monotonic()
        self._next = now + max(MIRROR_SECONDS, 5 * (now - started))


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
        self._mirror = BucketMirror(out_dir)

    def execute(
        self,
        request: Mapping[str, Any],
        run_id: str,
        on_progress: Callable[[Progress], None],
        timeout_seconds: float,
        *,
        stop: StopRequest | None = None,
        seed: Mapping[str, bytes] | None = None,
    ) -> LocalRunResult | InterruptedRun:
        """Run to the end, or until ``stop`` is requested; ``seed`` objects are put into the bucket first (e.g. an
        imported journal)."""
        stop = stop or _NeverStop()
        with ExitStack() as running:
            # Lambda code logs JSON lines to stdout (Powertools); keep them in the run's log file, not the terminal,
            # and with them Powertools' warning about a failed invocation that published no metric.
            running.enter_context(_lambda_logs_to(self._log))
            running.enter_context(warnings.catch_warnings())
            running.enter_context(redirect_stdout(self._log))
            running.enter_context(_process_logs_to(self._log))
            app = running.enter_context(
                OfflineApp(
                    hubspot_token=self._token,
                    hubspot_base_url=self._base_url,
                    guard_config=self._config,
                    parameters=self._parameters,
                )
            )
            warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
            self._mirror.restore(app.client("s3"), app.bucket_name)
            for key, body in (seed or {}).items():
                app.write_object(key, body)
            if stop.requested:  # asked while moto started: nothing ran yet
                return InterruptedRun(run_id, 0, None, [], handler_abandoned=False)
            arn = app.start_execution(dict(request), name=run_id)
            tracker = RunTracker(app.client("dynamodb"), app.table_name)
            watch = PhaseWatch(app, tracker, arn, run_id, on_progress)
            result = self._await(app, arn, watch, stop, timeout_seconds)
            if result is None:
                stopped = self._stopped(app, arn, run_id, watch, tracker, stop, on_progress)
                if stopped.handler_abandoned:
                    # A handler still runs: taking moto down under it would send its AWS calls to AWS itself, and
                    # the log it writes to must stay open. All is left as it is; the caller ends the process.
                    running.pop_all()
                return stopped
            on_progress(Progress("done"))
            self._mirror.sync(app.client("s3"), app.bucket_name)
            return self._collect(app, run_id, result, str(request.get("action", "run")))

    def _await(
        self, app: OfflineApp, arn: str, watch: PhaseWatch, stop: StopRequest, timeout_seconds: float
    ) -> ExecutionResult | None:
        """The execution's result, or None once a stop is requested."""
        sfn = app.client("stepfunctions")
        deadline = time.monotonic() + timeout_seconds
        pace = _SyncPace()
        while not stop.requested:
            described = sfn.describe_execution(executionArn=arn)
            stopped = described.get("stopDate") if described["status"] != "RUNNING" else None
            watch.sample(stopped)
            if stopped is not None:
                return app.wait_for_execution(arn, timeout_seconds=10)
            if time.monotonic() > deadline:
                return app.wait_for_execution(arn, timeout_seconds=0)
            if pace.due():
                started = time.monotonic()
                self._mirror.sync(app.client("s3"), app.bucket_name)
                pace.synced(started)
            time.sleep(POLL_SECONDS)
        return None

    def _stopped(
        self,
        app: OfflineApp,
        arn: str,
        run_id: str,
        watch: PhaseWatch,
        tracker: RunTracker,
        stop: StopRequest,
        on_progress: Callable[[Progress], None],
    ) -> InterruptedRun:
        sfn = app.client("stepfunctions")
        # What the history says is read before the stop: moto 5.2.5 has failed to serialise it (a TypeError deep in
        # its serializer) when read while its thread recorded the abort. A probe created after this read is found
        # by its marker (remove_run_probes), or by the next run.
        watch.sample(datetime.now(UTC), interrupted=True)
        probes = probes_created(execution_history(sfn, arn))
        sfn.stop_execution(executionArn=arn, error="LifecycleGuard.Interrupted", cause="stopped by a signal")
        # Queued fix jobs must not start, nor ones a planning step in flight still hands over (it stops handing over
        # once it sees the stop); the jobs workers run finish their batches. A CheckProgress in flight fails on the
        # abort, harmlessly: the execution is stopped already.
        tracker.abort(run_id, "interrupted")
        app.client("sqs").purge_queue(QueueUrl=app.queue_urls[FIX_JOB_QUEUE])
        finished = self._await_handler_in_flight(app, stop, on_progress)
        if not finished:
            # Nothing the handler does after the last mirror may change the bucket (see call_gate).
            app.hold_function_calls()
        flows_resumed = self._resume_paused_flows(app, run_id)
        on_progress(Progress("done"))
        self._mirror.sync(app.client("s3"), app.bucket_name)
        entries = self._journal_so_far(app, run_id)
        journal_path = None
        if entries:
            journal_path = self._out / run_id / "journal.jsonl"
            journal_path.parent.mkdir(parents=True, exist_ok=True)
            journal_path.write_text("".join(entry.model_dump_json() + "\n" for entry in entries))
        written = {
            (entry.object_type, entry.object_id)
            for entry in entries
            if entry.write is not Write.NONE and entry.outcome is WriteOutcome.APPLIED
        }
        return InterruptedRun(
            run_id,
            len(written),
            journal_path,
            probes,
            handler_abandoned=not finished,
            batches_abandoned=len(app.list_keys(f"{PENDING_PREFIX}{run_id}/")),
            flows_resumed=flows_resumed,
        )

    def _resume_paused_flows(self, app: OfflineApp, run_id: str) -> FlowsResumed | None:
        """Switch back on the flows an undo's pause stored (before the last mirror: its record is closed in it). A
        failure leaves the record open for the next undo to take over."""
        store = S3Store(app.client("s3"), app.bucket_name)
        record = open_pause(store, run_id)
        context = store.get(context_key(run_id))
        if record is None or context is None:
            return None
        run = RunContext.model_validate_json(context)
        budget = run.config.budget.requests_per_10s or DEFAULT_REQUESTS_PER_10S
        gateway = HubSpotGateway(self._token, base_url=self._base_url, requests_per_10s=budget)
        try:
            return FlowsResumed(resume_paused(run, store, record, gateway.flows).flow_ids)
        except HubSpotError as exc:
            return FlowsResumed([], error=str(exc))

    def _await_handler_in_flight(
        self, app: OfflineApp, stop: StopRequest, on_progress: Callable[[Progress], None]
    ) -> bool:
        """Whether the handler running when the stop came (if any) finished; a second stop request gives up."""
        started = time.monotonic()
        waiting = "letting the step in flight finish (Ctrl-C again to stop waiting)"
        shown = False
        while not app.functions_idle(timeout_seconds=0.25):
            waited = time.monotonic() - started
            if stop.hurried or waited > IN_FLIGHT_GRACE_SECONDS:
                on_progress(Progress("stopping", detail="stopped waiting", seconds=waited, status="interrupted"))
                return False
            on_progress(Progress("stopping", detail=waiting, seconds=waited))
            shown = True
        if shown:
            waited = time.monotonic() - started
            on_progress(Progress("stopping", detail="the step in flight finished", seconds=waited, status="done"))
        return True

    def _journal_so_far(self, app: OfflineApp, run_id: str) -> list[JournalEntry]:
        store = S3Store(app.client("s3"), app.bucket_name)
        index = store.get(index_key(run_id))
        if index is None:  # stopped before Begin registered the run: it wrote nothing
            return []
        prefix = str(json.loads(index)["prefix"])
        return list(read_journal(store, RunLayout(run_id, prefix)))

    def _collect(self, app: OfflineApp, run_id: str, result: ExecutionResult, action: str) -> LocalRunResult:
        """Copy the run's files out of the bucket; the report exists for failed runs too (the failure path)."""
        run_dir = self._out / run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        reports = [key for key in app.list_keys("runs/") if key.endswith(f"/{run_id}/report.json")]
        if reports:
            prefix = RunLayout.of_report(run_id, reports[0]).prefix
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
        return LocalRunResult(run_id, result.status, report, run_dir, failed_step(result.history))
