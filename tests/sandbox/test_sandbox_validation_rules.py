"""Portal validation rules: a violation rejects the whole write with HubSpot's 400 VALIDATION_ERROR, on the v3
endpoints (switchable) and always on the 2026-09 batch update."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.companies.exceptions import ApiException as CompaniesApiException
from hubspot.crm.contacts.exceptions import ApiException
from sandbox_helpers import error_body, raw, stage_default_flow

from hubspot_sandbox import RuleCondition, Sandbox, StageRule

BLOCKED = StageRule("contacts", RuleCondition("email", "CONTAINS", "@Competitor.test"), "lead")
VERSIONED_UPDATE = "/crm/objects/2026-09/contacts/batch/update"


def _contact(sandbox: Sandbox, email: str, stage: str | None = None) -> str:
    properties = {"email": email, **({"lifecyclestage": stage} if stage else {})}
    return sandbox.portal.create_record("contacts", properties)


def _batch_update(client: HubSpot, inputs: list[dict[str, Any]]) -> None:
    client.crm.contacts.batch_api.update(batch_input_simple_public_object_batch_input={"inputs": inputs})


def _stage(sandbox: Sandbox, contact_id: str) -> str | None:
    return sandbox.portal.get_property("contacts", contact_id, "lifecyclestage")


def _problems(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The list inside HubSpot's ``Property values were not valid: [...]`` message."""
    prefix = "Property values were not valid: "
    assert body["message"].startswith(prefix), body["message"]
    problems: list[dict[str, Any]] = json.loads(body["message"].removeprefix(prefix))
    return problems


def test_one_violation_rejects_the_whole_batch(client: HubSpot, sandbox: Sandbox) -> None:
    sandbox.portal.add_validation_rule(BLOCKED)
    fine = _contact(sandbox, "ann@customer.test")
    blocked = _contact(sandbox, "bob@competitor.test")
    with pytest.raises(ApiException) as raised:
        _batch_update(
            client,
            [
                {"id": fine, "properties": {"lifecyclestage": "lead"}},
                {"id": blocked, "properties": {"lifecyclestage": "lead", "firstname": "Bob"}},
            ],
        )
    body = error_body(raised.value)
    assert raised.value.status == 400
    assert (body["status"], body["category"]) == ("error", "VALIDATION_ERROR")
    uuid.UUID(body["correlationId"])
    [problem] = _problems(body)
    assert (problem["isValid"], problem["name"], problem["error"]) == (
        False,
        "lifecyclestage",
        "VALIDATION_RULE_VIOLATED",
    )
    assert problem["message"] == (
        f'Lifecycle stage "lead" is not allowed when email contains "@Competitor.test" (contact {blocked})'
    )
    assert _stage(sandbox, fine) is None  # nothing of the batch was written
    assert sandbox.portal.get_property("contacts", blocked, "firstname") is None
    assert sandbox.stats()["write_requests"] == 0


def test_the_condition_sees_the_values_the_write_leaves(client: HubSpot, sandbox: Sandbox) -> None:
    sandbox.portal.add_validation_rule(BLOCKED)
    becomes_blocked = _contact(sandbox, "carl@customer.test")
    leaves_the_rule = _contact(sandbox, "dora@competitor.test")
    _batch_update(
        client, [{"id": leaves_the_rule, "properties": {"email": "dora@customer.test", "lifecyclestage": "lead"}}]
    )
    assert _stage(sandbox, leaves_the_rule) == "lead"
    with pytest.raises(ApiException):
        _batch_update(
            client, [{"id": becomes_blocked, "properties": {"email": "carl@competitor.test", "lifecyclestage": "lead"}}]
        )
    _batch_update(client, [{"id": becomes_blocked, "properties": {"lifecyclestage": "customer"}}])  # other stages: fine
    assert _stage(sandbox, becomes_blocked) == "customer"


def test_single_record_writes_and_creates_are_checked(client: HubSpot, sandbox: Sandbox) -> None:
    rule = StageRule(
        "contacts", RuleCondition("hs_lead_status", "NOT_HAS_PROPERTY"), "salesqualifiedlead", "Set a lead status first"
    )
    sandbox.portal.add_validation_rule(rule)
    contact_id = _contact(sandbox, "eve@customer.test", "lead")
    with pytest.raises(ApiException) as raised:
        client.crm.contacts.basic_api.update(
            contact_id, simple_public_object_input={"properties": {"lifecyclestage": "salesqualifiedlead"}}
        )
    assert _problems(error_body(raised.value))[0]["message"] == f"Set a lead status first (contact {contact_id})"
    with pytest.raises(ApiException) as created:
        client.crm.contacts.basic_api.create(
            simple_public_object_input_for_create={"properties": {"lifecyclestage": "salesqualifiedlead"}}
        )
    assert _problems(error_body(created.value))[0]["message"] == "Set a lead status first (a new contact)"
    result = client.crm.contacts.basic_api.update(
        contact_id,
        simple_public_object_input={"properties": {"lifecyclestage": "salesqualifiedlead", "hs_lead_status": "OPEN"}},
    )
    assert result.properties["lifecyclestage"] == "salesqualifiedlead"


