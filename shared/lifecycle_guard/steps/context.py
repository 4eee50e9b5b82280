"""Every step after Begin learns its run from the context Begin stored under the execution's name, never from
the state: the state machine's input cannot name, or impersonate, another run."""

from __future__ import annotations

from lifecycle_guard.contracts import ExecutionInfo, RunContext
from lifecycle_guard.layout import context_key
from lifecycle_guard.storage import ObjectStore


class RunContextError(RuntimeError):
    """The run's stored context is missing, or belongs to another run."""


def stored_run(store: ObjectStore, execution: ExecutionInfo) -> RunContext | None:
    """The context ``Begin`` stored for this execution; None if Begin never got that far."""
    body = store.get(context_key(execution.name))
    if body is None:
        return None
    run = RunContext.model_validate_json(body)
    if run.run_id != execution.name:
        raise RunContextError(f"the context stored for execution {execution.name!r} is run {run.run_id!r}'s")
    return run


def load_run(store: ObjectStore, execution: ExecutionInfo) -> RunContext:
    run = stored_run(store, execution)
    if run is None:
        raise RunContextError(f"execution {execution.name!r} has no stored run context: its Begin did not finish")
    return run
