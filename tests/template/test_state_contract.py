"""The ASL and ``lifecycle_guard.contracts`` agree: every ResultPath is a field of the execution state, every
field is set by some state, every Task's Parameters are exactly its handler's event, and every path a state reads
exists in the model. A rename on one side without the other fails here, not on the first run in AWS."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pydantic import BaseModel

from lifecycle_guard.contracts import (
    BeginEvent,
    Begun,
    CheckProbeEvent,
    CheckRestoresEvent,
    ExecutionState,
    PlanEvent,
    PreventionEvent,
    ProgressEvent,
    ReportEvent,
    StartProbeEvent,
    UndoEvent,
    VerifyEvent,
)
from lifecycle_guard_offline.harness import PROJECT_ROOT

ASL = json.loads((PROJECT_ROOT / "statemachine" / "lifecycle_guard.asl.json").read_text())
# Each Lambda's events, by the step the Parameters name (None: the function has one event and no step).
EVENTS: dict[str, dict[str | None, type[BaseModel]]] = {
    "${AuditPlanFunctionArn}": {"begin": BeginEvent, "plan": PlanEvent},
    "${ProgressFunctionArn}": {"dispatch": ProgressEvent, "poll": ProgressEvent, "stop": ProgressEvent},
    "${PreventionFunctionArn}": {"ensure": PreventionEvent, "pause": PreventionEvent, "resume": PreventionEvent},
    "${VerifyFunctionArn}": {"start_probe": StartProbeEvent, "check_probe": CheckProbeEvent, "verify": VerifyEvent},
    "${UndoFunctionArn}": {"undo": UndoEvent, "check_restores": CheckRestoresEvent},
    "${ReportFunctionArn}": {None: ReportEvent},
}
STATE_PATH = re.compile(r"^\$\.([a-z_]+)(?:\.([a-z_]+))?$")


def states_of(kind: str) -> dict[str, dict[str, Any]]:
    return {name: state for name, state in ASL["States"].items() if state["Type"] == kind}


def read_paths(value: Any) -> list[str]:
    """Every ``$.`` path a Parameters block reads (``$$.`` context paths excluded)."""
    if isinstance(value, dict):
        return [p for key, inner in value.items() for p in (read_paths(inner) if not key.endswith(".$") else [inner])]
    return []


def test_every_result_path_names_a_field_of_the_state_and_every_field_is_set():
    set_fields: set[str] = set()
    for name, state in ASL["States"].items():
        paths = [state.get("ResultPath")] + [c["ResultPath"] for c in state.get("Catch", [])]
        for path in filter(None, paths):
            if path == "$":
                assert name == "Begin", f"{name} replaces the whole state"
                set_fields |= set(Begun.model_fields)
                continue
            match = STATE_PATH.match(path)
            assert match, f"{name}: {path}"
            assert not match.group(2), f"{name}: {path} is not a top-level field"
            assert match.group(1) in ExecutionState.model_fields, f"{name}: {path} is not in ExecutionState"
            set_fields.add(match.group(1))
    set_fields |= {"failure"}  # BeginFailed (a Pass state) puts Begin's error there
    assert set_fields == set(ExecutionState.model_fields)


@pytest.mark.parametrize("name", sorted(states_of("Task")))
def test_a_tasks_parameters_are_exactly_its_handlers_event(name: str):
    task = ASL["States"][name]
    parameters = task["Parameters"]
    event = EVENTS[task["Resource"]][parameters.get("step")]
    keys = {key.removesuffix(".$") for key in parameters}
    required = {field for field, info in event.model_fields.items() if info.is_required()}
    assert required <= keys <= set(event.model_fields), (name, keys, set(event.model_fields))


def test_every_path_a_state_reads_exists_in_the_state_model():
    reads = [(name, p) for name, state in ASL["States"].items() for p in read_paths(state.get("Parameters", {}))]
    reads += [(name, c["Variable"]) for name, state in states_of("Choice").items() for c in state["Choices"]]
    reads += [(name, state["SecondsPath"]) for name, state in states_of("Wait").items()]
    for name, path in reads:
        if path in ("$", "$$") or path.startswith("$$."):
            continue
        match = STATE_PATH.match(path)
        assert match, f"{name}: {path}"
        field, member = match.groups()
        assert field in ExecutionState.model_fields, f"{name}: {path}"
        if member:
            model = ExecutionState.model_fields[field].annotation
            assert any(
                member in getattr(option, "model_fields", {}) for option in getattr(model, "__args__", (model,))
            ), f"{name}: {path}"
