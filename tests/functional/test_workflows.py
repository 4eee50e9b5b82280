"""Prevention workflows through Automation v4 against the sandbox: idempotent by name, drift repaired, review mode,
re-enrollment, flows that are not lifecycle-guard's left alone, a stalled endpoint timed out, and a portal without
the workflows API gives a failed outcome rather than a crash."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from hubspot_sandbox import ALL_SCOPES, Portal, Sandbox, SandboxSettings
from lifecycle_guard.config import load_config
from lifecycle_guard.flow_bodies import stage_change_trigger
from lifecycle_guard.gateway import HubSpotGateway, api_request
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.verification import prevention_check
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


def flow_writes(sandbox: Sandbox) -> int:
    return sum(n for call, n in sandbox.stats()["calls"].items() if call.startswith(("POST /automation", "PUT ")))


def put_body(flow: dict[str, Any]) -> dict[str, Any]:
    """What an administrator's edit sends: the stored flow minus what a PUT may not carry."""
    return {key: value for key, value in flow.items() if key not in ("objectTypeId", "flowType", "dataSources")}


def test_the_flows_re_enroll_on_a_second_blank_and_unenroll_records_that_got_a_stage():
    # GIVEN the flows in place, on a portal whose workflows act 0.1 s after enrollment
    with Sandbox(Portal.empty(), SandboxSettings(workflow_delay_seconds=0.1)) as sandbox:
        gateway = gateway_for(sandbox)
        ensure_flows(gateway.flows, load_config({}), catalogs(gateway), apply=True)
        stored = flows_by_name(sandbox)[CONTACT_FLOW]
        criteria = stored["enrollmentCriteria"]
        assert criteria["reEnrollmentTriggersFilterBranches"] == [stage_change_trigger()]
        assert (criteria["shouldReEnroll"], criteria["unEnrollObjectsNotMeetingCriteria"]) == (True, True)
        # WHEN a contact is created without a stage, given one by the flow, and blanked again
        contact = sandbox.portal.create_record("contacts", {"email": "twice@example.com"})
        assert wait_for_stage(sandbox, contact) == "lead"
        gateway.crm.update_record(ObjectType.CONTACTS, contact, {"lifecyclestage": ""})
        # THEN the flow gives it the stage again
        assert wait_for_stage(sandbox, contact) == "lead"
        # AND a record that gets a stage while its action waits keeps it: the flow un-enrolls it
        other = sandbox.portal.create_record("contacts", {"email": "quick@example.com"})
        gateway.crm.update_record(ObjectType.CONTACTS, other, {"lifecyclestage": "subscriber"})
        time.sleep(0.5)
        assert sandbox.portal.get_property("contacts", other, "lifecyclestage") == "subscriber"


def wait_for_stage(sandbox: Sandbox, contact: str, seconds: float = 5.0) -> str | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        stage = sandbox.portal.get_property("contacts", contact, "lifecyclestage")
        if stage:
            return stage
        time.sleep(0.05)
    return None


def test_a_same_named_flow_lifecycle_guard_does_not_manage_is_left_untouched_and_reported(sandbox):
    # GIVEN a customer's own workflow that happens to carry the configured contact flow's name
    gateway = gateway_for(sandbox)
    ensure_flows(gateway.flows, load_config({}), catalogs(gateway), apply=True)
    ours = flows_by_name(sandbox)[CONTACT_FLOW]
    sandbox.portal.delete_flow(ours["id"])
    theirs = copy.deepcopy(ours)
    for key in ("id", "revisionId", "createdAt", "updatedAt", "crmObjectCreationStatus"):
        theirs.pop(key)
    theirs |= {"description": "Sales ops: nurture new leads", "customProperties": {"team": "sales-ops"}}
    theirs["actions"][0]["fields"]["value"]["staticValue"] = "marketingqualifiedlead"
    foreign = sandbox.portal.create_flow(theirs)
    sandbox.reset_stats()
    # WHEN the flows are ensured in apply mode
    outcome = ensure_flows(gateway.flows, load_config({}), catalogs(gateway), apply=True)
    # THEN that flow is not replaced nor duplicated, and the outcome and the prevention check say why
    results = {flow.name: flow for flow in outcome.flows}
    assert results[CONTACT_FLOW].action == "not_managed"
    assert "did not create" in results[CONTACT_FLOW].detail
    assert results[COMPANY_FLOW].action == "unchanged"
    assert flow_writes(sandbox) == 0
    assert sandbox.portal.flow(foreign["id"]) == foreign
    assert [flow["name"] for flow in sandbox.portal.flows()].count(CONTACT_FLOW) == 1
    check = prevention_check(outcome)
    assert check.status == "FAIL"
    assert "contact_flow_name" in check.detail


