"""A fix job that fails on every delivery: it must end in the dead-letter queue and fail the run - never vanish -
and it must leave no record blank.

The fix worker is replaced (``handler_overrides``) by a wrapper around the real handler that sabotages the
deliveries of one job; every other job goes through the real handler untouched.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal
from unittest import mock

import pytest
from statemachine_helpers import (
    APPLY,
    FAST_CONFIG,
    RUN_TIMEOUT_SECONDS,
    assert_every_call_was_allowed,
    authorisations,
    deployed_app,
    fresh_portal,
    report_of,
    running_sandbox,
    state_visits,
    wait_for,
)
from support.functions import import_function
from support.invariants import checks_of
from support.jobs import first_job_of, is_contacts_backward
from support.oracle import actual_stages, differences, expected_stages

from hubspot_sandbox import Sandbox
from lifecycle_guard.fixing import INTERRUPTED
from lifecycle_guard.gateway.crm_endpoints import CrmEndpoints
from lifecycle_guard_offline import ExecutionResult, LambdaContext, OfflineApp
from lifecycle_guard_offline.iam_enforcement import EvaluatedCall

pytestmark = [
    pytest.mark.filterwarnings("ignore:No application metrics to publish"),
]

REAL_WORKER_MODULE = "statemachine_test_real_fix_worker"
MAX_ATTEMPTS = 3  # the template's FixJobMaxAttempts default: deliveries before the dead-letter queue
# Jobs of one write batch of 10: the portal's backward contact moves fill whole batches, so the first of them is a
# job of its own (only remainders that fit one batch together share a mixed job), and a job that dies leaves one
# interrupted batch and nothing unbegun.
ONE_BATCH_JOBS = {**FAST_CONFIG, "fix": {"job_size": 10, "batch_size": 10}}


class InjectedCrash(RuntimeError):
    pass


_real_update = CrmEndpoints.update
# Whether the running delivery is one that dies at its sets: the fix workers run concurrently, so the sabotage
# follows the sabotaged delivery's context, never the other workers' (a class-wide patch would crash their sets too,
# and dead-letter jobs nobody sabotaged).
_never_set: ContextVar[bool] = ContextVar("never_set", default=False)


def _update_but_never_set_when_sabotaged(self: CrmEndpoints, object_type: str, properties_by_id: Any) -> Any:
    if _never_set.get() and any(properties["lifecyclestage"] for properties in properties_by_id.values()):
        raise InjectedCrash("injected: the worker died before setting the target stage")
    return _real_update(self, object_type, properties_by_id)


@dataclass
class SabotagedWorker:
    """The real fix worker, except for deliveries of the job ``targets`` picks (by default the first job of backward
    contact moves):

    - ``crash``: the invocation fails before the real handler runs (as if the container died);
    - ``crash_before_set``: the real handler runs, but every batch update that sets a stage fails: the first
      delivery clears the stages of its backward moves and dies before setting the targets; each redelivery finds
      those records blank (nothing left to clear) and dies at the set.
    """

    targets: Callable[[str], bool] = field(default_factory=lambda: first_job_of(is_contacts_backward))
    how: Literal["crash", "crash_before_set"] = "crash"
    deliveries: dict[str, int] = field(default_factory=dict)
    _real: ModuleType | None = None

    def __call__(self, event: dict[str, Any], context: LambdaContext) -> Any:
        if self._real is None:
            self._real = import_function("fix_worker", REAL_WORKER_MODULE)
        job_ids = [json.loads(record["body"])["job_id"] for record in event["Records"]]
        sabotaged = [job_id for job_id in job_ids if self.targets(job_id)]
        for job_id in sabotaged:
            self.deliveries[job_id] = self.deliveries.get(job_id, 0) + 1
        if sabotaged and self.how == "crash":
            raise InjectedCrash(f"injected: the worker died on fix job {sabotaged[0]}")
        token = _never_set.set(bool(sabotaged))
        try:
            return self._real.lambda_handler(event, context)
        finally:
            _never_set.reset(token)

    def forget(self) -> None:
        sys.modules.pop(REAL_WORKER_MODULE, None)


@dataclass(frozen=True)
class Deployment:
    app: OfflineApp
    sandbox: Sandbox
    worker: SabotagedWorker


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    worker = SabotagedWorker()
    with (
        mock.patch.object(CrmEndpoints, "update", _update_but_never_set_when_sabotaged),
        running_sandbox(fresh_portal()) as sandbox,
        deployed_app(sandbox, handler_overrides={"FixWorkerFunction": worker}, guard_config=ONE_BATCH_JOBS) as app,
    ):
        yield Deployment(app, sandbox, worker)
    worker.forget()


@dataclass(frozen=True)
class FailedJobRun:
    result: ExecutionResult
    job_id: str
    deliveries: dict[str, int]
    job_changes: list[dict[str, str]]  # the failed job's planned changes (its plan.jsonl rows)
    expected: dict[tuple[str, str], str]
    before: dict[tuple[str, str], str]
    after: dict[tuple[str, str], str]
    dead_letters: int  # messages this run added to the dead-letter queue
    jobs_queued_after: int
    authorisations: list[EvaluatedCall]  # every AWS call IAM authorised during the run


def run_with_a_failing_job(
    deployment: Deployment, how: Literal["crash", "crash_before_set"], name: str
) -> FailedJobRun:
    """GIVEN the pristine dirty portal and a worker sabotaging the first job of backward contact moves, WHEN an
    apply run goes through the state machine."""
    app, sandbox, worker = deployment.app, deployment.sandbox, deployment.worker
    sandbox.reset_portal()
    dead_letters_before = app.messages_in_queue("FixJobDeadLetterQueue")
    expected, before = expected_stages(sandbox.portal), actual_stages(sandbox.portal)
    worker.how = how
    worker.deliveries.clear()
    with authorisations(app) as calls:
        result = app.run(APPLY, name=name, timeout_seconds=RUN_TIMEOUT_SECONDS)
    (job_id,) = worker.deliveries
    # A message received FixJobMaxAttempts times moves to the dead-letter queue on its next receive (moto, as SQS).
    wait_for(lambda: app.messages_in_queue("FixJobDeadLetterQueue") > dead_letters_before)
    time.sleep(1)  # time enough for a second dead letter to show, were there one
    dead_letters = app.messages_in_queue("FixJobDeadLetterQueue") - dead_letters_before
    report = report_of(app, result)
    plan = [json.loads(line) for line in app.read_object(report["files"]["plan"]).splitlines()]
    return FailedJobRun(
        result=result,
        job_id=job_id,
        deliveries=dict(worker.deliveries),
        job_changes=[row for row in plan if row["job_id"] == job_id],
        expected=expected,
        before=before,
        after=actual_stages(sandbox.portal),
        dead_letters=dead_letters,
        jobs_queued_after=app.messages_in_queue("FixJobQueue"),
        authorisations=calls,
    )


def assert_the_run_failed_naming_the_job(app: OfflineApp, run: FailedJobRun) -> dict[str, Any]:
    result = run.result
    assert is_contacts_backward(run.job_id)
    assert run.job_changes
    # THEN the job was delivered exactly FixJobMaxAttempts times, then dead-lettered
    assert run.deliveries == {run.job_id: MAX_ATTEMPTS}
    assert run.dead_letters == 1
    assert run.jobs_queued_after == 0
    # ... and the run FAILED - it did not succeed silently - naming the job in its cause and its report
    assert result.status == "FAILED"
    assert result.error == "LifecycleGuard.Failed"
    assert f"fix jobs failed: {run.job_id}" in result.cause
    report = report_of(app, result)
    assert report["outcome"] == "failed"
    assert report["fix"]["failed_jobs"] == [run.job_id]
    assert report["fix"]["jobs_failed"] == 1
    assert report["fix"]["jobs_done"] == report["fix"]["jobs_total"] - 1 > 0
    checks = checks_of(report)
    assert checks["every fix job finished on target"] == "FAIL"
    return report


def test_a_job_whose_worker_dies_on_every_delivery_is_dead_lettered_and_fails_the_run(deployment: Deployment):
    # GIVEN a fix worker that dies on every delivery of the first job of backward contact moves, before touching
    # HubSpot
    # WHEN an apply run goes through the state machine
    run = run_with_a_failing_job(deployment, "crash", "job-dies")
    # THEN the job is dead-lettered and fails the run, named (the worker never settled it: only the dead-letter
    # queue could tell the run about it)
    assert_the_run_failed_naming_the_job(deployment.app, run)
    # ... none of the job's records was touched or left blank, and every other record was fixed
    job_records = {(row["object_type"], row["object_id"]) for row in run.job_changes}
    assert {key: run.after[key] for key in job_records} == {key: run.before[key] for key in job_records}
    assert all(run.after.values())
    off_target = {key for key, want in run.expected.items() if run.after[key] != want}
    assert off_target == job_records
    assert len(differences(run.expected, run.after)) == len(job_records)
    # ... and while the job was retried (mostly while planning went on: the jobs go out as they are cut) the run
    # polled, every poll iteration costing the same 9 events: the history grows with the number of polls, never
    # with the number of jobs or records
    visits = state_visits(run.result.history)
    polls = [events for name, events in visits if name == "CheckProgress"]
    waits = [events for name, events in visits if name == "WaitForJobs"]
    choices = [events for name, events in visits if name == "AreJobsComplete"]
    assert len(polls) >= 1
    assert set(polls) == {5}
    assert set(waits) == {2}
    assert set(choices) == {2}
    assert len(choices) == len(waits) + 1 == len(polls) + 1  # one after Dispatch, one after each poll


def test_a_job_that_dies_between_clear_and_set_leaves_no_blank_record(deployment: Deployment):
    # GIVEN a fix worker whose first delivery of the first job of backward contact moves clears the stages (the
    # first half of a backward move) and dies before setting the targets, and whose redeliveries, finding those
    # records blank, die at the set
    # WHEN an apply run goes through the state machine
    run = run_with_a_failing_job(deployment, "crash_before_set", "job-dies-half-way")
    # THEN the job is dead-lettered and fails the run, named, after its last delivery
    assert_the_run_failed_naming_the_job(deployment.app, run)
    # ... yet no record of the job is left blank: the run's verify step finished the interrupted batch with the
    # planned targets (the pending-write marker the dying worker left), and the whole portal matches the oracle
    job_ids = {row["object_id"] for row in run.job_changes}
    assert all(run.after[(row["object_type"], row["object_id"])] == row["target"] for row in run.job_changes)
    assert all(run.after.values())
    assert differences(run.expected, run.after) == []
    # ... the journal shows it: the first delivery really cleared the stages it then never set, each redelivery
    # found them blank and journaled that clear as the interrupted attempt's, and the verify step's recovery set
    # the planned targets
    report = report_of(deployment.app, run.result)
    journal = [json.loads(line) for line in deployment.app.read_object(report["files"]["journal"]).splitlines()]
    cleared = {e["object_id"] for e in journal if e["job_id"] == run.job_id and e["write"] == "clear"}
    assert cleared == job_ids
    clears = Counter(e["detail"] for e in journal if e["job_id"] == run.job_id and e["write"] == "clear")
    assert dict(clears) == {"": len(job_ids), INTERRUPTED: (MAX_ATTEMPTS - 1) * len(job_ids)}
    assert all(run.before[("contacts", object_id)] for object_id in cleared)  # none was blank before the run
    recovered = {
        e["object_id"]
        for e in journal
        if e["rule"].startswith(f"recovery:{report['run_id']}:") and e["write"] == "set" and e["outcome"] == "applied"
    }
    assert recovered == job_ids
    # ... which IAM allowed: the verify step stored the recovery's journal segment and deleted the marker with its
    # own role (the role used to be read-only on S3, which would have lost those entries on AWS)
    assert_every_call_was_allowed(
        run.authorisations, {"VerifyFunction": {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"}}
    )
    writes = {
        (call.action, call.resource.split(":::", 1)[1].split("/", 1)[1])  # arn:aws:s3:::<bucket>/<key>
        for call in run.authorisations
        if call.principal == "VerifyFunction" and call.action in ("s3:PutObject", "s3:DeleteObject")
    }
    markers = f"work/pending/{report['run_id']}/"
    segments = report["files"]["report_json"].removesuffix("report.json") + "journal/"
    assert {action for action, key in writes if key.startswith(markers)} == {"s3:DeleteObject"}
    assert {action for action, key in writes if key.startswith(segments)} == {"s3:PutObject"}
