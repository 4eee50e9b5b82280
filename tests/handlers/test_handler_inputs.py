"""Every handler parses its input with pydantic (Powertools Parser, or the batch processor's record model) before
doing anything: a malformed event fails with a validation error naming the field, and touches nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from handler_helpers import Stack, begin_event, execution, invoke, running_stack, sqs_record, succeeded

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

VALID_EXECUTION = execution("r1")  # $$.Execution, as the state machine passes it


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack() as stack:
        yield stack


# (function, event, what the error must name)
MALFORMED: list[tuple[str, Any, list[str]]] = [
    ("AuditPlanFunction", {"step": "launch"}, ["Input tag 'launch'", "'begin', 'plan'"]),
    (
        "AuditPlanFunction",
        {**begin_event("bad-mode"), "request": {"action": "run", "mode": "sideways"}},
        ["begin.request.mode", "'dry-run' or 'apply'"],
    ),
    (
        "AuditPlanFunction",
        {**begin_event("typo"), "request": {"mode": "apply", "confg": {}}},
        ["begin.request.confg", "Extra inputs are not permitted"],
    ),
    ("AuditPlanFunction", {"step": "plan"}, ["plan.execution", "Field required"]),
    (
        "AuditPlanFunction",
        {"step": "plan", "execution": VALID_EXECUTION, "cursor": {"after_id": 1}},
        ["plan.cursor", "Extra inputs are not permitted"],
    ),
    ("ProgressFunction", {"step": "dispatch"}, ["execution", "Field required"]),
    ("ProgressFunction", {"step": "wait", "execution": VALID_EXECUTION}, ["step", "'dispatch', 'poll' or 'stop'"]),
    ("PreventionFunction", {"execution": {**VALID_EXECUTION, "name": None}}, ["execution.name"]),
    ("PreventionFunction", {"run": {"run_id": "another-run"}}, ["run", "Extra inputs are not permitted"]),
    ("VerifyFunction", {"step": "verify", "execution": VALID_EXECUTION}, ["verify.probe", "verify.prevention"]),
    (
        "ReportFunction",
        {"execution": {**execution("r1"), "start_time": "yesterday"}, "state": {}},
        ["execution.start_time", "valid datetime"],
    ),
    (
        "UndoFunction",
        {"step": "undo", "execution": VALID_EXECUTION, "cursor": {"after_job": "000001-contacts-forward"}},
        ["undo.cursor", "Extra inputs are not permitted"],
    ),
    ("UndoFunction", {"step": "restore", "execution": VALID_EXECUTION}, ["'undo', 'check_restores'"]),
    ("PreventionFunction", {"step": "stop", "execution": VALID_EXECUTION}, ["step", "'ensure', 'pause' or 'resume'"]),
]


@pytest.mark.parametrize(
    ("function", "event", "named"), MALFORMED, ids=[f"{case[0]}-{n}" for n, case in enumerate(MALFORMED)]
)
def test_a_malformed_event_fails_validation_before_any_side_effect(
    stack: Stack, function: str, event: Any, named: list[str]
):
    app, sandbox = stack.app, stack.sandbox
    calls_before, keys_before = sandbox.stats()["calls"], app.list_keys()
    items_before = app.client("dynamodb").scan(TableName=app.table_name)["Count"]
    # WHEN the function is invoked with the malformed event
    invocation = invoke(app, function, event)
    # THEN it fails with pydantic's validation error, naming the field and what was wrong with it
    assert invocation.error_type == "ValidationError", invocation.payload
    for fragment in named:
        assert fragment in invocation.error_message
    # ... before it did anything: no HubSpot call, no object written, no item in the run table
    assert sandbox.stats()["calls"] == calls_before
    assert app.list_keys() == keys_before
    assert app.client("dynamodb").scan(TableName=app.table_name)["Count"] == items_before


def test_the_same_begin_event_made_valid_is_accepted(stack: Stack):
    # GIVEN the begin event of the cases above with a valid mode: the cases fail on what they break, nothing else
    state = succeeded(invoke(stack.app, "AuditPlanFunction", begin_event("fixed-mode")))
    assert state["run"]["run_id"] == "fixed-mode"
    assert state["run"]["mode"] == "apply"
    assert state["plan"] == {"object_type": "companies", "after_id": 0, "next_job": 0, "done": False}


def test_a_fix_job_record_that_is_not_a_fix_job_fails_validation_and_nothing_is_written(stack: Stack):
    app, sandbox = stack.app, stack.sandbox
    writes_before = sandbox.stats()["write_requests"]
    # GIVEN SQS records whose bodies are not fix job messages (not JSON; JSON without the job's key)
    records = [
        sqs_record(app, "{not json"),
        sqs_record(app, '{"run_id": "r1", "job_id": "000001-contacts-forward"}'),
    ]
    # WHEN the worker gets them
    invocation = invoke(app, "FixWorkerFunction", {"Records": records})
    # THEN every record failed its parse (a batch of only failures is a function error, so SQS redelivers)
    assert invocation.error_type == "BatchProcessingError"
    assert "All records failed processing. 2 individual errors" in invocation.error_message
    assert "FixJobRecord" in invocation.error_message  # the record model's validation error, logged with it
    assert sandbox.stats()["write_requests"] == writes_before


def test_an_event_that_is_not_an_sqs_batch_is_refused(stack: Stack):
    invocation = invoke(stack.app, "FixWorkerFunction", {"job_id": "000001-contacts-forward"})
    assert invocation.error_type == "UnexpectedBatchTypeError"
    assert stack.sandbox.stats()["write_requests"] == 0
