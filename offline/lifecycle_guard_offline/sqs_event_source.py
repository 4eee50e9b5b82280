"""Lambda's SQS event source, emulated by polling as Lambda does (written against moto 5.2.5).

moto's own SQS -> Lambda mapping invokes the function synchronously inside SendMessage, in the sender's thread, and
deletes the whole batch on success even when the function reports `batchItemFailures` (moto/sqs/models.py,
`Queue.add_message`). Here each mapping is disabled in moto (UpdateEventSourceMapping Enabled=False, so moto's
GetEventSourceMapping then reports it "Disabled") and served by pollers on background threads instead:

- ReceiveMessage up to BatchSize (at most 10 per call; with MaximumBatchingWindowInSeconds it keeps receiving until
  the batch is full or the window has passed), with the queue's own visibility timeout;
- invoke the function through the moto Lambda API with the real SQS event shape (so `lambda_dispatch` runs it);
- on success delete the batch - all of it, or, when the mapping has FunctionResponseTypes ReportBatchItemFailures,
  all but the reported items (a malformed report fails the whole batch, as in Lambda);
- on a function error delete nothing.

A message that is not deleted would come back after the queue's visibility timeout (1800 s in template.yaml), so
the poller shortens it to `retry_delay_seconds` (ChangeMessageVisibility) - the one deliberate deviation. moto moves
a message to the dead-letter queue on the receive after its receive count reached maxReceiveCount, as SQS does.

With an `IamEnforcer`, the pollers' SQS calls are authorised against the function's execution role, as Lambda's
poller uses it (GetQueueAttributes when it starts, ReceiveMessage, DeleteMessage; AWS Lambda Developer Guide,
"Execution role permissions" for SQS event sources, the actions of AWSLambdaSQSQueueExecutionRole). The invocation
itself is the Lambda service's and needs no permission, and the shortened visibility timeout is the harness's own
deviation, made as the operator: Lambda makes neither call with the role.

Concurrency: one worker thread per concurrent batch - `concurrency`, or the mapping's
ScalingConfig.MaximumConcurrency when that is None (Lambda's initial 5 pollers if unset). Each worker invokes the
function on its own thread, and `lambda_dispatch` runs overlapping invocations at once in containers of their own,
so up to that many handlers really run concurrently.

Idle workers wait for the queue to change, as Lambda's long polls do, without holding a request open: the harness
lets one SQS request run at a time (`atomic_requests`), so a long poll would block every sender. A botocore hook on
every client (registered in `BUILTIN_HANDLERS`, as moto registers its own) sees each SendMessage(Batch) and
ChangeMessageVisibility(Batch) once moto has answered it and wakes the queue's idle workers - at once for a message
visible now, at its DelaySeconds or VisibilityTimeout for one visible later. An idle worker also looks again after
`idle_recheck_seconds` in any case, for whatever no call announces (a queue's own DelaySeconds attribute, an
in-flight message's visibility timeout running out). Pollers that looked every 50 ms instead spent a fifth of a
100k-contact run's CPU receiving nothing (py-spy, bench/pipeline_cost.py, 2026-12-07).
"""

import base64
import heapq
import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.handlers import BUILTIN_HANDLERS

from lifecycle_guard_offline.call_params import params_of
from lifecycle_guard_offline.iam_enforcement import OPERATOR, IamEnforcer, Principal, acting_as

_LOG = logging.getLogger(__name__)
_MAX_RECEIVE = 10  # SQS ReceiveMessage limit
_LAMBDA_INITIAL_POLLERS = 5
# Lambda invokes a function for its event source mapping on its own authority, not the function's role's.
LAMBDA_EVENT_SOURCE = Principal("Lambda event source mapping", None)


class SqsEventSourceError(RuntimeError):
    """A poller stopped on an unexpected error (a harness or moto bug, not a function error)."""


