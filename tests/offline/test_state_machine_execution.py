"""The fixture state machine executed by moto, its Tasks running the real handlers in-process."""

import json

from lifecycle_guard_offline import OfflineApp


def test_execution_runs_the_handlers(fixture_app: OfflineApp) -> None:
    result = fixture_app.run({"hello": "world"}, name="runs-handlers")

    assert result.status == "SUCCEEDED", result.cause
    assert result.output["environment"]["BUCKET_NAME"] == fixture_app.bucket_name
    # The handler's side effects, in moto's S3 and DynamoDB.
    written = fixture_app.read_json("steps/runs-handlers.json")
    assert written == {"input": {"hello": "world"}, "execution": "runs-handlers"}
    item = fixture_app.client("dynamodb").get_item(
        TableName=fixture_app.table_name, Key={"id": {"S": "step#runs-handlers"}}
    )["Item"]
    assert item["function_name"]["S"] == fixture_app.stack.physical_ids["StepFunction"]


def test_handler_exception_is_retried_then_caught_by_class_name(fixture_app: OfflineApp) -> None:
    result = fixture_app.run({"raise": "FlakyError"}, name="flaky")

    # Retry: FlakyError, MaxAttempts 2 -> three attempts; then Catch -> ReportFailure -> Fail with ErrorPath.
    assert len(result.events_of_type("LambdaFunctionFailed")) == 3
    assert result.status == "FAILED"
    assert result.error == "FlakyError"
    caught = fixture_app.read_json("failures/flaky.json")  # written by the real report handler
    assert caught["Error"] == "FlakyError"
    assert json.loads(caught["Cause"])["errorMessage"] == "the step failed on purpose"
    assert "steps/flaky.json" not in fixture_app.list_keys("steps/")


def test_schedule_input_starts_a_run(fixture_app: OfflineApp, fixture_guard_config) -> None:
    result = fixture_app.run(fixture_app.scheduled_input, name="scheduled")

    assert result.status == "SUCCEEDED", result.cause
    assert fixture_app.read_json("steps/scheduled.json")["input"]["config"] == fixture_guard_config
