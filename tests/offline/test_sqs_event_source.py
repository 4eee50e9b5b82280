"""Lambda's SQS event source as emulated by lifecycle_guard_offline.sqs_event_source."""

import json
import threading
import time

import pytest
from moto.sqs.responses import SQSResponse

from lifecycle_guard_offline import OfflineApp
from lifecycle_guard_offline.sqs_event_source import QueueActivity, batch_item_failures, queue_activity


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


def test_an_idle_poller_wakes_as_soon_as_the_queue_changes() -> None:
    activity = QueueActivity()
    seen = activity.changes
    woke = threading.Event()

    def idle_poller() -> None:
        activity.wait(seen, timeout_seconds=30)
        woke.set()

    waiter = threading.Thread(target=idle_poller)
    waiter.start()

    time.sleep(0.05)
    assert not woke.is_set()
    activity.changed()

    assert woke.wait(1)
    waiter.join()


def test_a_change_during_the_receive_ends_the_wait_at_once() -> None:
    activity = QueueActivity()
    seen = activity.changes  # read before the (empty) receive
    activity.changed()  # a message sent while it ran

    started = time.monotonic()
    activity.wait(seen, timeout_seconds=30)

    assert time.monotonic() - started < 0.1


def test_a_message_visible_later_wakes_every_idle_poller_then() -> None:
    activity = QueueActivity()
    seen = activity.changes
    woke_at: list[float] = []

    def idle_poller() -> None:
        activity.wait(seen, timeout_seconds=30)
        woke_at.append(time.monotonic())

    waiters = [threading.Thread(target=idle_poller) for _ in range(3)]
    started = time.monotonic()
    for waiter in waiters:
        waiter.start()

    activity.changed(visible_in_seconds=0.3)
    for waiter in waiters:
        waiter.join(5)

    assert len(woke_at) == 3
    assert all(0.29 <= at - started < 1.0 for at in woke_at)


def test_an_idle_poller_without_news_looks_again_after_its_recheck_interval() -> None:
    activity = QueueActivity()
    started = time.monotonic()

    activity.wait(activity.changes, timeout_seconds=0.2)

    assert 0.19 <= time.monotonic() - started < 1.0


def test_sends_and_visibility_changes_on_any_client_are_announced(fixture_app: OfflineApp) -> None:
    sqs = fixture_app.client("sqs")
    url = fixture_app.queue_urls["JobDeadLetterQueue"]  # no poller: nothing takes the messages away
    activity = queue_activity(url)

    before = activity.changes
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "{}"}])
    assert activity.changes == before + 2

    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=60)["Messages"][0]
    seen = activity.changes
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=received["ReceiptHandle"], VisibilityTimeout=1)
    assert activity.changes == seen  # not visible yet
    started = time.monotonic()
    activity.wait(seen, timeout_seconds=30)
    assert 1.0 <= time.monotonic() - started < 2.0
    assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    sqs.purge_queue(QueueUrl=url)


def test_idle_pollers_wait_for_news_instead_of_polling(
    fixture_app: OfflineApp, wait_until, monkeypatch: pytest.MonkeyPatch
) -> None:
    receives: list[float] = []
    receive = SQSResponse.receive_message

    def counted(self: SQSResponse) -> object:
        receives.append(time.monotonic())
        return receive(self)

    monkeypatch.setattr(SQSResponse, "receive_message", counted)
    time.sleep(1.1)  # every poller back to waiting (the recheck interval is 1 s)
    receives.clear()

    time.sleep(2.0)
    # Each poller looks again once a second when nothing happens: 2 of them (the starter tier's FixWorkers), 2 s.
    # Polling every 50 ms, as they did, would be 80.
    assert len(receives) <= 2 * 3

    sent = time.monotonic()
    fixture_app.client("sqs").send_message(
        QueueUrl=fixture_app.queue_urls["JobQueue"], MessageBody=json.dumps({"id": "prompt", "fail": False})
    )
    wait_until(lambda: receives and receives[-1] > sent, timeout_seconds=2)
    assert min(at for at in receives if at > sent) - sent < 0.2
