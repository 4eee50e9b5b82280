"""An undo switches off only lifecycle-guard's enabled flows, remembers them first, and switches back on only
those; a switch changes nothing of a flow but ``isEnabled``."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from support.memory_crm import InMemoryCrm

from lifecycle_guard.config import load_config
from lifecycle_guard.flow_bodies import MARKER_PROPERTY, MARKER_VALUE
from lifecycle_guard.flow_pause import pause_flows, resume_flows
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.workflows import desired_flows

CATALOGS = {t: InMemoryCrm().stage_catalog(t) for t in ObjectType}  # the default stages
CONFIG = load_config({})
SERVER_FIELDS = {"createdAt": "2026-11-01T00:00:00Z", "updatedAt": "2026-11-01T00:00:00Z", "dataSources": []}


class FlowsInMemory:
    """The Flows protocol over a dict, recording each PUT's body."""

    def __init__(self) -> None:
        self.flows: dict[str, dict[str, Any]] = {}
        self.puts: list[tuple[str, dict[str, Any]]] = []

    def add(self, body: Mapping[str, Any], *, managed: bool, enabled: bool) -> str:
        flow_id = str(100 + len(self.flows))
        custom = {MARKER_PROPERTY: MARKER_VALUE} if managed else {}
        description = body["description"] if managed else "a customer's own workflow"
        self.flows[flow_id] = {
            **copy.deepcopy(dict(body)),
            **SERVER_FIELDS,
            "id": flow_id,
            "revisionId": "1",
            "isEnabled": enabled,
            "customProperties": custom,
            "description": description,
        }
        return flow_id

    def list_flows(self) -> list[dict[str, Any]]:
        keys = ("id", "name", "objectTypeId", "isEnabled", "revisionId")
        return [{key: flow[key] for key in keys} for flow in self.flows.values()]

    def get_flow(self, flow_id: str) -> dict[str, Any]:
        return copy.deepcopy(self.flows[flow_id])

    def create_flow(self, flow: Mapping[str, Any]) -> dict[str, Any]:
        raise AssertionError("a pause never creates a flow")

    def replace_flow(self, flow_id: str, flow: Mapping[str, Any]) -> dict[str, Any]:
        self.puts.append((flow_id, dict(flow)))
        current = self.flows[flow_id]
        current.update(flow)
        current["revisionId"] = str(int(current["revisionId"]) + 1)
        return copy.deepcopy(current)


def portal_flows() -> tuple[FlowsInMemory, str, str, str]:
    """Our contact flow (on), our company flow (off already), and a customer's flow named like ours (on)."""
    flows = FlowsInMemory()
    contact, company = desired_flows(CONFIG, CATALOGS)[:2]
    foreign = flows.add(contact, managed=False, enabled=True)
    ours_on = flows.add(contact, managed=True, enabled=True)
    ours_off = flows.add(company, managed=True, enabled=False)
    return flows, ours_on, ours_off, foreign


def test_a_pause_switches_off_only_our_enabled_flows_after_remembering_them():
    # GIVEN our enabled contact flow, our company flow already off, and a customer's flow of the same name
    flows, ours_on, ours_off, foreign = portal_flows()
    remembered: list[tuple[list[str], int]] = []
    # WHEN an undo pauses prevention
    paused = pause_flows(flows, CONFIG, CATALOGS, lambda ids: remembered.append((ids, len(flows.puts))))
    # THEN only our enabled flow is switched off, and its id was stored before any write
    assert paused.flow_ids == [ours_on]
    assert remembered == [([ours_on], 0)]
    assert [flow_id for flow_id, _ in flows.puts] == [ours_on]
    assert flows.flows[ours_on]["isEnabled"] is False
    assert flows.flows[foreign]["isEnabled"] is True
    assert flows.flows[ours_off]["isEnabled"] is False


def test_a_switch_puts_the_flow_as_it_is_in_the_put_requests_fields():
    flows, ours_on, _, _ = portal_flows()
    before = flows.get_flow(ours_on)
    pause_flows(flows, CONFIG, CATALOGS, lambda ids: None)
    (_, body) = flows.puts[0]
    # what only creation takes, and HubSpot's own fields, are not sent (ApiContactFlowPutRequest)
    assert not {"id", "createdAt", "updatedAt", "dataSources", "objectTypeId", "flowType"} & set(body)
    assert body["revisionId"] == before["revisionId"]
    unchanged = {key: value for key, value in body.items() if key not in ("isEnabled", "revisionId")}
    assert unchanged == {key: before[key] for key in unchanged}
    assert body["enrollmentCriteria"] == before["enrollmentCriteria"]
    assert body["isEnabled"] is False


def test_a_resume_switches_back_on_only_what_the_pause_switched_off():
    flows, ours_on, ours_off, foreign = portal_flows()
    paused = pause_flows(flows, CONFIG, CATALOGS, lambda ids: None)
    flows.flows[foreign]["isEnabled"] = False  # the customer switched their own flow off meanwhile
    resumed = resume_flows(flows, CONFIG, CATALOGS, paused.flow_ids)
    assert resumed.flow_ids == [ours_on]
    assert flows.flows[ours_on]["isEnabled"] is True
    assert flows.flows[ours_off]["isEnabled"] is False  # off before the undo: stays off
    assert flows.flows[foreign]["isEnabled"] is False


def test_a_resume_of_nothing_paused_makes_no_call_and_a_second_resume_changes_nothing():
    flows, ours_on, _, _ = portal_flows()
    assert resume_flows(flows, CONFIG, CATALOGS, []).flow_ids == []
    assert flows.puts == []
    pause_flows(flows, CONFIG, CATALOGS, lambda ids: None)
    resume_flows(flows, CONFIG, CATALOGS, [ours_on])
    assert resume_flows(flows, CONFIG, CATALOGS, [ours_on]).flow_ids == []  # on already (a retried step)
    assert len(flows.puts) == 2


def test_a_pause_remembers_what_earlier_undos_left_off_with_its_own_and_switches_off_only_its_own():
    # GIVEN our company flow left off by an undo that died (its id stored, twice: two dead undos)
    flows, ours_on, ours_off, _ = portal_flows()
    remembered: list[list[str]] = []
    # WHEN the next undo pauses
    paused = pause_flows(flows, CONFIG, CATALOGS, remembered.append, left_off=[ours_off, ours_off, ours_on])
    # THEN it stores both ids once, before it writes, switches off only the one on, and resumes both at its end
    assert remembered == [[ours_on, ours_off]]
    assert paused.flow_ids == [ours_on]
    assert paused.taken_over == [ours_off]
    assert [flow_id for flow_id, _ in flows.puts] == [ours_on]
    resume_flows(flows, CONFIG, CATALOGS, remembered[0])
    assert flows.flows[ours_on]["isEnabled"] is True
    assert flows.flows[ours_off]["isEnabled"] is True
