"""Waiting for a Step Functions execution that moto runs on a background thread (moto 5.2.5 with
`{"stepfunctions": {"execute_state_machine": True}}`); DescribeExecution is polled until the status is final."""

import json
import time
from dataclasses import dataclass
from typing import Any

_FINAL_STATUSES = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


@dataclass(frozen=True)
class ExecutionResult:
    arn: str
    status: str  # SUCCEEDED, FAILED, TIMED_OUT or ABORTED
    output: Any  # the parsed output JSON; None unless SUCCEEDED
    error: str | None
    cause: str | None
    history: list[dict[str, Any]]  # GetExecutionHistory events, oldest first

    def events_of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [event for event in self.history if event["type"] == event_type]


def wait_for_execution(
    sfn: Any, execution_arn: str, timeout_seconds: float, poll_seconds: float = 0.05
) -> ExecutionResult:
    """Polls until the execution has finished; TimeoutError (with the last status) if it has not in time."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        description = sfn.describe_execution(executionArn=execution_arn)
        if description["status"] in _FINAL_STATUSES:
            break
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{execution_arn} still {description['status']} after {timeout_seconds} s")
        time.sleep(poll_seconds)
    return ExecutionResult(
        arn=execution_arn,
        status=description["status"],
        output=json.loads(description["output"]) if "output" in description else None,
        error=description.get("error"),
        cause=description.get("cause"),
        history=execution_history(sfn, execution_arn),
    )


def execution_history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Every GetExecutionHistory event so far, oldest first."""
    return [
        event
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
        for event in page["events"]
    ]
