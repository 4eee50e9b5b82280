"""Every step after Begin learns its run from the context stored under its own execution's name, and refuses one
that belongs to another run (``steps.context``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lifecycle_guard.config import GuardConfig
from lifecycle_guard.contracts import ExecutionInfo, RunContext
from lifecycle_guard.layout import context_key
from lifecycle_guard.steps.context import RunContextError, load_run, stored_run
from lifecycle_guard.storage import MemoryStore

STARTED = datetime(2026, 3, 2, 5, tzinfo=UTC)


def context_of(run_id: str) -> RunContext:
    return RunContext(
        run_id=run_id,
        action="run",
        mode="apply",
        source="test",
        started_at=STARTED,
        prefix=f"runs/2026/03/02/{run_id}",
        config=GuardConfig(),
        stages={},
    )


def execution(name: str) -> ExecutionInfo:
    return ExecutionInfo(id=f"arn:aws:states:us-east-1:123456789012:execution:lg:{name}", name=name, start_time=STARTED)


def test_a_step_loads_the_context_stored_under_its_execution():
    store = MemoryStore()
    store.put(context_key("mine"), context_of("mine").model_dump_json().encode())
    assert load_run(store, execution("mine")).run_id == "mine"


def test_a_context_of_another_run_under_its_name_is_refused():
    # GIVEN the context of run "theirs" stored where execution "mine" keeps its own (copied, or forged)
    store = MemoryStore()
    store.put(context_key("mine"), context_of("theirs").model_dump_json().encode())
    # WHEN a step of execution "mine" loads its run, THEN it is refused, naming both
    with pytest.raises(RunContextError, match="the context stored for execution 'mine' is run 'theirs'"):
        load_run(store, execution("mine"))
    with pytest.raises(RunContextError):
        stored_run(store, execution("mine"))


def test_no_stored_context_means_begin_did_not_finish():
    store = MemoryStore()
    assert stored_run(store, execution("mine")) is None
    with pytest.raises(RunContextError, match="has no stored run context"):
        load_run(store, execution("mine"))
