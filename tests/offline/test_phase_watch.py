"""Reading a run from its execution history: what a long wait waits for, which step failed and why, which probes
the live test created."""

import json
from datetime import UTC, datetime, timedelta

from lifecycle_guard.contracts import ExecutionState, RunRef
from lifecycle_guard.live_test import Probe, ProbeState
from lifecycle_guard.objects import ObjectType
from lifecycle_guard_offline.phase_watch import FailedStep, doing, failed_step, probes_created

AT = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
PROBE = ProbeState(
    started=True,
    wait_seconds=120,
    probes=[Probe(object_type=ObjectType.CONTACTS, object_id="7")],
    started_at=AT.timestamp() + 1,  # StartProbe made the probes a second in
)
RUN = RunRef(run_id="r", action="run", mode="apply")


def entered(state: str, seconds: float, state_input: ExecutionState | None = None) -> dict:
    details = {"name": state, "input": (state_input or ExecutionState()).model_dump_json()}
    return {
        "type": "TaskStateEntered",
        "timestamp": AT + timedelta(seconds=seconds),
        "stateEnteredEventDetails": details,
    }


def exited(state: str, seconds: float, output: ExecutionState) -> dict:
    details = {"name": state, "output": output.model_dump_json()}
    return {"type": "TaskStateExited", "timestamp": AT + timedelta(seconds=seconds), "stateExitedEventDetails": details}


def lambda_failed(error: str, message: str) -> dict:
    cause = json.dumps({"errorType": error, "errorMessage": message, "stackTrace": []})
    return {"type": "LambdaFunctionFailed", "lambdaFunctionFailedEventDetails": {"error": error, "cause": cause}}


def test_the_live_test_wait_says_what_it_waits_for_and_how_long_is_left():
    history = [
        entered("StartProbe", 0),
        exited("StartProbe", 1, ExecutionState(probe=PROBE)),
        entered("WaitForPrevention", 2, ExecutionState(probe=PROBE)),
    ]
    assert doing(history, AT + timedelta(seconds=31), settle_seconds=lambda: 45) == (
        "waiting for the prevention workflows to act on the probe records (checked every few seconds; at most 90 s "
        "more)"
    )
    assert probes_created(history) == PROBE.probes


def test_verifying_says_how_long_search_may_take_to_settle():
    history = [entered("Verify", 0, ExecutionState(run=RUN, probe=PROBE))]
    assert (
        doing(history, AT, settle_seconds=lambda: 45)
        == "checking the portal; search may take up to 45 s to show the last writes"
    )


def test_the_failed_step_is_the_last_error_before_the_failure_report_retries_included():
    history = [
        entered("Begin", 0),
        exited("Begin", 1, ExecutionState(run=RUN)),
        entered("Dispatch", 2),
        lambda_failed("HubSpotUnavailable", "a retry took it"),
        lambda_failed("CapExceededError", "the plan would change 366 records"),
        entered("ReportFailure", 3),
    ]
    assert failed_step(history) == FailedStep("fix", "CapExceededError", "the plan would change 366 records")
    # a run whose step errors were all retried away did not fail at a step
    assert failed_step(history[:-1]) is None
    assert probes_created(history) == []
