"""The workflow engine: the prevention flow really sets the stage after its delay, and nothing else acts."""

from __future__ import annotations

import time
from typing import Any

from hubspot import HubSpot
from sandbox_helpers import stage_default_flow

from hubspot_sandbox import Sandbox

DELAY = 0.2  # the sandbox fixture's workflow_delay_seconds


def _create_flow(client: HubSpot, body: dict[str, Any]) -> str:
    response = client.api_request({"method": "POST", "path": "/automation/v4/flows", "body": body})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _new_contact(client: HubSpot, properties: dict[str, str] | None = None) -> str:
    created = client.crm.contacts.basic_api.create(
        simple_public_object_input_for_create={"properties": properties or {"email": f"c{time.time_ns()}@example.com"}}
    )
    return str(created.id)


def _stage(client: HubSpot, contact_id: str) -> str | None:
    record = client.crm.contacts.basic_api.get_by_id(contact_id, properties=["lifecyclestage"])
    value: str | None = record.properties["lifecyclestage"]
    return value


def _wait() -> None:
    time.sleep(DELAY + 0.15)


def test_flow_sets_stage_after_its_delay(client: HubSpot, sandbox: Sandbox) -> None:
    flow_id = _create_flow(client, stage_default_flow(value="lead"))
    contact_id = _new_contact(client)
    assert _stage(client, contact_id) is None  # not before the delay
    _wait()
    assert _stage(client, contact_id) == "lead"
    latest = sandbox.portal.property_history("contacts", contact_id, "lifecyclestage")[0]
    assert (latest.value, latest.source_type, latest.source_id) == ("lead", "AUTOMATION_PLATFORM", flow_id)
    assert sandbox.stats()["workflow_actions"] == 1


def test_scheduler_acts_without_any_request(client: HubSpot, sandbox: Sandbox) -> None:
    _create_flow(client, stage_default_flow(value="subscriber"))
    contact_id = _new_contact(client)
    created = time.monotonic()
    while sandbox.portal.get_property("contacts", contact_id, "lifecyclestage") is None:
        assert time.monotonic() - created < 3, "the scheduler thread never applied the action"
        time.sleep(0.01)
    assert time.monotonic() - created >= DELAY - 0.05  # and not before the delay


def test_cleared_stage_re_enrolls_when_allowed(client: HubSpot, sandbox: Sandbox) -> None:
    _create_flow(client, stage_default_flow(value="lead", re_enroll=True))
    contact_id = sandbox.portal.create_record("contacts", {"lifecyclestage": "customer"})
    for _ in range(2):
        client.crm.contacts.basic_api.update(
            contact_id, simple_public_object_input={"properties": {"lifecyclestage": ""}}
        )
        _wait()
        assert _stage(client, contact_id) == "lead"


def test_should_re_enroll_false_enrolls_once(client: HubSpot) -> None:
    _create_flow(client, stage_default_flow(value="lead", re_enroll=False))
    contact_id = _new_contact(client)
    _wait()
    assert _stage(client, contact_id) == "lead"
    client.crm.contacts.basic_api.update(contact_id, simple_public_object_input={"properties": {"lifecyclestage": ""}})
    _wait()
    assert _stage(client, contact_id) is None


def test_records_unknown_before_enabling_are_not_enrolled(client: HubSpot, sandbox: Sandbox) -> None:
    before = _new_contact(client)
    _create_flow(client, stage_default_flow(value="lead"))
    after = _new_contact(client)
    _wait()
    assert _stage(client, before) is None
    assert _stage(client, after) == "lead"


def test_forward_only_applies_to_the_flow_action(client: HubSpot, sandbox: Sandbox) -> None:
    _create_flow(client, stage_default_flow(value="lead"))
    contact_id = _new_contact(client)
    client.crm.contacts.basic_api.update(
        contact_id, simple_public_object_input={"properties": {"lifecyclestage": "customer"}}
    )
    _wait()
    assert _stage(client, contact_id) == "customer"
    assert sandbox.stats()["backward_sets_ignored"] == 1


def test_company_flow_acts_on_companies_only(client: HubSpot, sandbox: Sandbox) -> None:
    _create_flow(client, stage_default_flow(object_type_id="0-2", value="lead"))
    company = client.crm.companies.basic_api.create(
        simple_public_object_input_for_create={"properties": {"name": "New Co"}}
    )
    contact_id = _new_contact(client)
    _wait()
    assert sandbox.portal.get_property("companies", company.id, "lifecyclestage") == "lead"
    assert _stage(client, contact_id) is None


def test_other_shapes_are_stored_but_never_act(client: HubSpot, sandbox: Sandbox) -> None:
    disabled = stage_default_flow(enabled=False)
    other_property = stage_default_flow()
    other_property["actions"][0]["fields"]["property_name"] = "hs_lead_status"
    known_filter = stage_default_flow()
    known_filter["enrollmentCriteria"]["listFilterBranch"]["filterBranches"][0]["filters"][0]["operation"][
        "operator"
    ] = "IS_KNOWN"
    two_actions = stage_default_flow()
    two_actions["actions"].append({**two_actions["actions"][0], "actionId": "2"})
    for body in (disabled, other_property, known_filter, two_actions):
        _create_flow(client, body)
    contact_id = _new_contact(client)
    _wait()
    assert _stage(client, contact_id) is None
    assert sandbox.stats()["workflow_actions"] == 0
    assert len(sandbox.portal.flows()) == 4


def test_disabling_drops_pending_actions(client: HubSpot, sandbox: Sandbox) -> None:
    body = stage_default_flow(value="lead")
    flow_id = _create_flow(client, body)
    contact_id = _new_contact(client)
    client.api_request(
        {
            "method": "PUT",
            "path": f"/automation/v4/flows/{flow_id}",
            "body": {**body, "isEnabled": False, "revisionId": "1"},
        }
    )
    _wait()
    assert _stage(client, contact_id) is None


def test_archived_records_are_skipped(client: HubSpot, sandbox: Sandbox) -> None:
    _create_flow(client, stage_default_flow(value="lead"))
    contact_id = _new_contact(client)
    client.crm.contacts.basic_api.archive(contact_id)
    _wait()
    assert sandbox.stats()["workflow_actions"] == 0