class QueueActivity:
    """When a queue's idle pollers should look again: a count of the changes that made messages visible, and the
    times at which changes already made will (DelaySeconds, VisibilityTimeout)."""

    # moto stamps visibility in milliseconds and shows a message only once the clock is past the stamp.
    _VISIBLE_AFTER_STAMP_SECONDS = 0.002

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._changes = 0
        self._due: list[float] = []  # monotonic times, a heap

    @property
    def changes(self) -> int:
        with self._changed:
            return self._changes

    def changed(self, visible_in_seconds: float = 0.0) -> None:
        with self._changed:
            if visible_in_seconds > 0:
                heapq.heappush(self._due, time.monotonic() + visible_in_seconds + self._VISIBLE_AFTER_STAMP_SECONDS)
            else:
                self._changes += 1
            self._changed.notify_all()

    def wait(self, seen: int, timeout_seconds: float) -> None:
        """Returns once the queue changed after `seen` (a value of `changes`), or after `timeout_seconds`; a due time
        coming counts as a change for every waiting poller."""
        deadline = time.monotonic() + timeout_seconds
        with self._changed:
            while self._changes == seen:
                now = time.monotonic()
                if self._due and self._due[0] <= now:
                    while self._due and self._due[0] <= now:
                        heapq.heappop(self._due)
                    self._changes += 1
                    self._changed.notify_all()
                    return
                until = min(deadline, self._due[0]) if self._due else deadline
                if until <= now:
                    return
                self._changed.wait(until - now)


_activity: dict[str, QueueActivity] = {}
_activity_lock = threading.Lock()


def queue_activity(queue_url: str) -> QueueActivity:
    """The activity of a queue, by its account and name (the URL's last two path segments)."""
    key = "/".join(queue_url.rstrip("/").split("/")[-2:])
    with _activity_lock:
        return _activity.setdefault(key, QueueActivity())


def _announce_change(model: Any, http_response: Any, context: Mapping[str, Any], **_: Any) -> None:
    """After a call that adds messages or changes when they are visible, wakes the queue's idle pollers."""
    params = params_of(context)
    if http_response.status_code >= 300 or "QueueUrl" not in params:
        return
    if model.name in ("SendMessage", "ChangeMessageVisibility"):
        entries = [params]
    elif model.name in ("SendMessageBatch", "ChangeMessageVisibilityBatch"):
        entries = params.get("Entries", [])
    else:
        return
    activity = queue_activity(params["QueueUrl"])
    for delay in sorted({float(entry.get("DelaySeconds", entry.get("VisibilityTimeout", 0))) for entry in entries}):
        activity.changed(visible_in_seconds=delay)


BUILTIN_HANDLERS.append(("after-call.sqs", _announce_change))


@dataclass(frozen=True)
class SqsMapping:
    uuid: str
    function_arn: str
    queue_arn: str
    queue_url: str
    batch_size: int
    batching_window_seconds: int
    report_batch_item_failures: bool
    maximum_concurrency: int | None

    @classmethod
    def from_configuration(cls, configuration: Mapping[str, Any], queue_url: str) -> "SqsMapping":
        """From a GetEventSourceMapping/ListEventSourceMappings entry."""
        return cls(
            uuid=configuration["UUID"],
            function_arn=configuration["FunctionArn"],
            queue_arn=configuration["EventSourceArn"],
            queue_url=queue_url,
            batch_size=int(configuration.get("BatchSize", _MAX_RECEIVE)),
            batching_window_seconds=int(configuration.get("MaximumBatchingWindowInSeconds") or 0),
            report_batch_item_failures="ReportBatchItemFailures" in (configuration.get("FunctionResponseTypes") or []),
            maximum_concurrency=configuration.get("ScalingConfig", {}).get("MaximumConcurrency"),
        )


