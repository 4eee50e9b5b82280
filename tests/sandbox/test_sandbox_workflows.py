"""The workflow engine: the prevention flow really sets the stage after its delay, re-enrolls only through a selected
trigger, un-enrolls when asked, and nothing else acts."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hubspot import HubSpot
from sandbox_helpers import property_filter, stage_change_trigger, stage_default_flow, unknown_stage_branch

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


def _clear(client: HubSpot, contact_id: str) -> None:
    client.crm.contacts.basic_api.update(contact_id, simple_public_object_input={"properties": {"lifecyclestage": ""}})


def _enrolled_then_cleared(client: HubSpot, sandbox: Sandbox, flow: dict[str, Any]) -> str:
    """A contact the flow gave its stage once, then blanked again; returns its id."""
    _create_flow(client, flow)
    contact_id = sandbox.portal.create_record("contacts", {"lifecyclestage": "customer"})
    _clear(client, contact_id)
    _wait()
    assert _stage(client, contact_id) == "lead"  # the first enrollment needs no trigger
    _clear(client, contact_id)
    _wait()
    return contact_id


@pytest.mark.parametrize(
    "trigger",
    [stage_change_trigger(), unknown_stage_branch(), unknown_stage_branch()["filterBranches"][0]],
    ids=["property-change event", "OR-AND repeat of the filter", "AND repeat of the filter"],
)
def test_a_selected_trigger_re_enrolls_a_cleared_record(
    client: HubSpot, sandbox: Sandbox, trigger: dict[str, Any]
) -> None:
    contact_id = _enrolled_then_cleared(client, sandbox, stage_default_flow(re_enroll_triggers=[trigger]))
    assert _stage(client, contact_id) == "lead"
    assert sandbox.stats()["workflow_actions"] == 2


def test_no_selected_trigger_re_enrolls_nobody(client: HubSpot, sandbox: Sandbox) -> None:
    contact_id = _enrolled_then_cleared(client, sandbox, stage_default_flow(re_enroll=True, re_enroll_triggers=[]))
    assert _stage(client, contact_id) is None
    assert sandbox.stats()["workflow_actions"] == 1


@pytest.mark.parametrize(
    "trigger",
    [
        stage_change_trigger(
            property_filter("hs_value", {"operationType": "ALL_PROPERTY", "operator": "IS_KNOWN"})
        ),  # fires only when a stage is set, never on a clear
        {**stage_change_trigger(), "eventTypeId": "4-96000"},  # another event
        {
            **stage_change_trigger(),
            "filters": [property_filter("hs_name", {"operator": "IS_EQUAL_TO", "value": "email"})],
        },
    ],
    ids=["new value known", "other event type", "other property"],
)
def test_a_trigger_a_clear_does_not_meet_re_enrolls_nobody(
    client: HubSpot, sandbox: Sandbox, trigger: dict[str, Any]
) -> None:
    contact_id = _enrolled_then_cleared(client, sandbox, stage_default_flow(re_enroll_triggers=[trigger]))
    assert _stage(client, contact_id) is None


def test_should_re_enroll_false_enrolls_once_even_with_a_trigger(client: HubSpot, sandbox: Sandbox) -> None:
    contact_id = _enrolled_then_cleared(client, sandbox, stage_default_flow(re_enroll=False))
    assert _stage(client, contact_id) is None


def test_should_re_enroll_false_enrolls_once(client: HubSpot) -> None:
    _create_flow(client, stage_default_flow(value="lead", re_enroll=False))
    contact_id = _new_contact(client)
    _wait()
    assert _stage(client, contact_id) == "lead"
    _clear(client, contact_id)
    _wait()
    assert _stage(client, contact_id) is None


@pytest.mark.parametrize(("un_enroll", "expected"), [(True, "subscriber"), (False, "lead")])
def test_a_stage_set_before_the_action_un_enrolls_only_when_asked(
    client: HubSpot, sandbox: Sandbox, un_enroll: bool, expected: str
) -> None:
    _create_flow(client, stage_default_flow(value="lead", un_enroll=un_enroll))
    contact_id = _new_contact(client)
    # subscriber is earlier than lead, so the action (if it still fires) moves the record forward
    client.crm.contacts.basic_api.update(
        contact_id, simple_public_object_input={"properties": {"lifecyclestage": "subscriber"}}
    )
    _wait()
    assert _stage(client, contact_id) == expected
    assert sandbox.stats()["workflow_actions"] == (0 if un_enroll else 1)


def test_an_un_enrolled_record_enrolls_again_only_through_a_trigger(client: HubSpot, sandbox: Sandbox) -> None:
    for triggers, expected in (([stage_change_trigger()], "lead"), ([], None)):
        _create_flow(client, stage_default_flow(value="lead", un_enroll=True, re_enroll_triggers=triggers))
        contact_id = _new_contact(client)
        client.crm.contacts.basic_api.update(
            contact_id, simple_public_object_input={"properties": {"lifecyclestage": "subscriber"}}
        )
        _clear(client, contact_id)  # before the first action was due: a second enrollment
        _wait()
        assert _stage(client, contact_id) == expected
        for flow in sandbox.portal.flows():
            sandbox.portal.delete_flow(flow["id"])


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
