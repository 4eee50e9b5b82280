"""The HubSpot token comes from Secrets Manager through Powertools Parameters (``get_secret``) and is never logged;
every handler logs JSON lines and publishes its metrics in CloudWatch's Embedded Metric Format.

The stack logs at DEBUG (template parameter LogLevel), the most a deployment can be configured to log.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from handler_helpers import (
    TOKEN,
    Captured,
    Stack,
    begin_event,
    captured_output,
    drive_run,
    invoke,
    running_stack,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

WRONG_TOKEN = "pat-na1-00000000-dead-beef-0000-notthetoken"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack(parameters={"LogLevel": "DEBUG"}) as stack:
        yield stack


def secret_arn(stack: Stack) -> str:
    variables = stack.app.client("lambda").get_function_configuration(
        FunctionName=stack.app.stack.physical_ids["AuditPlanFunction"]
    )["Environment"]["Variables"]
    return str(variables["HUBSPOT_TOKEN_SECRET_ARN"])


def put_secret(stack: Stack, value: str) -> None:
    stack.app.client("secretsmanager").put_secret_value(SecretId=secret_arn(stack), SecretString=value)


@dataclass(frozen=True)
class LoggedRun:
    state: dict[str, Any]
    output: Captured
    rejected: str  # the error document (type, message, stack trace) of a Begin whose token HubSpot rejected


@pytest.fixture(scope="module")
def logged_run(stack: Stack) -> LoggedRun:
    # GIVEN the stack logging at DEBUG, WHEN a whole apply run goes through the handlers - and a run whose token
    # HubSpot rejects (with the real token still in the logs' reach: the secret, the cache, the gateway)
    with captured_output() as output:
        state = drive_run(stack.app, "logged-run")
        put_secret(stack, json.dumps({"token": WRONG_TOKEN}))
        stack.app.recycle_containers()
        rejected = invoke(stack.app, "AuditPlanFunction", begin_event("rejected-run"), capture=False)
    put_secret(stack, json.dumps({"token": TOKEN}))
    stack.app.recycle_containers()
    assert rejected.error_type == "AuthenticationFailed"
    return LoggedRun(state, output, json.dumps(rejected.payload))


# ---------------------------------------------------------------- the token


def test_the_token_is_read_from_secrets_manager(stack: Stack):
    app = stack.app
    # GIVEN functions whose configuration names the secret, never the token
    for name in app.stack.physical_ids_of_type("AWS::Lambda::Function").values():
        variables = app.client("lambda").get_function_configuration(FunctionName=name)["Environment"]["Variables"]
        assert TOKEN not in json.dumps(variables)
        assert variables["HUBSPOT_TOKEN_SECRET_ARN"] == secret_arn(stack)
    try:
        # WHEN the secret holds a token HubSpot rejects, THEN Begin fails with HubSpot's 401
        put_secret(stack, json.dumps({"token": WRONG_TOKEN}))
        stack.app.recycle_containers()
        rejected = invoke(app, "AuditPlanFunction", begin_event("secret-wrong"))
        assert rejected.error_type == "AuthenticationFailed"
        assert "401" in rejected.error_message
        # WHEN it holds the right token - as a plain string this time - THEN Begin gets through
        put_secret(stack, TOKEN)
        stack.app.recycle_containers()
        accepted = invoke(app, "AuditPlanFunction", begin_event("secret-plain"))
        assert not accepted.failed, accepted.error_message
        # WHEN it changes again while the value is cached, THEN the cached token is used (a warm container
        # caches the secret for five minutes: no Secrets Manager call per HubSpot request or per invocation)
        put_secret(stack, json.dumps({"token": WRONG_TOKEN}))
        cached = invoke(app, "AuditPlanFunction", begin_event("secret-cached"))
        assert not cached.failed, cached.error_message
    finally:
        put_secret(stack, json.dumps({"token": TOKEN}))
        stack.app.recycle_containers()


def test_the_token_is_never_logged(stack: Stack, logged_run: LoggedRun):
    text = logged_run.output.text
    # THEN the run logged every step, and the rejected run its start
    messages = [record["message"] for record in logged_run.output.log_records()]
    assert {"run starting", "planned", "fix jobs", "fix job settled", "verified", "run reported"} <= set(messages)
    assert messages.count("run starting") == 2
    assert "401" in logged_run.rejected
    # ... but never the token, nor any part of it that would identify it
    assert TOKEN not in text
    assert TOKEN.rsplit("-", 1)[-1] not in text
    assert WRONG_TOKEN not in text
    # ... nor did it reach the error Lambda returns (which Step Functions records), the run's payloads, its files
    # or its table
    assert TOKEN not in logged_run.rejected
    assert WRONG_TOKEN not in logged_run.rejected
    assert TOKEN not in json.dumps(logged_run.state)
    app = stack.app
    for key in app.list_keys():
        assert TOKEN.encode() not in app.read_object(key), key
    items = app.client("dynamodb").scan(TableName=app.table_name)["Items"]
    assert items
    assert TOKEN not in json.dumps(items)


# ---------------------------------------------------------------- logs and metrics


def test_handlers_log_structured_json_lines(logged_run: LoggedRun):
    records = logged_run.output.log_records()
    started = next(record for record in records if record["message"] == "run starting")
    # Powertools Logger: service, the Lambda context, and the keys the handler adds
    assert started["service"] == "lifecycle-guard"
    assert started["function_name"].startswith("lifecycle-guard-AuditPlanFunction")
    assert {"function_request_id", "cold_start", "timestamp", "level"} <= started.keys()
    assert (started["action"], started["mode"], started["source"]) == ("run", "apply", "console")


def test_every_handler_publishes_its_metrics_as_emf(logged_run: LoggedRun):
    documents = logged_run.output.metrics()
    by_metric: dict[str, list[dict[str, Any]]] = {}
    for document in documents:
        # THEN each is a valid EMF document: namespace and dimensions from the template's Powertools settings
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "LifecycleGuard"
        assert directive["Dimensions"] == [["service"]]
        assert document["service"] == "lifecycle-guard"
        assert isinstance(document["_aws"]["Timestamp"], int)
        for metric in directive["Metrics"]:
            assert metric["Unit"] == "Count"
            by_metric.setdefault(metric["Name"], []).append(document)
    # ... one metric (at least) from every step of the run
    assert {
        "RunsStarted",  # AuditPlan: begin
        "PlanChunks",  # AuditPlan: plan
        "FixJobsOpen",  # Progress
        "ChangesApplied",  # FixWorker
        "PreventionFailed",  # Prevention
        "PreventionProbes",  # Verify: start_probe
        "ChecksFailed",  # Verify: verify
        "RunSucceeded",  # Report
    } <= by_metric.keys()
    # ... with the values of this run
    summary = logged_run.state["summary"]
    assert [document["RunsStarted"] for document in by_metric["RunsStarted"]] == [[1.0]]
    assert (
        sum(sum(document["ChangesApplied"]) for document in by_metric["ChangesApplied"]) == summary["changes_applied"]
    )
    assert summary["changes_applied"] > 0
    assert by_metric["RunSucceeded"][-1]["RunSucceeded"] == [1.0]
    assert by_metric["ChecksFailed"][-1]["ChecksFailed"] == [0.0]
    assert by_metric["FixJobsOpen"][-1]["FixJobsOpen"] == [0.0]
