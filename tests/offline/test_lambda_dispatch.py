"""In-process Lambda invocations of the fixture app's real handlers (lifecycle_guard_offline.lambda_dispatch)."""

import json
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lifecycle_guard_offline import OfflineApp


def invoke(app: OfflineApp, logical_id: str, event: Any) -> tuple[str | None, Any]:
    """(FunctionError or None, parsed payload) of a synchronous lambda.invoke of a stack function."""
    response = app.client("lambda").invoke(
        FunctionName=app.stack.physical_ids[logical_id], Payload=json.dumps(event).encode()
    )
    return response.get("FunctionError"), json.loads(response["Payload"].read())


def step_event(name: str, **step_input: Any) -> dict[str, Any]:
    return {"input": step_input, "execution": name}


def test_handler_sees_the_functions_environment_only_while_it_runs(fixture_app: OfflineApp) -> None:
    assert "BUCKET_NAME" not in os.environ
    error, result = invoke(fixture_app, "StepFunction", step_event("env"))
    assert error is None
    assert result["environment"] == {
        "BUCKET_NAME": fixture_app.bucket_name,
        "TABLE_NAME": fixture_app.table_name,
        "HUBSPOT_TOKEN_SECRET_ARN": fixture_app.client("secretsmanager").describe_secret(
            SecretId="lifecycle-guard/hubspot-token"
        )["ARN"],
        "FIX_WORKERS": "2",  # a FindInMap number, a string as in Lambda
        "STEP_GREETING": "hello from the step function",  # the function's own Environment on top of Globals
        "AWS_LAMBDA_FUNCTION_NAME": fixture_app.stack.physical_ids["StepFunction"],
    }
    assert "BUCKET_NAME" not in os.environ


def test_context_describes_the_function_and_counts_down(fixture_app: OfflineApp) -> None:
    function_name = fixture_app.stack.physical_ids["StepFunction"]
    _, first = invoke(fixture_app, "StepFunction", step_event("context-1"))
    _, second = invoke(fixture_app, "StepFunction", step_event("context-2"))

    context = first["context"]
    assert context["function_name"] == function_name
    assert context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"].endswith(f":function:{function_name}")
    assert context["memory_limit_in_mb"] == "256"
    assert context["log_group_name"] == f"/aws/lambda/{function_name}"
    assert uuid.UUID(context["aws_request_id"]) != uuid.UUID(second["context"]["aws_request_id"])
    at_start, after_work = first["remaining_millis"]
    assert 29_000 < at_start <= 30_000  # Timeout: 30 in the fixture's Globals
    assert after_work <= at_start - 50  # the handler sleeps 50 ms between the two readings


def test_handler_exception_is_a_lambda_function_error(fixture_app: OfflineApp) -> None:
    error, payload = invoke(fixture_app, "StepFunction", step_event("boom", **{"raise": "FlakyError"}))
    assert error == "Unhandled"
    assert payload["errorType"] == "FlakyError"
    assert payload["errorMessage"] == "the step failed on purpose"
    uuid.UUID(payload["requestId"])
    # Only the handler's frames, as the runtime reports them.
    assert len(payload["stackTrace"]) == 1
    assert "fixture_app/functions/step/app.py" in payload["stackTrace"][0]


def test_function_without_code_fails_like_a_missing_module(fixture_app: OfflineApp) -> None:
    error, payload = invoke(fixture_app, "UnwrittenFunction", {})
    assert error == "Unhandled"
    assert payload["errorType"] == "Runtime.ImportModuleError"
    assert payload["errorMessage"] == "Unable to import module 'app': No module named 'app'"


def test_overlapping_invocations_run_at_once_each_in_its_own_container(fixture_app: OfflineApp) -> None:
    # GIVEN three invocations of one function that each hold for a second, started together
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(
            pool.map(lambda n: invoke(fixture_app, "StepFunction", step_event(f"overlap-{n}", hold=1.0)), range(3))
        )
    # THEN they ran at the same time (every hold began before any ended), each in a container of its own
    assert [error for error, _ in results] == [None, None, None]
    assert max(payload["held"][0] for _, payload in results) < min(payload["held"][1] for _, payload in results)
    assert len({payload["container"] for _, payload in results}) == 3
    assert fixture_app.peak_concurrency("StepFunction") >= 3
    # AND each saw its function's environment throughout, though the others changed theirs meanwhile
    assert {payload["environment"]["STEP_GREETING"] for _, payload in results} == {"hello from the step function"}
    assert "BUCKET_NAME" not in os.environ


def test_an_invocation_sees_its_own_functions_environment_while_another_function_runs(fixture_app: OfflineApp) -> None:
    # GIVEN the step function holding while the report function (whose environment lacks STEP_GREETING) runs
    with ThreadPoolExecutor(max_workers=2) as pool:
        step = pool.submit(invoke, fixture_app, "StepFunction", step_event("beside-report", hold=0.3))
        time.sleep(0.1)
        report = pool.submit(
            invoke, fixture_app, "ReportFunction", {"execution": "beside-step", "failure": {"Error": "x"}}
        )
        (step_error, step_payload), (report_error, _) = step.result(), report.result()
    # THEN neither saw the other's variables
    assert (step_error, report_error) == (None, None)
    assert step_payload["environment"]["STEP_GREETING"] == "hello from the step function"
    assert step_payload["environment"]["AWS_LAMBDA_FUNCTION_NAME"] == fixture_app.stack.physical_ids["StepFunction"]


def test_a_warm_container_is_reused_until_the_containers_are_recycled(fixture_app: OfflineApp) -> None:
    _, first = invoke(fixture_app, "StepFunction", step_event("warm-1"))
    _, second = invoke(fixture_app, "StepFunction", step_event("warm-2"))
    # GIVEN one invocation after another, THEN the second ran warm, in the first's container
    assert first["container"] == second["container"]
    # WHEN the containers are recycled, THEN the next invocation starts cold, in a new one
    fixture_app.recycle_containers()
    _, third = invoke(fixture_app, "StepFunction", step_event("warm-3"))
    assert third["container"] != first["container"]
