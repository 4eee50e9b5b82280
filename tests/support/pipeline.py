"""Drive the steps of a run in the state machine's order, in-process, for functional tests of the engine.

The real ASL is executed on moto in tests/statemachine; here the same steps are called directly so a test can
reach into any point (crash a worker, deliver a job twice) and stay fast.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3

from lifecycle_guard import steps
from lifecycle_guard.contracts import CatchPayload, ExecutionInfo, ExecutionState, RunContext, RunRequest
from lifecycle_guard.queue import FixJobMessage
from lifecycle_guard.runtime import Services

LAMBDA_MS = 900_000


def deliver_jobs(services: Services, *, on_message: Callable[[FixJobMessage, int], None] | None = None) -> int:
    """Receive every queued fix job and hand it to the worker step, as Lambda's SQS poller would."""
    sqs = boto3.client("sqs")
    queue_url = services.settings.job_queue_url
    delivered = 0
    while True:
        reply = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])
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
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            delivered += 1


def _fix(
    run: RunContext,
    state: ExecutionState,
    services: Services,
    on_message: Callable[[FixJobMessage, int], None] | None,
) -> None:
    """Dispatch what is not handed over yet, then deliver the queued jobs to the worker until every one settled."""
    state.progress = steps.dispatch(run, services)
    while not state.progress.done:
        deliver_jobs(services, on_message=on_message)
        state.progress = steps.poll(run, services)


def _undo(
    run: RunContext,
    execution: ExecutionInfo,
    state: ExecutionState,
    services: Services,
    on_message: Callable[[FixJobMessage, int], None] | None,
) -> None:
    """Pause the prevention flows, decide the restores (handed to the queue as they are cut), wait for the workers
    to apply them, switch the flows back on (on the failure path too, once the restore jobs are stopped: in-process
    none is in flight), read back."""
    assert state.undo is not None
    try:
        state.paused = steps.pause_prevention(run, services)
        while not state.undo.done:
            state.undo = steps.undo(run, execution, services, LAMBDA_MS)
        _fix(run, state, services, on_message)
    except Exception:
        with contextlib.suppress(Exception):  # as StopRestores' Catch: the undo's own failure is the one to report
            state.progress = steps.stop(run, services)
        try:
            state.resumed = steps.resume_prevention(run, services)
        except Exception as exc:
            state.resume_failure = CatchPayload(Error=type(exc).__name__, Cause=str(exc))
        raise
    state.resumed = steps.resume_prevention(run, services)
    state.restores = steps.check_restores(run, services, LAMBDA_MS)


def run_pipeline(
    services: Services,
    request: dict[str, Any],
    *,
    name: str | None = None,
    on_message: Callable[[FixJobMessage, int], None] | None = None,
) -> dict[str, Any]:
    """One run, begin to report, building the state as the state machine does; a step's exception is reported
    like the state machine's Catch does (Begin's passes on only the failure)."""
    execution = ExecutionInfo(
        id=f"arn:aws:states:us-east-1:123456789012:execution:lifecycle-guard:{name or 'run'}",
        name=name or f"run-{time.time_ns()}",
        start_time=datetime.now(UTC),
    )
    state = ExecutionState()
    try:
        begun = steps.begin(RunRequest.model_validate(request), execution, services)
        state = ExecutionState.model_validate(begun.model_dump())
        run = steps.load_run(services.store, execution)
        if state.undo is not None:
            _undo(run, execution, state, services, on_message)
        else:
            assert state.plan is not None
            while not state.plan.done:
                state.plan = steps.plan(run, execution, services, LAMBDA_MS)
            _fix(run, state, services, on_message)
            state.prevention = steps.prevent(run, services)
            state.probe = steps.start_probe(run, state.prevention, services)
            while state.probe.started and not state.probe.settled:
                time.sleep(state.probe.next_check_seconds)
                state.probe = steps.check_probe(run, state.probe, services)
            state.verification = steps.verify(run, state.probe, state.prevention, services)
    except Exception as exc:
        state.failure = CatchPayload(Error=type(exc).__name__, Cause=str(exc))
    return steps.report(execution, state, services).model_dump(mode="json")
