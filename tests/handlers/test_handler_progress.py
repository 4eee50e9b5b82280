"""The progress handler's dispatch: the complete plan is checked against the safety caps before a single fix job is
enqueued; within the caps, one SQS message per job.

Dispatch sends to the queue named by FIX_JOB_QUEUE_URL. The stack's own job queue is drained at once by its SQS
event source, which would hide what was sent, so these tests load the handler with that variable pointing at a
queue nothing reads (everything else as deployed), and count what arrives there. The runs plan everything first
(``fix.overlap_planning`` off), so Dispatch is what hands the jobs over (test_handler_plan_handover.py has Plan
handing them over as it cuts them).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from handler_helpers import LoadedFunction, Stack, begin_and_plan, execution, run_item, running_stack
from pydantic import ValidationError

from lifecycle_guard.caps import CapExceededError
from lifecycle_guard.queue import FixJobMessage

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


@dataclass(frozen=True)
class Progress:
    stack: Stack
    handler: LoadedFunction  # functions/progress/app.py, sending to `queue_url`
    queue_url: str

    def queued(self) -> list[dict[str, Any]]:
        """Every message in the quiet queue (received once, then left invisible)."""
        sqs = self.stack.app.client("sqs")
        messages: list[dict[str, Any]] = []
        while batch := sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=300).get(
            "Messages", []
        ):
            messages.extend(batch)
        return messages


@pytest.fixture(scope="module")
def progress() -> Iterator[Progress]:
    with running_stack(config={"fix": {"overlap_planning": False}}) as stack:
        queue_url = stack.app.client("sqs").create_queue(QueueName="quiet-fix-jobs")["QueueUrl"]
        handler = LoadedFunction(stack.app, "ProgressFunction", {"FIX_JOB_QUEUE_URL": queue_url})
        yield Progress(stack, handler, queue_url)
        handler.unload()


def jobs_total(progress: Progress, run_id: str) -> int:
    item = run_item(progress.stack.app, f"run#{run_id}")
    assert item is not None
    return int(item.get("jobs_total", {"N": "0"})["N"])


def test_within_the_caps_dispatch_enqueues_one_message_per_job(progress: Progress):
    # GIVEN an apply run, planned
    state = begin_and_plan(progress.stack.app, "within-caps")
    run_id = state["run"]["run_id"]
    job_keys = sorted(progress.stack.app.list_keys(f"work/{run_id}/jobs/"))
    assert job_keys
    # WHEN it is dispatched
    status = progress.handler({"step": "dispatch", "execution": execution(state["run"]["run_id"])})
    # THEN each job is one message naming its run, job and plan key, and the run expects that many jobs
    messages = [FixJobMessage.model_validate_json(m["Body"]) for m in progress.queued()]
    assert sorted(message.job_key for message in messages) == job_keys
    assert {message.run_id for message in messages} == {run_id}
    assert all(message.job_key.endswith(f"/{message.job_id}.json") for message in messages)
    assert status == {
        "jobs_total": len(job_keys),
        "jobs_done": 0,
        "jobs_failed": 0,
        "done": False,
        "stalled": False,
        "wait_seconds": 1,  # ProgressPollSeconds
        "noticed_after_seconds": 0.0,
    }
    assert jobs_total(progress, run_id) == len(job_keys)


@pytest.mark.parametrize(
    ("caps", "named"),
    [({"max_changes": 5}, "over caps.max_changes=5"), ({"max_percent": 1}, "over caps.max_percent=1")],
    ids=["max_changes", "max_percent"],
)
def test_over_a_cap_dispatch_stops_before_any_message(progress: Progress, caps: dict[str, Any], named: str):
    sandbox = progress.stack.sandbox
    # GIVEN an apply run whose request sets a cap its plan exceeds
    state = begin_and_plan(progress.stack.app, f"over-{next(iter(caps))}", config={"caps": caps})
    planned = len(progress.stack.app.list_keys(f"work/{state['run']['run_id']}/jobs/"))
    assert planned > 0
    writes_before = sandbox.stats()["write_requests"]
    # WHEN it is dispatched
    with pytest.raises(CapExceededError) as refused:
        progress.handler({"step": "dispatch", "execution": execution(state["run"]["run_id"])})
    # THEN it is refused with the cap named, and nothing was enqueued, expected or written
    assert named in str(refused.value)
    assert "nothing was written" in str(refused.value)
    assert progress.queued() == []
    assert jobs_total(progress, state["run"]["run_id"]) == 0
    assert sandbox.stats()["write_requests"] == writes_before


def test_a_dry_run_dispatches_nothing(progress: Progress):
    # GIVEN a dry run, planned
    state = begin_and_plan(progress.stack.app, "dry-dispatch", mode="dry-run")
    planned = len(progress.stack.app.list_keys(f"work/{state['run']['run_id']}/jobs/"))
    assert planned > 0
    # WHEN it is dispatched, THEN no job is enqueued, and the fix phase is over at once
    status = progress.handler({"step": "dispatch", "execution": execution(state["run"]["run_id"])})
    assert progress.queued() == []
    assert status["done"] is True
    assert status["jobs_total"] == planned


def test_an_event_for_none_of_its_steps_is_refused(progress: Progress):
    with pytest.raises(ValidationError, match="'dispatch', 'poll' or 'stop'"):
        progress.handler({"step": "enqueue", "run": {}})
    assert progress.queued() == []
