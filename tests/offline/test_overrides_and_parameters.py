"""Handler overrides, tier parameters and the SQS event shape, on an OfflineApp of this module's own."""

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import SqsModel

from lifecycle_guard_offline import LambdaContext, OfflineApp

worker_events: list[dict[str, Any]] = []


def refuse(event: Any, context: LambdaContext) -> Any:
    raise PermissionError("injected by the test")


def capture_worker_event(event: dict[str, Any], context: LambdaContext) -> Any:
    worker_events.append({"event": event, "fix_workers": os.environ["FIX_WORKERS"]})
    return {"batchItemFailures": []}


def unserialisable(event: Any, context: LambdaContext) -> Any:
    return {"not": {"json"}}


@pytest.fixture(scope="module")
def app(fixture_template) -> Iterator[OfflineApp]:
    overrides = {"StepFunction": refuse, "WorkerFunction": capture_worker_event, "UnwrittenFunction": unserialisable}
    with OfflineApp(
        template_path=fixture_template, api_tier="professional", sqs_concurrency=None, handler_overrides=overrides
    ) as app:
        yield app


def test_override_replaces_the_handler(app: OfflineApp) -> None:
    result = app.run({"hello": "world"}, name="overridden")

    # PermissionError is not in the Retry list: caught at once, under the exception's class name.
    assert len(result.events_of_type("LambdaFunctionFailed")) == 1
    assert (result.status, result.error) == ("FAILED", "PermissionError")
    assert app.read_json("failures/overridden.json")["Error"] == "PermissionError"  # the real report handler
    assert app.list_keys("steps/") == []  # the real step handler never ran


def test_unserialisable_result_is_a_marshal_error(app: OfflineApp) -> None:
    response = app.client("lambda").invoke(FunctionName=app.stack.physical_ids["UnwrittenFunction"])
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "Runtime.MarshalError"


def test_worker_concurrency_follows_the_tier(app: OfflineApp) -> None:
    pollers = [thread for thread in threading.enumerate() if thread.name.startswith("sqs-poller-")]
    assert len(pollers) == 4  # ScalingConfig.MaximumConcurrency = FixWorkers of the professional tier


def test_worker_receives_the_sqs_event_shape(app: OfflineApp, wait_until) -> None:
    queue_url = app.queue_urls["JobQueue"]
    app.client("sqs").send_message(
        QueueUrl=queue_url,
        MessageBody='{"id": "shape"}',
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "fix-job"}},
    )

    captured = wait_until(lambda: worker_events)[0]
    assert captured["fix_workers"] == "4"
    event = captured["event"]
    SqsModel.model_validate(event)  # the shape Powertools' parser (and so our worker) expects
    (record,) = event["Records"]
    assert record["body"] == '{"id": "shape"}'
    assert record["md5OfBody"] == hashlib.md5(b'{"id": "shape"}').hexdigest()
    assert record["eventSource"] == "aws:sqs"
    queue_arn = app.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    assert record["eventSourceARN"] == queue_arn["Attributes"]["QueueArn"]
    assert record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "ApproximateFirstReceiveTimestamp", "SenderId"} <= record["attributes"].keys()
    assert record["messageAttributes"] == {
        "kind": {"stringValue": "fix-job", "stringListValues": [], "binaryListValues": [], "dataType": "String"}
    }
    assert "md5OfMessageAttributes" in record
    wait_until(lambda: app.messages_in_queue("JobQueue") == 0)  # deleted after the successful invocation
