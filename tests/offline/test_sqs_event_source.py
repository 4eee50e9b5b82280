"""Lambda's SQS event source as emulated by lifecycle_guard_offline.sqs_event_source."""

import json

import pytest

from lifecycle_guard_offline import OfflineApp
from lifecycle_guard_offline.sqs_event_source import batch_item_failures


def test_batch_item_failures_stay_and_end_in_the_dead_letter_queue(fixture_app: OfflineApp, wait_until) -> None:
    sqs = fixture_app.client("sqs")
    sqs.send_message_batch(
        QueueUrl=fixture_app.queue_urls["JobQueue"],
        Entries=[
            {"Id": job, "MessageBody": json.dumps({"id": job, "fail": job == "bad"})} for job in ("a", "b", "bad")
        ],
    )

    wait_until(lambda: fixture_app.messages_in_queue("JobDeadLetterQueue") == 1)

    dead = sqs.receive_message(QueueUrl=fixture_app.queue_urls["JobDeadLetterQueue"])["Messages"]
    assert json.loads(dead[0]["Body"])["id"] == "bad"
    assert fixture_app.messages_in_queue("JobQueue") == 0
    deliveries = {
        item["id"]["S"]: int(item["batch_size"]["N"])
        for item in fixture_app.client("dynamodb").scan(TableName=fixture_app.table_name)["Items"]
        if item["id"]["S"].startswith("delivery#")
    }
    # One batch of three (the mapping's batching window); the successes were deleted from it and never came back,
    # the reported failure was received maxReceiveCount (2) times, then moved to the dead-letter queue.
    assert deliveries == {"delivery#a#1": 3, "delivery#b#1": 3, "delivery#bad#1": 3, "delivery#bad#2": 1}


@pytest.mark.parametrize(
    ("response", "left_in_queue"),
    [
        ({"batchItemFailures": [{"itemIdentifier": "m2"}]}, {"m2"}),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": None}, set()),
        ({}, set()),
        (None, set()),
        ({"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]}, {"m1", "m2"}),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, {"m1", "m2"}),
        ({"batchItemFailures": [{"id": "m1"}]}, {"m1", "m2"}),
        ({"batchItemFailures": "m1"}, {"m1", "m2"}),
    ],
)
def test_batch_item_failures_are_judged_as_lambda_does(response, left_in_queue) -> None:
    assert batch_item_failures(json.dumps(response).encode(), {"m1", "m2"}) == left_in_queue


def test_unparseable_response_fails_the_batch() -> None:
    assert batch_item_failures(b"not json", {"m1"}) == {"m1"}