class SqsMappingPoller:
    """Lambda's pollers for one SQS event source mapping."""

    def __init__(
        self,
        session: boto3.session.Session,
        mapping: SqsMapping,
        *,
        concurrency: int,
        retry_delay_seconds: int,
        idle_recheck_seconds: float,
        poller_principal: Principal | None = None,
    ) -> None:
        """`poller_principal`: whose role the SQS calls are authorised against (None: unchecked)."""
        self.mapping = mapping
        self._poller_principal = poller_principal
        # A session of its own: calls through the operator's session are never IAM-checked (`iam_enforcement`).
        self._sqs = boto3.session.Session(region_name=session.region_name).client("sqs")
        self._lambda = session.client("lambda")
        self._region = session.region_name
        self._retry_delay_seconds = retry_delay_seconds
        self._idle_recheck_seconds = idle_recheck_seconds
        self._activity = queue_activity(mapping.queue_url)
        self._stopping = threading.Event()
        self._failures: list[BaseException] = []
        self._workers = [
            threading.Thread(target=self._work, name=f"sqs-poller-{mapping.uuid[:8]}-{n}", daemon=True)
            for n in range(concurrency)
        ]

    def start(self) -> None:
        with self._acting_as(self._poller_principal):  # what Lambda checks the queue with before it polls
            self._sqs.get_queue_attributes(QueueUrl=self.mapping.queue_url, AttributeNames=["VisibilityTimeout"])
        for worker in self._workers:
            worker.start()

    def stop(self, timeout_seconds: float) -> None:
        """Stops after the batches in flight; raises if a worker failed or did not stop in time."""
        self._stopping.set()
        self._activity.changed()  # wakes the idle workers to see it
        deadline = time.monotonic() + timeout_seconds
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        stuck = [worker.name for worker in self._workers if worker.is_alive()]
        if stuck:
            raise SqsEventSourceError(f"pollers still busy after {timeout_seconds} s: {stuck}")
        if self._failures:
            raise SqsEventSourceError(f"poller for {self.mapping.queue_arn} failed") from self._failures[0]

    def _acting_as(self, principal: Principal | None) -> AbstractContextManager[None]:
        """Attributes AWS calls to `principal` when IAM is enforced."""
        return nullcontext() if principal is None or self._poller_principal is None else acting_as(principal)

    def _work(self) -> None:
        while not self._stopping.is_set():
            seen = self._activity.changes  # before the receive: a change during it ends the wait at once
            try:
                with self._acting_as(self._poller_principal):
                    polled = self._poll_once()
            except Exception as exc:  # not a function error (those come back as payloads): a bug to surface
                _LOG.exception("SQS poller for %s stopped", self.mapping.queue_arn)
                self._failures.append(exc)
                return
            if not polled and not self._stopping.is_set():
                self._activity.wait(seen, self._idle_recheck_seconds)

    def _poll_once(self) -> bool:
        """Receives and processes one batch; False if the queue had nothing visible."""
        messages = self._receive_batch()
        if not messages:
            return False
        failed_ids = self._invoke(messages)
        by_id = {message["MessageId"]: message for message in messages}
        done = [message for message in messages if message["MessageId"] not in failed_ids]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self.mapping.queue_url,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done)],
            )
        if failed_ids:
            with self._acting_as(OPERATOR):
                self._sqs.change_message_visibility_batch(
                    QueueUrl=self.mapping.queue_url,
                    Entries=[
                        {
                            "Id": str(n),
                            "ReceiptHandle": by_id[message_id]["ReceiptHandle"],
                            "VisibilityTimeout": self._retry_delay_seconds,
                        }
                        for n, message_id in enumerate(sorted(failed_ids))
                    ],
                )
        return True

    def _receive_batch(self) -> list[dict[str, Any]]:
        batch = self._receive(self.mapping.batch_size)
        window_ends = time.monotonic() + self.mapping.batching_window_seconds
        while (
            batch
            and len(batch) < self.mapping.batch_size
            and time.monotonic() < window_ends
            and not self._stopping.is_set()
        ):
            seen = self._activity.changes
            more = self._receive(self.mapping.batch_size - len(batch))
            batch.extend(more)
            if not more:
                self._activity.wait(seen, min(self._idle_recheck_seconds, window_ends - time.monotonic()))
        return batch

    def _receive(self, count: int) -> list[dict[str, Any]]:
        response = self._sqs.receive_message(
            QueueUrl=self.mapping.queue_url,
            MaxNumberOfMessages=min(count, _MAX_RECEIVE),
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    def _invoke(self, messages: list[dict[str, Any]]) -> set[str]:
        """Invokes the function with one batch; returns the ids of the messages that must stay in the queue."""
        event = {"Records": [self._record(message) for message in messages]}
        with self._acting_as(LAMBDA_EVENT_SOURCE):
            response = self._lambda.invoke(FunctionName=self.mapping.function_arn, Payload=json.dumps(event).encode())
        all_ids = {message["MessageId"] for message in messages}
        if "FunctionError" in response:
            return all_ids
        if not self.mapping.report_batch_item_failures:
            return set()
        return batch_item_failures(response["Payload"].read(), all_ids)

    def _record(self, message: Mapping[str, Any]) -> dict[str, Any]:
        record = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {
                name: _event_message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.mapping.queue_arn,
            "awsRegion": self._region,
        }
        if "MD5OfMessageAttributes" in message:
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        return record


def _event_message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    """A ReceiveMessage message attribute in the camel-case shape of the Lambda event."""
    attribute: dict[str, Any] = {
        "stringListValues": value.get("StringListValues", []),
        "binaryListValues": [base64.b64encode(v).decode() for v in value.get("BinaryListValues", [])],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return attribute


def batch_item_failures(payload: bytes, batch_ids: set[str]) -> set[str]:
    """The message ids a ReportBatchItemFailures response leaves in the queue, judged as Lambda judges it:
    no report (null, {}, [] ...) is success; a malformed one or an unknown id fails the whole batch."""
    try:
        response = json.loads(payload) if payload else None
    except ValueError:
        return batch_ids
    failures = response.get("batchItemFailures") if isinstance(response, dict) else None
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return batch_ids
    reported = set()
    for failure in failures:
        item_id = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(item_id, str) or item_id not in batch_ids:
            return batch_ids
        reported.add(item_id)
    return reported


@contextmanager
def sqs_event_sources(
    session: boto3.session.Session,
    *,
    concurrency: int | None = 1,
    retry_delay_seconds: int = 1,
    idle_recheck_seconds: float = 1.0,
    stop_timeout_seconds: float = 30.0,
    iam: IamEnforcer | None = None,
) -> Iterator[None]:
    """Replaces moto's handling of every SQS event source mapping in the session's account and region; with `iam`,
    each poller's SQS calls are authorised against its function's role."""
    if concurrency is not None and concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    lambda_client = session.client("lambda")
    sqs = session.client("sqs")
    pollers = []
    for page in lambda_client.get_paginator("list_event_source_mappings").paginate():
        for configuration in page["EventSourceMappings"]:
            if not configuration["EventSourceArn"].startswith("arn:aws:sqs:") or configuration["State"] != "Enabled":
                continue
            lambda_client.update_event_source_mapping(UUID=configuration["UUID"], Enabled=False)
            *_, account, queue_name = configuration["EventSourceArn"].split(":")
            queue_url = sqs.get_queue_url(QueueName=queue_name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            mapping = SqsMapping.from_configuration(configuration, queue_url)
            workers = concurrency or mapping.maximum_concurrency or _LAMBDA_INITIAL_POLLERS
            role = lambda_client.get_function_configuration(FunctionName=mapping.function_arn)["Role"]
            pollers.append(
                SqsMappingPoller(
                    session,
                    mapping,
                    concurrency=workers,
                    retry_delay_seconds=retry_delay_seconds,
                    idle_recheck_seconds=idle_recheck_seconds,
                    poller_principal=None if iam is None else iam.principal(role),
                )
            )
    for poller in pollers:
        poller.start()
    try:
        yield
    finally:
        failures = []
        for poller in pollers:
            try:
                poller.stop(stop_timeout_seconds)
            except SqsEventSourceError as exc:
                failures.append(exc)
        if failures:
            raise failures[0]
