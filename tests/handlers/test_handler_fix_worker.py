"""The fix worker as Lambda's SQS event source calls it: partial batch failures (``batchItemFailures`` lists only
the records that failed) and idempotency on the job (a duplicate delivery makes no second write).

These invoke the worker with SQS events of their own making rather than through the queue (whose poller,
``OfflineApp``'s, does honour ``ReportBatchItemFailures``): a test needs the handler's direct response, and control
over which records a batch holds and how often each is delivered.
The module's run is begun and planned by the real AuditPlan handler; each test takes jobs of its own kind, so the
tests do not depend on one another.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from handler_helpers import Stack, begin_and_plan, invoke, job_messages, run_item, running_stack, sqs_record

from lifecycle_guard.tracker import RunTracker

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

RUN = "worker-run"


@dataclass(frozen=True)
class PlannedRun:
    stack: Stack
    run_id: str
    jobs: dict[str, dict[str, str]]  # job id -> its fix job message

    def job(self, object_type: str, nth: int) -> dict[str, str]:
        """The message of the run's ``nth`` fix job of ``object_type``, in plan order."""
        return [message for job_id, message in sorted(self.jobs.items()) if f"-{object_type}-" in job_id][nth]

    def planned_changes(self, message: dict[str, str]) -> list[dict[str, str]]:
        """The job's changes as stored in S3 (rows of object id, before, target, rule)."""
        rows = self.stack.app.read_json(message["job_key"])["changes"]
        return [{"object_id": row[0], "before": row[1], "target": row[2]} for row in rows]

    def stage(self, object_type: str, object_id: str) -> str:
        return self.stack.sandbox.portal.get_property(object_type, object_id, "lifecyclestage") or ""


@pytest.fixture(scope="module")
def planned_run() -> Iterator[PlannedRun]:
    # GIVEN an apply run begun and planned by the real AuditPlan handler: its fix jobs (small ones, so each object
    # type has several) are in S3, not handed to the workers (the tests deliver them)
    with running_stack(config={"fix": {"batch_size": 5, "job_size": 5, "overlap_planning": False}}) as stack:
        state = begin_and_plan(stack.app, RUN)
        jobs = job_messages(stack.app, state["run"]["run_id"])
        object_types = Counter(job_id.split("-")[1] for job_id in jobs)
        assert min(object_types["companies"], object_types["contacts"]) >= 2, object_types
        yield PlannedRun(stack, state["run"]["run_id"], jobs)


def body(message: dict[str, str]) -> str:
    return json.dumps(message)


def job_status(run: PlannedRun, job_id: str) -> tuple[str, int]:
    item = run_item(run.stack.app, f"job#{run.run_id}#{job_id}")
    assert item is not None, f"job {job_id} was never started"
    return item["status"]["S"], int(item["attempts"]["N"])


def assert_applied(run: PlannedRun, message: dict[str, str]) -> None:
    object_type = message["job_id"].split("-")[1]
    for change in run.planned_changes(message):
        assert run.stage(object_type, change["object_id"]) == change["target"], change


# ---------------------------------------------------------------- partial batch failures


def test_a_malformed_record_is_the_only_batch_item_failure(planned_run: PlannedRun):
    app = planned_run.stack.app
    good = planned_run.job("companies", 0)
    # GIVEN a batch of one good fix job and one record whose body is not a fix job
    good_record = sqs_record(app, body(good))
    bad_record = sqs_record(app, '{"run_id": "' + planned_run.run_id + '", "job": "lost its job id"}')
    # WHEN the worker gets the batch
    invocation = invoke(app, "FixWorkerFunction", {"Records": [good_record, bad_record]})
    # THEN it succeeds, reporting only the bad record for redelivery
    assert not invocation.failed, invocation.error_message
    assert invocation.payload == {"batchItemFailures": [{"itemIdentifier": bad_record["messageId"]}]}
    # ... and the good job was applied and settled
    assert job_status(planned_run, good["job_id"]) == ("done", 1)
    assert_applied(planned_run, good)


def test_a_job_that_fails_is_the_only_batch_item_failure(planned_run: PlannedRun):
    app, sandbox = planned_run.stack.app, planned_run.stack.sandbox
    good = planned_run.job("companies", 1)
    broken = planned_run.job("contacts", 0)
    # GIVEN a batch of one good fix job and one whose writes HubSpot keeps failing (its first delivery)
    sandbox.queue_fault(path="/crm/v3/objects/contacts/batch/update", status=503, times=20)
    good_record, broken_record = sqs_record(app, body(good)), sqs_record(app, body(broken))
    # WHEN the worker gets the batch
    try:
        invocation = invoke(app, "FixWorkerFunction", {"Records": [broken_record, good_record]})
    finally:
        sandbox.clear_faults()
    # THEN only the failed job is reported, so SQS redelivers it and deletes the good one
    assert not invocation.failed, invocation.error_message
    assert invocation.payload == {"batchItemFailures": [{"itemIdentifier": broken_record["messageId"]}]}
    assert job_status(planned_run, good["job_id"]) == ("done", 1)
    assert_applied(planned_run, good)
    # ... the failed job is not settled yet: a later delivery may still succeed
    assert job_status(planned_run, broken["job_id"]) == ("started", 1)
    state = RunTracker(app.client("dynamodb"), app.table_name).state(planned_run.run_id)
    assert broken["job_id"] not in state.failed_jobs


