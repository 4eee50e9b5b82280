"""Prevention: ensure the workflows in a run; switch them off for an undo and back on after it."""

from __future__ import annotations

import json

from lifecycle_guard.contracts import RunContext
from lifecycle_guard.flow_pause import SwitchedFlows, pause_flows, resume_flows
from lifecycle_guard.runtime import Services
from lifecycle_guard.workflows import PreventionOutcome, ensure_flows


def prevent(run: RunContext, services: Services) -> PreventionOutcome:
    with services.hubspot(run.run_id, run.config) as gateway:
        return ensure_flows(gateway.flows, run.config, run.catalogs(), apply=run.apply)


def pause_prevention(run: RunContext, services: Services) -> SwitchedFlows:
    """Before an undo writes: its restored blanks would otherwise be set to the default stage again by our own
    flows. A dry run switches nothing."""
    if not run.apply:
        return SwitchedFlows()

    def remember(flow_ids: list[str]) -> None:
        services.store.put(run.layout.paused_flows, json.dumps({"flow_ids": flow_ids}).encode())

    with services.hubspot(run.run_id, run.config) as gateway:
        return pause_flows(gateway.flows, run.config, run.catalogs(), remember)


def resume_prevention(run: RunContext, services: Services) -> SwitchedFlows:
    """Switch back on what this undo's pause stored as switched off (the stored ids, not the state's: a pause
    that failed half-way stored them before its first write)."""
    body = services.store.get(run.layout.paused_flows)
    if body is None:
        return SwitchedFlows()
    flow_ids = [str(flow_id) for flow_id in json.loads(body)["flow_ids"]]
    with services.hubspot(run.run_id, run.config) as gateway:
        return resume_flows(gateway.flows, run.config, run.catalogs(), flow_ids)
