"""Prevention flows switched off for an undo, and back on after it.

An undo puts records back to what they held before a run - for many, no stage at all. Left on, the prevention
flows would enroll each such record (its stage became unknown) and set the default stage again a few seconds later,
so the undo would "restore" records that end up at Lead. While a flow is off HubSpot enrolls nobody, and turning
it back on does not enroll the records that already meet its filter (the v4 API has no "enroll existing records";
hubspot-facts §6.6, UNCONFIRMED that no other switch does it), so the restored values hold.

Only flows lifecycle-guard manages and that are on are switched off, and only those are switched back on. The ids
are stored in S3 (a ``PauseRecord``) before the first flow is touched, so the run's failure path can switch back on
what a failed undo left off, and the CLI what an interrupted one did (a stopped execution runs no more states).

An undo stopped where neither could (a process killed outright, HubSpot failing at that moment, a deployed execution
stopped by hand or timed out) leaves its record open. The next undo takes it over: it stores those ids with its own
before it pauses, marks the earlier record taken over, and switches them all back on at its end. It does not switch
them on at once: its own pause would switch them off again a moment later. This is safe because no undo of the same
bucket can still be running when another starts (the run lock: DynamoDB deployed, ``OUT/.lock`` and the portal
marker offline), so an open record is always a dead undo's; and only flows lifecycle-guard manages, off at that
moment, are switched on. The next scheduled run's ``EnsurePrevention`` switches them on too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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
    # A pause only: ids earlier undos left off (their records open), switched back on at the end of this one.
    taken_over: list[str] = []


class PauseRecord(BaseModel):
    """What an undo stores at ``layout.paused_flows``: the flows to switch back on, and who did."""

    run_id: str
    flow_ids: list[str] = []
    # The undo that switched them back on: this one (its ResumePrevention, or the CLI stopping it), or a later undo
    # that took them over. None while they may still be off.
    resumed_by: str | None = None

    @property
    def open(self) -> bool:
        return self.resumed_by is None


def _switched(flows: Flows, current: Mapping[str, Any], enabled: bool) -> None:
    """PUT the flow as it is, but for ``isEnabled``: a pause changes nothing else of it."""
    body = {**put_body(current), "isEnabled": enabled, "revisionId": current["revisionId"]}
    flows.replace_flow(str(current["id"]), body)


def pause_flows(
    flows: Flows,
    config: GuardConfig,
    catalogs: Mapping[ObjectType, StageCatalog],
    remember: Callable[[list[str]], None],
    left_off: Sequence[str] = (),
) -> SwitchedFlows:
    """Switch off each enabled flow lifecycle-guard manages; ``remember(ids)`` is called before the first write,
    so a failure half-way still knows what to switch back on. ``left_off``: ids earlier undos left off, remembered
    with this pause's own to be switched back on at its end."""
    existing = flows.list_flows()
    found = [(desired, find_flow(flows, desired, existing)) for desired in desired_flows(config, catalogs)]
    enabled = [(desired, flow) for desired, flow in found if flow and is_managed(flow) and flow.get("isEnabled")]
    ids = [str(flow["id"]) for _, flow in enabled]
    taken_over = [flow_id for flow_id in dict.fromkeys(left_off) if flow_id not in ids]
    remember(ids + taken_over)
    for _, flow in enabled:
        _switched(flows, flow, enabled=False)
    return SwitchedFlows(flow_ids=ids, taken_over=taken_over)


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
