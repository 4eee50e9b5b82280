"""In-process Lambda invocations of the fixture app's real handlers (lifecycle_guard_offline.lambda_dispatch)."""

import json
import os
import uuid
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
