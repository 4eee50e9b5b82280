"""Prevention flows switched off for an undo, and back on after it.

An undo puts records back to what they held before a run - for many, no stage at all. Left on, the prevention
flows would enroll each such record (its stage became unknown) and set the default stage again a few seconds later,
so the undo would "restore" records that end up at Lead. While a flow is off HubSpot enrolls nobody, and turning
it back on does not enroll the records that already meet its filter (the v4 API has no "enroll existing records";
hubspot-facts §6.6, UNCONFIRMED that no other switch does it), so the restored values hold.

Only flows lifecycle-guard manages and that are on are switched off, and only those are switched back on. The ids
are stored in S3 before the first flow is touched, so the run's failure path - or a later undo - can switch back
on what a crashed undo left off; the next scheduled run's ``EnsurePrevention`` switches them on too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from lifecycle_guard.config import GuardConfig
from lifecycle_guard.crm import Flows
from lifecycle_guard.flow_bodies import is_managed
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.stages import StageCatalog
from lifecycle_guard.workflows import desired_flows, find_flow, put_body


class SwitchedFlows(BaseModel):
    """The prevention flows a pause switched off, or a resume switched back on."""

    flow_ids: list[str] = []


def _switched(flows: Flows, current: Mapping[str, Any], enabled: bool) -> None:
    """PUT the flow as it is, but for ``isEnabled``: a pause changes nothing else of it."""
    body = {**put_body(current), "isEnabled": enabled, "revisionId": current["revisionId"]}
    flows.replace_flow(str(current["id"]), body)


def pause_flows(
    flows: Flows,
    config: GuardConfig,
    catalogs: Mapping[ObjectType, StageCatalog],
    remember: Callable[[list[str]], None],
) -> SwitchedFlows:
    """Switch off each enabled flow lifecycle-guard manages; ``remember(ids)`` is called before the first write,
    so a failure half-way still knows what to switch back on."""
    existing = flows.list_flows()
    found = [(desired, find_flow(flows, desired, existing)) for desired in desired_flows(config, catalogs)]
    enabled = [(desired, flow) for desired, flow in found if flow and is_managed(flow) and flow.get("isEnabled")]
    ids = [str(flow["id"]) for _, flow in enabled]
    remember(ids)
    for _, flow in enabled:
        _switched(flows, flow, enabled=False)
    return SwitchedFlows(flow_ids=ids)


def resume_flows(
    flows: Flows, config: GuardConfig, catalogs: Mapping[ObjectType, StageCatalog], flow_ids: list[str]
) -> SwitchedFlows:
    """Switch back on those of ``flow_ids`` (what a pause switched off) that are still off."""
    if not flow_ids:
        return SwitchedFlows()
    existing = flows.list_flows()
    resumed = []
    for desired in desired_flows(config, catalogs):
        flow = find_flow(flows, desired, existing)
        if flow is not None and str(flow["id"]) in flow_ids and not flow.get("isEnabled"):
            _switched(flows, flow, enabled=True)
            resumed.append(str(flow["id"]))
    return SwitchedFlows(flow_ids=resumed)
