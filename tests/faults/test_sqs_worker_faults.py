"""The AWS machinery under faults: the real state machine on moto, the real fix worker behind Lambda's SQS event
source (Powertools idempotency, partial batch failures, redelivery, the dead-letter queue), against the sandbox.

The fix worker is wrapped (``handler_overrides``) by ``ControlledWorker``, which hands each delivery to the real
handler and, for the deliveries a test picks, sends the message again (at-least-once delivery) or kills the
invocation the way a Lambda timeout does: at a chosen write, with nothing after it running - no exception handler,
no ``finally`` that journals - so Powertools' idempotency record stays INPROGRESS, as it does in AWS.

In AWS the job comes back after the queue's visibility timeout (1800 s), long after that INPROGRESS record expired
(Powertools sets its expiry to the Lambda's deadline, 300 s). The harness redelivers after 1 s, so the wrapper
checks the expiry Powertools set is no later than the invocation's deadline, then lets that time pass (moves the
expiry into the past) before the redelivery.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from enum import Enum
from types import ModuleType
from typing import Any
from unittest import mock

import pytest
from faultkit import FAST_CONFIG, SMALL_BATCHES, SPEC, merged
from support.functions import import_function
from support.invariants import (
    batch_updates,
    checks_of,
    flow_writes,
    journal_of,
    journal_problems,
    now_ms,
    portal_problems,
)
from support.jobs import first_job_of, is_contacts_backward
from support.oracle import actual_stages, expected_stages

from hubspot_sandbox import Sandbox, SandboxSettings, generate_portal
from lifecycle_guard import fixing
from lifecycle_guard.gateway.crm_endpoints import CrmEndpoints
from lifecycle_guard.storage import S3Store
from lifecycle_guard_offline import ExecutionResult, LambdaContext, OfflineApp

REAL_WORKER_MODULE = "faults_real_fix_worker"
MAX_ATTEMPTS = 3  # the template's FixJobMaxAttempts default
LAMBDA_TIMEOUT_MS = 300_000  # the template's FixWorkerFunction Timeout
RUN_TIMEOUT_SECONDS = 180
APPLY = {"action": "run", "mode": "apply", "source": "console"}

_real_update = CrmEndpoints.update
_real_write_segment = fixing.write_segment


class LambdaTimeout(BaseException):
    """What a Lambda timeout is to the code it stops: no handler catches it, nothing after it is written."""


class Sabotage(Enum):
    DUPLICATE = "send the message again, then handle it"
    KILL_AFTER_FIRST_CLEAR = "kill the invocation right after its first clear reached HubSpot"
    KILL_AFTER_SECOND_CLEAR = "kill the invocation right after its second clear reached HubSpot"
    KILL_BEFORE_FIRST_WRITE = "kill the invocation before its first write reaches HubSpot"


@dataclass
class Delivery:
    job_id: str
    number: int
    sabotage: Sabotage | None
    hubspot_calls: int = 0  # requests the sandbox received during the delivery
    killed: bool = False


@dataclass
class ControlledWorker:
    """The real fix worker, sabotaged where ``choose(job_id, delivery number)`` says so."""

    choose: Callable[[str, int], Sabotage | None] = lambda job_id, number: None
    deliveries: list[Delivery] = field(default_factory=list)
    in_progress_expiries: list[int] = field(default_factory=list)  # ms past each killed invocation's start
    app: OfflineApp | None = None
    sandbox: Sandbox | None = None
    _real: ModuleType | None = None

    def __call__(self, event: dict[str, Any], context: LambdaContext) -> Any:
        assert self.app is not None
        assert self.sandbox is not None
        if self._real is None:
            self._real = import_function("fix_worker", REAL_WORKER_MODULE)
        (record,) = event["Records"]  # the template's BatchSize is 1
        job_id = json.loads(record["body"])["job_id"]
        number = 1 + sum(1 for d in self.deliveries if d.job_id == job_id)
        delivery = Delivery(job_id, number, self.choose(job_id, number))
        self.deliveries.append(delivery)
        if delivery.sabotage is Sabotage.DUPLICATE:
            self.app.client("sqs").send_message(QueueUrl=self.app.queue_urls["FixJobQueue"], MessageBody=record["body"])
        calls_before = self._hubspot_calls()
        started_ms = now_ms()
        try:
            with ExitStack() as stack:
                if delivery.sabotage not in (None, Sabotage.DUPLICATE):
                    self._arm_kill(stack, delivery)
                return self._real.lambda_handler(event, context)
        except LambdaTimeout:
            self._let_the_visibility_timeout_pass(started_ms)
            raise RuntimeError(f"Task timed out after {LAMBDA_TIMEOUT_MS / 1000:.2f} seconds") from None
        finally:
            delivery.hubspot_calls = self._hubspot_calls() - calls_before

    def _hubspot_calls(self) -> int:
        assert self.sandbox is not None
        return sum(self.sandbox.stats()["calls"].values())

    def _arm_kill(self, stack: ExitStack, delivery: Delivery) -> None:
        clears_before_kill = {Sabotage.KILL_AFTER_FIRST_CLEAR: 1, Sabotage.KILL_AFTER_SECOND_CLEAR: 2}
        clears = 0

        def update(gateway, object_type, properties_by_id):
            nonlocal clears
            if delivery.sabotage is Sabotage.KILL_BEFORE_FIRST_WRITE:
                delivery.killed = True
                raise LambdaTimeout
            result = _real_update(gateway, object_type, properties_by_id)
            if all(properties["lifecyclestage"] == "" for properties in properties_by_id.values()):
                clears += 1
                if clears == clears_before_kill[delivery.sabotage]:
                    delivery.killed = True
                    raise LambdaTimeout
            return result

        def write_segment(store, key, entries):
            if not delivery.killed:  # a killed process writes nothing more
                _real_write_segment(store, key, entries)

        stack.enter_context(mock.patch.object(CrmEndpoints, "update", update))
        stack.enter_context(mock.patch.object(fixing, "write_segment", write_segment))

    def _let_the_visibility_timeout_pass(self, started_ms: int) -> None:
        """The killed invocation's idempotency record is INPROGRESS, with an expiry Powertools took from the
        Lambda context. Note that expiry, then move it into the past: by the time SQS redelivers in AWS, it is."""
        assert self.app is not None
        dynamodb = self.app.client("dynamodb")
        items = dynamodb.scan(
            TableName=self.app.table_name,
            FilterExpression="#s = :inprogress AND in_progress_expiration > :now",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":inprogress": {"S": "INPROGRESS"}, ":now": {"N": str(now_ms())}},
        )["Items"]
        # Without an expiry (Powertools not given the Lambda context), the job would stay locked for days.
        assert len(items) == 1, f"expected the killed invocation's INPROGRESS record with an expiry, found {items}"
        (item,) = items
        self.in_progress_expiries.append(int(item["in_progress_expiration"]["N"]) - started_ms)
        dynamodb.update_item(
            TableName=self.app.table_name,
            Key={"id": item["id"]},
            UpdateExpression="SET in_progress_expiration = :past",
            ExpressionAttributeValues={":past": {"N": str(now_ms() - 1)}},
        )

    def of(self, job_id: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.job_id == job_id]

    def forget(self) -> None:
        sys.modules.pop(REAL_WORKER_MODULE, None)


@dataclass
class Deployment:
    app: OfflineApp
    sandbox: Sandbox
    worker: ControlledWorker

    @property
    def store(self) -> S3Store:
        return S3Store(self.app.client("s3"), self.app.bucket_name)


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    worker = ControlledWorker()
    settings = SandboxSettings(workflow_delay_seconds=0.2)
    with (
        Sandbox(generate_portal(SPEC), settings) as sandbox,
        OfflineApp(
            hubspot_token=sandbox.token,
            hubspot_base_url=sandbox.url,
            guard_config=merged(FAST_CONFIG, SMALL_BATCHES),
            parameters={"ProgressPollSeconds": "1"},
            handler_overrides={"FixWorkerFunction": worker},
            # One worker at a time: a sabotage patches the CRM client class-wide and counts the sandbox's calls
            # per delivery (test_concurrent_workers.py has workers racing).
            sqs_concurrency=1,
        ) as app,
    ):
        worker.app, worker.sandbox = app, sandbox
        yield Deployment(app, sandbox, worker)
    worker.forget()


def _drain(app: OfflineApp, queue: str) -> None:
    sqs, url = app.client("sqs"), app.queue_urls[queue]
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


class PristinePortal:
    """The module's portal reset to its generated state, with the oracle's expectation and its runs."""

    def __init__(self, deployment: Deployment, choose: Callable[[str, int], Sabotage | None]) -> None:
        self.deployment = deployment
        sandbox, app = deployment.sandbox, deployment.app
        sandbox.reset_portal()
        sandbox.reset_stats()
        _drain(app, "FixJobDeadLetterQueue")  # (PurgeQueue may only run once a minute)
        assert app.messages_in_queue("FixJobQueue") == 0  # no earlier test left a job behind
        assert app.list_keys("work/pending/") == []  # ... nor a batch in flight
        deployment.worker.choose = choose
        deployment.worker.deliveries.clear()
        deployment.worker.in_progress_expiries.clear()
        self.expected = expected_stages(sandbox.portal)
        self.before = actual_stages(sandbox.portal)
        self.since_ms = now_ms()
        self.runs: list[str] = []

    def run(self, name: str) -> tuple[ExecutionResult, dict[str, Any]]:
        self.runs.append(name)
        result = self.deployment.app.run(APPLY, name=name, timeout_seconds=RUN_TIMEOUT_SECONDS)
        (key,) = [k for k in self.deployment.app.list_keys("runs/") if k.endswith(f"/{name}/report.json")]
        return result, self.deployment.app.read_json(key)

    def portal_problems(self) -> list[str]:
        return portal_problems(self.expected, self.deployment.sandbox.portal)

    def journal_problems(self) -> list[str]:
        entries = journal_of(self.deployment.store, *self.runs)
        return journal_problems(self.deployment.sandbox.portal, entries, before=self.before, since_ms=self.since_ms)

    def run_again(self, name: str) -> None:
        """A further run, sabotage off: it succeeds and writes nothing (no batch update, no workflow write)."""
        self.deployment.worker.choose = lambda job_id, number: None
        self.deployment.sandbox.reset_stats()
        result, _ = self.run(name)
        stats = self.deployment.sandbox.stats()
        assert result.status == "SUCCEEDED", result.cause
        assert result.output["changes_planned"] == 0
        assert batch_updates(stats) == flow_writes(stats) == 0, stats["calls"]


def test_jobs_delivered_twice_and_a_lambda_timeout_mid_job_apply_every_change_once(deployment: Deployment):
    # GIVEN SQS delivering every fix job a second time (at-least-once delivery) - except a backward contacts job of
    # several write batches, whose first delivery times out right after the clear of its second batch: its first
    # batch is done, the second blank, the rest untouched
    doomed = first_job_of(is_contacts_backward)

    def choose(job_id: str, number: int) -> Sabotage | None:
        if doomed(job_id):
            return Sabotage.KILL_AFTER_SECOND_CLEAR if number == 1 else None
        return Sabotage.DUPLICATE if number == 1 else None

    portal = PristinePortal(deployment, choose)
    # WHEN an apply run goes through the state machine
    result, report = portal.run("sqs-deliveries")
    worker = deployment.worker
    (killed,) = [d for d in worker.deliveries if d.killed]
    others = {d.job_id for d in worker.deliveries} - {killed.job_id}
    # THEN every other job was delivered twice, and each second delivery made no HubSpot call at all: the worker's
    # idempotency replayed the first delivery's result
    assert len(others) >= 3
    assert all([d.number for d in worker.of(job_id)] == [1, 2] for job_id in others)
    assert all(d.hubspot_calls > 0 for d in worker.deliveries if d.number == 1)
    assert [d.hubspot_calls for d in worker.deliveries if d.number == 2 and d.job_id in others] == [0] * len(others)
    # ... and the killed job was delivered again, once, and resumed from HubSpot's state - which it could, because
    # the killed invocation's idempotency lock expires at the Lambda's deadline
    assert [d.number for d in worker.of(killed.job_id)] == [1, 2]
    (expiry,) = worker.in_progress_expiries
    assert 0 < expiry <= LAMBDA_TIMEOUT_MS
    # ... so the run succeeded counting each job and change once, and the portal is exactly right
    assert result.status == "SUCCEEDED", result.cause
    assert set(checks_of(report).values()) == {"PASS"}
    assert report["fix"]["jobs_done"] == report["fix"]["jobs_total"] == len(others) + 1
    assert report["fix"]["applied"] == result.output["changes_planned"] > 0
    assert portal.portal_problems() == []
    # ... and the journal holds every write once, the clear the killed invocation never journaled included
    assert portal.journal_problems() == []
    # AND a second run writes nothing
    portal.run_again("sqs-deliveries-again")


def test_a_job_that_keeps_dying_is_dead_lettered_its_blanks_finished_and_the_next_run_fixes_it(
    deployment: Deployment,
):
    # GIVEN a backward contacts job whose every delivery times out: the first right after its first clear, the
    # others before they write anything
    doomed = first_job_of(is_contacts_backward)

    def choose(job_id: str, number: int) -> Sabotage | None:
        if not doomed(job_id):
            return None
        return Sabotage.KILL_AFTER_FIRST_CLEAR if number == 1 else Sabotage.KILL_BEFORE_FIRST_WRITE

    portal = PristinePortal(deployment, choose)
    # WHEN an apply run goes through the state machine
    result, report = portal.run("sqs-dead-letter")
    # THEN the job was delivered FixJobMaxAttempts times, then dead-lettered, and the run failed naming it
    job_id = next(d.job_id for d in deployment.worker.deliveries if d.killed)
    assert [d.number for d in deployment.worker.of(job_id)] == list(range(1, MAX_ATTEMPTS + 1))
    assert deployment.app.messages_in_queue("FixJobDeadLetterQueue") == 1
    assert result.status == "FAILED"
    assert result.error == "LifecycleGuard.Failed"
    assert f"fix jobs failed: {job_id}" in result.cause
    assert report["fix"]["failed_jobs"] == [job_id]
    assert checks_of(report)["every fix job finished on target"] == "FAIL"
    # ... and the records its first delivery blanked were finished from the batch's pending marker: none is blank
    assert report["fix"]["recovered"] > 0
    blanked = [key for key, stage in actual_stages(deployment.sandbox.portal).items() if not stage]
    assert blanked == []
    assert deployment.app.list_keys("work/pending/") == []
    # WHEN the next run goes through
    result, report = portal.run("sqs-dead-letter-next")
    # THEN it fixes the rest of the job: the portal is exactly right, the journals hold every write
    assert result.status == "SUCCEEDED", result.cause
    assert portal.portal_problems() == []
    assert portal.journal_problems() == []
    # AND a further run writes nothing
    portal.run_again("sqs-dead-letter-again")