def test_rules_apply_to_their_object_type_only(client: HubSpot, sandbox: Sandbox) -> None:
    sandbox.portal.add_validation_rule(StageRule("companies", RuleCondition("name", "EQ", "acme"), "lead"))
    company = sandbox.portal.create_record("companies", {"name": "ACME"})
    contact = sandbox.portal.create_record("contacts", {"company": "acme"})
    with pytest.raises(CompaniesApiException) as raised:
        client.crm.companies.basic_api.update(
            company, simple_public_object_input={"properties": {"lifecyclestage": "lead"}}
        )
    assert raised.value.status == 400  # EQ ignores case, as HubSpot's filters do
    _batch_update(client, [{"id": contact, "properties": {"lifecyclestage": "lead"}}])
    assert _stage(sandbox, contact) == "lead"


def test_v3_enforcement_is_a_setting_the_2026_09_update_ignores(client: HubSpot, sandbox: Sandbox) -> None:
    sandbox.portal.add_validation_rule(BLOCKED)
    contact_id = _contact(sandbox, "fay@competitor.test")
    body = {"inputs": [{"id": contact_id, "properties": {"lifecyclestage": "lead"}}]}
    sandbox.update_settings(validation_rules_on_v3=False)
    rejected = raw(sandbox, "POST", VERSIONED_UPDATE, body)
    assert rejected.status_code == 400
    assert rejected.json()["category"] == "VALIDATION_ERROR"
    assert _stage(sandbox, contact_id) is None
    _batch_update(client, body["inputs"])  # v3, rules off: written
    assert _stage(sandbox, contact_id) == "lead"


def test_the_2026_09_update_answers_200_with_errors_never_207(sandbox: Sandbox) -> None:
    contact_id = _contact(sandbox, "gus@customer.test")
    inputs = [
        {"id": contact_id, "properties": {"lifecyclestage": "lead"}},
        {"id": "12", "properties": {"firstname": "x"}},
    ]
    response = raw(sandbox, "POST", VERSIONED_UPDATE, {"inputs": inputs})
    assert response.status_code == 200
    body = response.json()
    assert body["numErrors"] == 1
    assert (body["errors"][0]["category"], body["errors"][0]["context"]) == ("OBJECT_NOT_FOUND", {"ids": ["12"]})
    assert [result["id"] for result in body["results"]] == [contact_id]
    assert _stage(sandbox, contact_id) == "lead"


def test_workflow_actions_are_not_checked(client: HubSpot, sandbox: Sandbox) -> None:
    sandbox.portal.add_validation_rule(BLOCKED)
    created = client.api_request({"method": "POST", "path": "/automation/v4/flows", "body": stage_default_flow()})
    assert created.status_code == 201
    contact_id = _contact(sandbox, "hal@competitor.test")
    time.sleep(0.35)  # the fixture's workflow delay is 0.2 s
    assert _stage(sandbox, contact_id) == "lead"


def test_rules_over_http(sandbox: Sandbox) -> None:
    rule = {
        "object_type": "0-1",
        "when": {"property": "email", "operator": "contains", "value": "@x.test"},
        "forbid_stage": "lead",
    }
    added = raw(sandbox, "POST", "/_sandbox/validation-rules", rule)
    assert added.status_code == 201
    stored = {**rule, "object_type": "contacts", "when": {**rule["when"], "operator": "CONTAINS"}}
    assert added.json() == stored
    assert raw(sandbox, "GET", "/_sandbox/validation-rules").json() == {"rules": [stored]}
    assert raw(sandbox, "GET", "/_sandbox/state?objectType=contacts&limit=1").json()["validationRules"] == [stored]
    contact_id = _contact(sandbox, "ida@x.test")
    update = {"inputs": [{"id": contact_id, "properties": {"lifecyclestage": "lead"}}]}
    assert raw(sandbox, "POST", "/crm/v3/objects/contacts/batch/update", update).status_code == 400
    assert raw(sandbox, "DELETE", "/_sandbox/validation-rules").status_code == 204
    assert raw(sandbox, "POST", "/crm/v3/objects/contacts/batch/update", update).status_code == 200
    for bad in (
        {**rule, "object_type": "deals"},  # no lifecycle stage
        {**rule, "when": {"property": "emial", "operator": "EQ", "value": "x"}},
        {**rule, "when": {"property": "email", "operator": "LIKE", "value": "x"}},
        {**rule, "when": {"property": "email", "operator": "EQ"}},
        {"object_type": "contacts", "when": rule["when"]},
    ):
        assert raw(sandbox, "POST", "/_sandbox/validation-rules", bad).status_code == 400, bad


def test_a_portal_reset_restores_the_rules_it_was_served_with(sandbox: Sandbox) -> None:
    sandbox.portal.add_validation_rule(BLOCKED)
    sandbox.reset_portal()
    assert sandbox.portal.validation_rules() == ()


@pytest.mark.parametrize(
    ("operator", "value", "current", "expected"),
    [
        ("EQ", "A@b.test", "a@B.test", True),
        ("EQ", "a", None, False),
        ("NEQ", "a", "b", True),
        ("NEQ", "a", None, True),
        ("CONTAINS", "@b", "x@B.test", True),
        ("CONTAINS", "@b", None, False),
        ("NOT_CONTAINS", "@b", "x@c.test", True),
        ("NOT_CONTAINS", "@b", None, True),
        ("HAS_PROPERTY", None, "x", True),
        ("HAS_PROPERTY", None, None, False),
        ("NOT_HAS_PROPERTY", None, None, True),
    ],
)
def test_condition_operators(operator: str, value: str | None, current: str | None, expected: bool) -> None:
    assert RuleCondition("email", operator, value).matches(current) is expected
