"""Fix workers really running at once, as deployed (the tier's MaximumConcurrency of 4), on the real state machine:
one burst budget for all of them and the planner, the run's counters added to by all of them, two workers racing
on one job delivered twice, and an undo whose restore jobs they share.

The sandbox enforces a burst limit the run's budget equals, so a worker that drew on its own share of the budget
(or a budget that admitted more than its limit across processes) would draw HubSpot's 429s.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest
from faultkit import FAST_CONFIG, SPEC, merged
from support.functions import import_function
from support.invariants import journal_of, journal_problems, now_ms, portal_problems
from support.oracle import actual_stages, expected_stages

from hubspot_sandbox import Sandbox, SandboxSettings, generate_portal
from lifecycle_guard.queue import FixJobMessage
from lifecycle_guard.storage import S3Store
from lifecycle_guard.tracker import RunTracker
from lifecycle_guard_offline import LambdaContext, OfflineApp

BUDGET = 60  # requests per 10 s: the run's, and the sandbox's limit
MANY_SMALL_JOBS = {"fix": {"batch_size": 10, "job_size": 20}, "budget": {"requests_per_10s": BUDGET}}
APPLY = {"action": "run", "mode": "apply", "source": "console"}
RUN_TIMEOUT_SECONDS = 300
SEARCH_WINDOW_SECONDS = 1.5  # a little over HubSpot's search window (5 a second)


@dataclass
class RacingWorker:
    """The real fix worker, one import of its module per thread (as each concurrent Lambda has its own container).
    The first delivery of the first job of the object type ``race`` (that job becomes ``raced``) sends its message
    again and waits until a second worker has taken the copy, so two invocations work on that job at once."""

    race: str | None = None
    raced: str | None = None
    app: OfflineApp | None = None
    deliveries: Counter[str] = field(default_factory=Counter)
    overlapped: threading.Event = field(default_factory=threading.Event)
    job_ended: Callable[[FixJobMessage], None] = lambda _message: None  # called as each delivery's handler returns
    running: int = 0
    peak: int = 0  # the most deliveries handled at once (set back to 0 to measure from then on)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _containers: threading.local = field(default_factory=threading.local)

    def __call__(self, event: dict[str, Any], context: LambdaContext) -> Any:
        assert self.app is not None
        (record,) = event["Records"]  # the template's BatchSize is 1
        job_id = json.loads(record["body"])["job_id"]
        with self._lock:
            self.deliveries[job_id] += 1
            number = self.deliveries[job_id]
            if self.race and self.raced is None and f"-{self.race}-" in job_id:
                self.raced = job_id
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            if job_id == self.raced and number == 1:
                sqs = self.app.client("sqs")
                sqs.send_message(QueueUrl=self.app.queue_urls["FixJobQueue"], MessageBody=record["body"])
                self.overlapped.wait(timeout=30)
            elif job_id == self.raced and number == 2:
                self.overlapped.set()
            return self._module().lambda_handler(event, context)
        finally:
            self.job_ended(FixJobMessage.model_validate_json(record["body"]))
            with self._lock:
                self.running -= 1

    def _module(self) -> ModuleType:
        module: ModuleType | None = getattr(self._containers, "module", None)
        if module is None:
            name = f"racing_fix_worker_{threading.get_ident()}"
            module = self._containers.module = import_function("fix_worker", name)
        return module


@dataclass(frozen=True)
class Deployment:
    app: OfflineApp
    sandbox: Sandbox
    worker: RacingWorker


@pytest.fixture
def deployment() -> Iterator[Deployment]:
    worker = RacingWorker()
    settings = SandboxSettings(workflow_delay_seconds=0.2, burst_limit_per_10s=BUDGET, search_limit_per_second=5)
    with (
        Sandbox(generate_portal(SPEC), settings) as sandbox,
        OfflineApp(
            hubspot_token=sandbox.token,
            hubspot_base_url=sandbox.url,
            api_tier="professional",  # four fix workers at once
            guard_config=merged(FAST_CONFIG, MANY_SMALL_JOBS),
            parameters={"ProgressPollSeconds": "1"},
            handler_overrides={"FixWorkerFunction": worker},
        ) as app,
    ):
        worker.app = app
        yield Deployment(app, sandbox, worker)


def run_and_check(deployment: Deployment, name: str) -> dict[str, Any]:
    """One apply run through the state machine; the invariants every concurrent run must keep."""
    app, sandbox = deployment.app, deployment.sandbox
    expected, before, since = expected_stages(sandbox.portal), actual_stages(sandbox.portal), now_ms()
    result = app.run(APPLY, name=name, timeout_seconds=RUN_TIMEOUT_SECONDS)
    assert result.status == "SUCCEEDED", result.cause
    # the portal ends exactly as the oracle says, nothing blank; HubSpot applied exactly what the journal says
    assert portal_problems(expected, sandbox.portal) == []
    journal = journal_of(S3Store(app.client("s3"), app.bucket_name), name)
    assert journal_problems(sandbox.portal, journal, before=before, since_ms=since) == []
    # the workers really overlapped, and the one budget held across them and the planner: no 429
    assert app.peak_concurrency("FixWorkerFunction") >= 2
    assert sandbox.stats()["rate_limited"] == {}
    # counters every worker added to at once add up: each job settled once, the applied count is the journal's
    state = RunTracker(app.client("dynamodb"), app.table_name).state(name)
    jobs = app.list_keys(f"work/{name}/jobs/")
    assert (state.jobs_total, state.jobs_done, state.jobs_failed) == (len(jobs), len(jobs), 0)
    assert state.applied == len({(e.object_type, e.object_id) for e in journal if e.outcome.value == "applied"})
    return {"journal": journal, "jobs": jobs}


def test_four_workers_at_once_stay_inside_one_budget_and_their_counters_add_up(deployment: Deployment):
    # GIVEN a portal with a few hundred records to fix in jobs of 20, four fix workers and one budget of 60 / 10 s
    # WHEN an apply run goes through
    run = run_and_check(deployment, "concurrent")
    # THEN (checked above) nothing went over HubSpot's limit, and every change is applied and journaled once
    assert len(run["jobs"]) > 8


def test_two_workers_racing_on_one_job_delivered_twice_write_it_once(deployment: Deployment):
    # GIVEN the run's first contacts job delivered twice, the copy taken by a second worker while the first works
    deployment.worker.race = "contacts"
    # WHEN an apply run goes through
    run = run_and_check(deployment, "raced")
    # THEN the copy did run at the same time, yet every record of the job was written once (checked above: the
    # journal matches what HubSpot applied, and the job settled once)
    assert deployment.worker.raced in {job.rsplit("/", 1)[-1].removesuffix(".json") for job in run["jobs"]}
    assert deployment.worker.overlapped.is_set()
    assert deployment.worker.deliveries[deployment.worker.raced] >= 2


def test_an_undo_with_four_workers_restores_every_record_once_while_the_flows_stay_off(deployment: Deployment):
    app, sandbox, worker = deployment.app, deployment.sandbox, deployment.worker
    # GIVEN a portal fixed by an apply run with four workers, which switched its prevention flows on
    before, since = actual_stages(sandbox.portal), now_ms()
    run = run_and_check(deployment, "to-undo")
    ours = {flow["id"] for flow in sandbox.portal.flows() if flow["isEnabled"]}
    assert len(ours) == 2
    # AND a note, as each of the undo's restore jobs ends, of whether any of those flows is on
    flows_on_at_end: dict[str, bool] = {}

    def note_flows(message: FixJobMessage) -> None:
        if message.run_id == "undo-4":
            enabled = {flow["id"] for flow in sandbox.portal.flows() if flow["isEnabled"]}
            flows_on_at_end[message.job_id] = bool(ours & enabled)

    worker.job_ended, worker.peak = note_flows, 0
    # Search is paced per process (``runtime.Services.hubspot``): the run's last searches (Verify's after-counts)
    # and the undo's first (Begin's audit) must not fall into one second of HubSpot's 5 a second.
    time.sleep(SEARCH_WINDOW_SECONDS)
    # WHEN the run is undone through the state machine
    undo = {"action": "undo", "mode": "apply", "source": "console", "undo_run_id": "to-undo"}
    undone = app.run(undo, name="undo-4", timeout_seconds=RUN_TIMEOUT_SECONDS)
    # THEN it succeeded, every record holds its stage from before the run (none blank that was not blank), the
    # flows are on again, and the restores held
    assert undone.status == "SUCCEEDED", undone.cause
    after = actual_stages(sandbox.portal)
    assert {key: after[key] for key in before} == before
    assert {flow["id"] for flow in sandbox.portal.flows() if flow["isEnabled"]} == ours
    assert undone.output["checks"]["restored values held"] == "PASS"
    # ... the restore jobs really ran at once, inside the one budget, with the flows off until the last ended
    undo_jobs = app.list_keys("work/undo-4/jobs/")
    assert len(undo_jobs) > 8
    assert worker.peak >= 2
    assert sandbox.stats()["rate_limited"] == {}
    assert len(flows_on_at_end) == len(undo_jobs)
    assert not any(flows_on_at_end.values())
    # ... HubSpot applied exactly what the two journals say, each record restored once, from the value it held
    # before the run
    journal = journal_of(S3Store(app.client("s3"), app.bucket_name), "to-undo", "undo-4")
    assert journal_problems(sandbox.portal, journal, before=before, since_ms=since) == []
    # ... and the undo's counters add up: each job settled once, what the workers applied is what it restored
    state = RunTracker(app.client("dynamodb"), app.table_name).state("undo-4")
    assert (state.jobs_total, state.jobs_done, state.jobs_failed) == (len(undo_jobs), len(undo_jobs), 0)
    fixed = {(e.object_type, e.object_id) for e in run["journal"] if e.outcome.value == "applied"}
    undo_journal = [e for e in journal if e.run_id == "undo-4"]
    restored = {(e.object_type, e.object_id) for e in undo_journal if e.outcome.value == "applied"}
    assert state.applied == len(restored) == len(fixed) == undone.output["changes_applied"]