def test_a_same_named_flow_that_already_does_what_ours_would_is_left_as_it_is(sandbox):
    gateway = gateway_for(sandbox)
    ensure_flows(gateway.flows, load_config({}), catalogs(gateway), apply=True)
    flow = flows_by_name(sandbox)[CONTACT_FLOW]
    unmarked = put_body(flow) | {"description": "ours now", "customProperties": {}}
    sandbox.portal.replace_flow(flow["id"], unmarked)
    sandbox.reset_stats()
    outcome = ensure_flows(gateway.flows, load_config({}), catalogs(gateway), apply=True)
    contact_flow = next(f for f in outcome.flows if f.name == CONTACT_FLOW)
    assert (contact_flow.action, flow_writes(sandbox)) == ("unchanged", 0)
    assert "already does what the config asks" in contact_flow.detail
    assert prevention_check(outcome).status == "PASS"


def reordered(value: Any) -> Any:
    """The same JSON with every object's keys and every list's items in reverse order."""
    if isinstance(value, dict):
        return {key: reordered(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reordered(item) for item in reversed(value)]
    return value


def test_a_portal_answering_in_another_order_or_with_fields_of_its_own_is_not_re_put(sandbox):
    # GIVEN the flows in place, then stored back with every key and list in another order, plus fields HubSpot adds
    gateway = gateway_for(sandbox)
    config = load_config({"prevention": {"correction_flows": True}})
    ensure_flows(gateway.flows, config, catalogs(gateway), apply=True)
    before = {flow["id"]: list(flow) for flow in sandbox.portal.flows()}
    for flow in sandbox.portal.flows():
        shuffled = reordered(put_body(flow))
        # ... and fields of HubSpot's own
        shuffled["enrollmentCriteria"]["listFilterBranch"]["filterBranches"][0]["filters"][0]["operation"] |= {
            "operatorDisplayName": "is unknown"
        }
        shuffled["actions"][0]["connection"] = None
        sandbox.portal.replace_flow(flow["id"], shuffled)
    assert all(list(flow) != before[flow["id"]] for flow in sandbox.portal.flows())  # the keys come back reordered
    sandbox.reset_stats()
    # WHEN they are ensured again
    outcome = ensure_flows(gateway.flows, config, catalogs(gateway), apply=True)
    # THEN nothing is replaced
    assert {f.action for f in outcome.flows if f.action != "not_possible"} == {"unchanged"}
    assert flow_writes(sandbox) == 0


def test_a_flow_of_an_earlier_version_gets_the_re_enrollment_trigger_and_the_marker(sandbox):
    # GIVEN the contact flow as lifecycle-guard created it before (no trigger, no custom-property marker)
    gateway = gateway_for(sandbox)
    ensure_flows(gateway.flows, load_config({}), catalogs(gateway), apply=True)
    flow = flows_by_name(sandbox)[CONTACT_FLOW]
    old = put_body(flow) | {"customProperties": {}}
    old["enrollmentCriteria"] |= {"reEnrollmentTriggersFilterBranches": [], "unEnrollObjectsNotMeetingCriteria": False}
    sandbox.portal.replace_flow(flow["id"], old)
    # WHEN the flows are ensured
    outcome = ensure_flows(gateway.flows, load_config({}), catalogs(gateway), apply=True)
    # THEN the flow is recognised by its description, and updated in place
    assert {f.name: f.action for f in outcome.flows}[CONTACT_FLOW] == "updated"
    updated = flows_by_name(sandbox)[CONTACT_FLOW]
    assert updated["id"] == flow["id"]
    assert updated["enrollmentCriteria"]["reEnrollmentTriggersFilterBranches"] == [stage_change_trigger()]
    assert updated["customProperties"] == {"managedBy": "lifecycle-guard"}


def test_a_stalled_flows_endpoint_times_out_and_is_retried_then_fails_cleanly(sandbox, monkeypatch):
    # GIVEN a read timeout of half a second (the deployed one is 60 s: the test must not wait that long)
    monkeypatch.setattr(api_request, "REQUEST_TIMEOUT", (2.0, 0.5))
    gateway = HubSpotGateway(
        sandbox.token, base_url=sandbox.url, requests_per_10s=1000, max_attempts=3, sleep=lambda _s: None
    )
    # WHEN the flows listing stalls once (HubSpot accepts the request and never answers in time)
    sandbox.queue_fault(method="GET", path="/automation/v4/flows", when="stall", seconds=30)
    started = time.monotonic()
    outcome = ensure_flows(gateway.flows, load_config({}), catalogs(gateway), apply=True)
    # THEN the stalled attempt timed out, was retried, and the flows were created: in seconds, not minutes
    assert outcome.status == "ok"
    assert {f.action for f in outcome.flows} == {"created"}
    assert gateway.usage.statuses["network"] == 1
    assert gateway.usage.retries >= 1
    assert time.monotonic() - started < 10
    # WHEN it stalls on every attempt
    sandbox.queue_fault(method="GET", path="/automation/v4/flows", when="stall", seconds=30, times=3)
    started = time.monotonic()
    outcome = ensure_flows(gateway.flows, load_config({}), catalogs(gateway), apply=True)
    # THEN the step gives up after its attempts with a failed outcome naming the cause, instead of hanging
    assert outcome.status == "failed"
    assert "gave up after 3 attempts" in (outcome.error or "")
    assert time.monotonic() - started < 10