def test_a_message_pointing_outside_its_runs_plan_is_refused_and_touches_nothing(planned_run: PlannedRun):
    app = planned_run.stack.app
    job = planned_run.job("contacts", 2)
    # GIVEN a message whose job key is not where its run's plan keeps that job (e.g. written by hand)
    forged = {**job, "job_key": f"work/another-run/jobs/{job['job_id']}.json"}
    before = planned_run.stack.sandbox.stats()["calls"]
    # WHEN the worker gets it
    invocation = invoke(app, "FixWorkerFunction", {"Records": [sqs_record(app, body(forged))]})
    # THEN it is refused: not retried, no attempt counted, nothing sent to HubSpot
    assert not invocation.failed, invocation.error_message
    assert invocation.payload == {"batchItemFailures": []}
    assert run_item(app, f"job#{planned_run.run_id}#{job['job_id']}") is None
    assert planned_run.stack.sandbox.stats()["calls"] == before


def test_a_message_naming_a_job_its_plan_does_not_have_is_refused_and_touches_nothing(planned_run: PlannedRun):
    app = planned_run.stack.app
    # GIVEN a message in its run's key layout for a job the plan never made: its job file does not exist (S3 tells
    # the worker so - 404, not 403 - only because its role may list the bucket)
    job_id = "099999-contacts-backward"
    assert job_id not in planned_run.jobs
    message = {
        "run_id": planned_run.run_id,
        "job_id": job_id,
        "job_key": f"work/{planned_run.run_id}/jobs/{job_id}.json",
    }
    before = planned_run.stack.sandbox.stats()["calls"]
    # WHEN the worker gets it
    invocation = invoke(app, "FixWorkerFunction", {"Records": [sqs_record(app, body(message))]})
    # THEN it is refused: not retried, no attempt counted, nothing sent to HubSpot
    assert not invocation.failed, invocation.error_message
    assert invocation.payload == {"batchItemFailures": []}
    (settled,) = [line for line in invocation.output.log_records() if line["message"] == "fix job settled"]
    assert (settled["status"], settled["reason"]) == (
        "refused",
        f"fix job {job_id}: {message['job_key']} does not exist",
    )
    assert run_item(app, f"job#{planned_run.run_id}#{job_id}") is None
    assert planned_run.stack.sandbox.stats()["calls"] == before


# ---------------------------------------------------------------- idempotency


def test_a_duplicate_delivery_returns_the_stored_result_and_writes_nothing(planned_run: PlannedRun):
    app, sandbox = planned_run.stack.app, planned_run.stack.sandbox
    message = planned_run.job("contacts", 1)
    record = sqs_record(app, body(message))
    # GIVEN a fix job delivered and applied once
    first = invoke(app, "FixWorkerFunction", {"Records": [record]})
    assert first.payload == {"batchItemFailures": []}
    assert_applied(planned_run, message)
    (settled,) = [line for line in first.output.log_records() if line["message"] == "fix job settled"]
    assert settled["status"] == "done"
    assert settled["applied"] > 0
    tracker = RunTracker(app.client("dynamodb"), app.table_name)
    applied_after_first = tracker.state(planned_run.run_id).applied
    stats_after_first = sandbox.stats()

    # WHEN SQS delivers it again: the same record, and the same job in a second message (at-least-once delivery)
    again = invoke(app, "FixWorkerFunction", {"Records": [record]})
    duplicate = sqs_record(app, body(message), receive_count=2)
    third = invoke(app, "FixWorkerFunction", {"Records": [duplicate]})

    # THEN both succeed, returning the result stored by the first delivery
    for delivery in (again, third):
        assert delivery.payload == {"batchItemFailures": []}
        (logged,) = [line for line in delivery.output.log_records() if line["message"] == "fix job settled"]
        assert {key: logged[key] for key in settled if key in ("job_id", "status", "applied", "failed")} == {
            key: settled[key] for key in ("job_id", "status", "applied", "failed")
        }
    # ... without a single HubSpot request (so no write), and without counting the job again
    assert sandbox.stats() == stats_after_first
    assert tracker.state(planned_run.run_id).applied == applied_after_first
    # ... because the idempotency layer answered before the job ran: the job was attempted exactly once
    assert job_status(planned_run, message["job_id"]) == ("done", 1)
    records = app.client("dynamodb").scan(
        TableName=app.table_name,
        FilterExpression="begins_with(id, :fn)",
        ExpressionAttributeValues={":fn": {"S": app.stack.physical_ids["FixWorkerFunction"]}},
    )["Items"]
    completed = [item for item in records if item["status"]["S"] == "COMPLETED"]
    assert len(completed) == len({r["id"]["S"] for r in completed}) >= 1
    stored = [json.loads(item["data"]["S"]) for item in completed]
    assert {"job_id": message["job_id"], "status": "done", "applied": settled["applied"]}.items() <= next(
        result for result in stored if result["job_id"] == message["job_id"]
    ).items()
