"""Prevention workflows through Automation v4 against the sandbox: idempotent by name, drift repaired, review mode,
and a portal without the workflows API gives a failed outcome rather than a crash."""

from __future__ import annotations

import pytest

from hubspot_sandbox import ALL_SCOPES, Portal, Sandbox, SandboxSettings
from lifecycle_guard.config import load_config
from lifecycle_guard.gateway import HubSpotGateway
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.workflows import ensure_flows

CONTACT_FLOW = "AUTO-FIX: Set Default Lifecycle Stage (Lead)"
COMPANY_FLOW = "AUTO-FIX: Set Default Company Lifecycle Stage (Lead)"


@pytest.fixture
def sandbox():
    with Sandbox(Portal.empty(), SandboxSettings(workflow_delay_seconds=0.1)) as started:
        yield started


def gateway_for(sandbox: Sandbox) -> HubSpotGateway:
    return HubSpotGateway(sandbox.token, base_url=sandbox.url, requests_per_10s=1000)


def catalogs(gateway: HubSpotGateway):
    return {object_type: gateway.crm.stage_catalog(object_type) for object_type in ObjectType}


def flows_by_name(sandbox: Sandbox) -> dict[str, dict]:
    return {flow["name"]: flow for flow in sandbox.portal.flows()}


def test_flows_are_created_once_then_left_alone(sandbox):
    gateway = gateway_for(sandbox)
    config = load_config({})
    first = ensure_flows(gateway.flows, config, catalogs(gateway), apply=True)
    assert first.status == "ok"
    assert {(f.name, f.action, f.enabled) for f in first.flows} == {
        (CONTACT_FLOW, "created", True),
        (COMPANY_FLOW, "created", True),
    }
    stored = flows_by_name(sandbox)
    assert (stored[CONTACT_FLOW]["type"], stored[CONTACT_FLOW]["objectTypeId"]) == ("CONTACT_FLOW", "0-1")
    assert (stored[COMPANY_FLOW]["type"], stored[COMPANY_FLOW]["objectTypeId"]) == ("PLATFORM_FLOW", "0-2")
    second = ensure_flows(gateway.flows, config, catalogs(gateway), apply=True)
    assert {f.action for f in second.flows} == {"unchanged"}
    assert len(sandbox.portal.flows()) == 2


def test_a_flow_that_drifted_is_replaced_with_its_current_revision(sandbox):
    gateway = gateway_for(sandbox)
    config = load_config({})
    ensure_flows(gateway.flows, config, catalogs(gateway), apply=True)
    # someone switches the contact flow off and makes it set "subscriber"
    flow = flows_by_name(sandbox)[CONTACT_FLOW]
    drifted = {key: value for key, value in flow.items() if key not in ("objectTypeId", "flowType", "dataSources")}
    drifted["isEnabled"] = False
    drifted["actions"][0]["fields"]["value"]["staticValue"] = "subscriber"
    sandbox.portal.replace_flow(flow["id"], drifted)
    revision = flows_by_name(sandbox)[CONTACT_FLOW]["revisionId"]

    outcome = ensure_flows(gateway.flows, config, catalogs(gateway), apply=True)
    actions = {f.name: f.action for f in outcome.flows}
    assert actions == {CONTACT_FLOW: "updated", COMPANY_FLOW: "unchanged"}
    repaired = flows_by_name(sandbox)[CONTACT_FLOW]
    assert repaired["id"] == flow["id"]
    assert int(repaired["revisionId"]) > int(revision)
    assert repaired["isEnabled"] is True
    assert repaired["actions"][0]["fields"]["value"]["staticValue"] == "lead"


def test_review_mode_creates_flows_disabled_and_never_disables_a_reviewed_one(sandbox):
    gateway = gateway_for(sandbox)
    review = load_config({"prevention": {"enable_flows": False}})
    created = ensure_flows(gateway.flows, review, catalogs(gateway), apply=True)
    assert {(f.action, f.enabled) for f in created.flows} == {("created", False)}
    # an administrator reviews the contact flow and switches it on
    flow = flows_by_name(sandbox)[CONTACT_FLOW]
    enabled = {key: value for key, value in flow.items() if key not in ("objectTypeId", "flowType", "dataSources")}
    enabled["isEnabled"] = True
    sandbox.portal.replace_flow(flow["id"], enabled)
    again = ensure_flows(gateway.flows, review, catalogs(gateway), apply=True)
    assert {f.action for f in again.flows} == {"unchanged"}
    assert flows_by_name(sandbox)[CONTACT_FLOW]["isEnabled"] is True


def test_dry_run_only_says_what_it_would_do(sandbox):
    gateway = gateway_for(sandbox)
    outcome = ensure_flows(gateway.flows, load_config({}), catalogs(gateway), apply=False)
    assert {f.action for f in outcome.flows} == {"would_create"}
    assert sandbox.portal.flows() == []


def test_correction_flows_are_built_only_for_forward_corrections(sandbox):
    gateway = gateway_for(sandbox)
    outcome = ensure_flows(
        gateway.flows, load_config({"prevention": {"correction_flows": True}}), catalogs(gateway), apply=True
    )
    by_action = {(f.name, f.action) for f in outcome.flows}
    assert ("AUTO-FIX: Move Subscriber Contacts to lead", "created") in by_action
    impossible = {f.name: f.detail for f in outcome.flows if f.action == "not_possible"}
    assert "backward" in impossible["correction for other"]
    assert "primary company" in impossible["correction for evangelist"]
    assert len(sandbox.portal.flows()) == 3


@pytest.mark.parametrize(
    "settings",
    [
        SandboxSettings(tokens={"no-automation": ALL_SCOPES - {"automation"}}),
        SandboxSettings(workflows_entitled=False),
    ],
    ids=["token without the automation scope", "portal without workflows"],
)
def test_no_workflows_api_is_a_failed_outcome_not_a_crash(settings):
    with Sandbox(Portal.empty(), settings) as sandbox:
        gateway = gateway_for(sandbox)
        outcome = ensure_flows(gateway.flows, load_config({}), catalogs(gateway), apply=True)
    assert outcome.status == "failed"
    assert "automation" in (outcome.error or "")
    assert "MISSING_SCOPES" in (outcome.error or "")
