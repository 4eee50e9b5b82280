"""The fix-job queue (SQS): one message per job, and the dead-letter queue where a job that kept failing ends.

A message names its job's object in S3 rather than carrying the changes: a job of 1,000 changes is ~60 KB of
JSON, and SQS messages stop at 256 KB; the worker reads the job from S3.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

SQS_BATCH = 10  # SendMessageBatch / ReceiveMessage limit
SQS_ENTRY_ID_LENGTH = 80
DEAD_LETTER_PAGES = 10  # receives per sweep: up to 100 dead jobs, the rest at the next poll
DEAD_LETTER_VISIBILITY_SECONDS = 60


class FixJobMessage(BaseModel):
    run_id: str
    job_id: str
    job_key: str


class QueueRefused(RuntimeError):
    """SQS did not take some of the fix jobs."""


class JobQueue:
    def __init__(self, sqs: Any, queue_url: str, dead_letter_queue_url: str | None = None) -> None:
        """``dead_letter_queue_url`` None: a sender only (the planner), which never reads dead jobs."""
        self._sqs = sqs
        self._queue_url = queue_url
        self._dead_letter_queue_url = dead_letter_queue_url

    def send(self, messages: Sequence[FixJobMessage]) -> None:
        for start in range(0, len(messages), SQS_BATCH):
            entries = [
                {"Id": message.job_id[:SQS_ENTRY_ID_LENGTH].replace(".", "_"), "MessageBody": message.model_dump_json()}
                for message in messages[start : start + SQS_BATCH]
            ]
            reply = self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            if reply.get("Failed"):
                raise QueueRefused(f"SQS refused {len(reply['Failed'])} fix jobs: {reply['Failed'][0]}")

    def dead_jobs(self, run_id: str) -> Iterator[FixJobMessage]:
        """Jobs of ``run_id`` in the dead-letter queue. They are left there for operators to inspect or redrive
        (invisible for a minute, so one sweep sees each once); whoever settles them must be idempotent."""
        if self._dead_letter_queue_url is None:
            raise ValueError("this job queue was made without its dead-letter queue")
        for _ in range(DEAD_LETTER_PAGES):
            reply = self._sqs.receive_message(
                QueueUrl=self._dead_letter_queue_url,
                MaxNumberOfMessages=SQS_BATCH,
                VisibilityTimeout=DEAD_LETTER_VISIBILITY_SECONDS,
            )
            messages = reply.get("Messages", [])
            for message in messages:
                try:
                    job = FixJobMessage.model_validate_json(message["Body"])
                except ValidationError:
                    continue  # not one of ours
                if job.run_id == run_id:
                    yield job
            if len(messages) < SQS_BATCH:
                return
