"""Drive the steps of a run in the state machine's order, in-process, for functional tests of the engine.

The real ASL is executed on moto in tests/statemachine; here the same steps are called directly so a test can
reach into any point (crash a worker, deliver a job twice) and stay fast.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from lifecycle_guard import steps
from lifecycle_guard.planning import PlanCursor
from lifecycle_guard.runs import ExecutionInfo, RunContext, RunRequest
from lifecycle_guard.runtime import Services
from lifecycle_guard.steps import FixJobMessage, UndoCursor

LAMBDA_MS = 900_000


def deliver_jobs(services: Services, *, on_message: Callable[[FixJobMessage, int], None] | None = None) -> int:
    """Receive every queued fix job and hand it to the worker step, as Lambda's SQS poller would."""
    delivered = 0
    while True:
        reply = services.sqs.receive_message(
            QueueUrl=services.settings.job_queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
        )
        messages = reply.get("Messages", [])
        if not messages:
            return delivered
        for message in messages:
            job = FixJobMessage.model_validate_json(message["Body"])
            receive_count = int(message["Attributes"]["ApproximateReceiveCount"])
            try:
                if on_message is None:
                    steps.fix_job(job, receive_count, services)
                else:
                    on_message(job, receive_count)
            except Exception:
                continue
            services.sqs.delete_message(
                QueueUrl=services.settings.job_queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
            delivered += 1


def run_pipeline(
    services: Services,
    request: dict[str, Any],
    *,
    name: str | None = None,
    on_message: Callable[[FixJobMessage, int], None] | None = None,
) -> dict[str, Any]:
    """One run, begin to report; a step's exception is reported like the state machine's Catch does."""
    execution = ExecutionInfo(
        id=f"arn:aws:states:us-east-1:123456789012:execution:lifecycle-guard:{name or 'run'}",
        name=name or f"run-{time.time_ns()}",
        start_time=datetime.now(UTC),
    )
    state: dict[str, Any] = dict(request)
    try:
        begun = steps.begin(RunRequest.model_validate(request), execution, services)
        state = begun
        run = RunContext.model_validate(begun["run"])
        if run.action == "undo":
            cursor = UndoCursor.model_validate(begun["plan"])
            while not cursor.done:
                cursor = steps.undo(run, cursor, services, LAMBDA_MS)
            state["plan"] = cursor.model_dump(mode="json")
        else:
            plan = PlanCursor.model_validate(begun["plan"])
            while not plan.done:
                plan = steps.plan(run, plan, services, LAMBDA_MS)
            progress = steps.dispatch(run, services)
            while not progress.done:
                deliver_jobs(services, on_message=on_message)
                progress = steps.poll(run, services)
            state["progress"] = progress.model_dump(mode="json")
            prevention = steps.prevent(run, services)
            state["prevention"] = prevention.model_dump(mode="json")
            probe = steps.start_probe(run, prevention, services)
            state["probe"] = probe.model_dump(mode="json")
            time.sleep(probe.wait_seconds)
            state["verification"] = steps.verify(run, probe, prevention, services).model_dump(mode="json")
    except Exception as exc:
        state["failure"] = {"Error": type(exc).__name__, "Cause": str(exc)}
    return steps.report(execution, state, services)
