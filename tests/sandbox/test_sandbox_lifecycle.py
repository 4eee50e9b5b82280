"""Lifecycle stage rules: forward-only, clearing, custom stages, stage options deleted mid-run, history."""

from __future__ import annotations

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts.exceptions import ApiException
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException
from hubspot.crm.properties.exceptions import ForbiddenException
from sandbox_helpers import error_body, flt, raw, sdk_client, search_body

from hubspot_sandbox import ALL_SCOPES, Portal, Sandbox, StageOption


def _set_stage(client: HubSpot, contact_id: str, stage: str) -> str | None:
    result = client.crm.contacts.basic_api.update(
        contact_id, simple_public_object_input={"properties": {"lifecyclestage": stage}}
    )
    return result.properties.get("lifecyclestage")


def test_backward_set_is_silently_ignored(client: HubSpot, sandbox: Sandbox) -> None:
    contact_id = sandbox.portal.create_record("contacts", {"lifecyclestage": "opportunity"})
    returned = _set_stage(client, contact_id, "lead")
    assert returned == "opportunity"  # 2xx, and the stored (old) value comes back
    assert sandbox.portal.get_property("contacts", contact_id, "lifecyclestage") == "opportunity"
    assert sandbox.stats()["backward_sets_ignored"] == 1
    assert sandbox.stats()["property_changes"] == 0


def test_clear_then_set_moves_backward_and_keeps_history(client: HubSpot, sandbox: Sandbox) -> None:
    contact_id = sandbox.portal.create_record("contacts", {"lifecyclestage": "opportunity"})
    assert _set_stage(client, contact_id, "") is None
    assert _set_stage(client, contact_id, "lead") == "lead"
    history = sandbox.portal.property_history("contacts", contact_id, "lifecyclestage")
    assert [entry.value for entry in history] == ["lead", "", "opportunity"]
    assert [entry.source_type for entry in history] == ["API", "API", "IMPORT"]
    assert history[0].timestamp_ms >= history[1].timestamp_ms >= history[2].timestamp_ms

    fetched = client.crm.contacts.basic_api.get_by_id(contact_id, properties_with_history=["lifecyclestage"])
    values = [item.value for item in fetched.properties_with_history["lifecyclestage"]]
    assert values == ["lead", "", "opportunity"]


def test_forward_set_and_same_value(client: HubSpot, sandbox: Sandbox) -> None:
    contact_id = sandbox.portal.create_record("contacts", {"lifecyclestage": "lead"})
    assert _set_stage(client, contact_id, "customer") == "customer"
    assert _set_stage(client, contact_id, "customer") == "customer"
    stats = sandbox.stats()
    assert stats["property_changes"] == 1
    assert stats["backward_sets_ignored"] == 0
    assert len(sandbox.portal.property_history("contacts", contact_id, "lifecyclestage")) == 2


def test_invalid_option_is_a_400(client: HubSpot, sandbox: Sandbox) -> None:
    contact_id = sandbox.portal.create_record("contacts", {"lifecyclestage": "lead"})
    with pytest.raises(ApiException) as raised:
        _set_stage(client, contact_id, "notastage")
    body = error_body(raised.value)
    assert raised.value.status == 400
    assert body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith(
        'Property values were not valid: [{"isValid":false,"message":"notastage was not one of the allowed options: ['
    )
    assert '"error":"INVALID_OPTION","name":"lifecyclestage"' in body["message"]


def test_custom_stage_order_follows_display_order(client: HubSpot, sandbox: Sandbox) -> None:
    custom = StageOption("987654", "Product Qualified", 0)
    sandbox.portal.add_lifecycle_stage(custom, after="salesqualifiedlead")
    values = [stage.value for stage in sandbox.portal.lifecycle_stages("contacts")]
    assert values.index("salesqualifiedlead") + 1 == values.index("987654") < values.index("opportunity")

    at_sql = sandbox.portal.create_record("contacts", {"lifecyclestage": "salesqualifiedlead"})
    at_opportunity = sandbox.portal.create_record("contacts", {"lifecyclestage": "opportunity"})
    assert _set_stage(client, at_sql, "987654") == "987654"
    assert _set_stage(client, at_opportunity, "987654") == "opportunity"  # custom is earlier: ignored


def _stage_values(client: HubSpot, object_type: str = "contacts") -> list[str]:
    return [
        option.value for option in client.crm.properties.core_api.get_by_name(object_type, "lifecyclestage").options
    ]


def test_a_stage_deleted_mid_run(client: HubSpot, sandbox: Sandbox) -> None:
    holders = [sandbox.portal.create_record("contacts", {"lifecyclestage": "lead"}) for _ in range(2)]
    blank = sandbox.portal.create_record("contacts")
    assert "lead" in _stage_values(client)
    assert raw(sandbox, "POST", "/_sandbox/lifecycle-stages/delete", {"value": "lead"}).status_code == 204

    assert "lead" not in _stage_values(client)
    assert "lead" not in _stage_values(client, "companies")  # one stage list for both (facts §1.1)
    with pytest.raises(ApiException) as raised:  # one input setting it fails the whole batch
        client.crm.contacts.batch_api.update(
            batch_input_simple_public_object_batch_input={
                "inputs": [
                    {"id": holders[0], "properties": {"firstname": "kept?"}},
                    {"id": blank, "properties": {"lifecyclestage": "lead"}},
                ]
            }
        )
    body = error_body(raised.value)
    assert (raised.value.status, body["category"]) == (400, "VALIDATION_ERROR")
    assert body["message"].startswith('Property values were not valid: [{"isValid":false,"message":"lead was not one')
    assert '"error":"INVALID_OPTION","name":"lifecyclestage"' in body["message"]
    assert sandbox.portal.get_property("contacts", holders[0], "firstname") is None

    # records that hold the deleted value keep it, read back with it and are still found by it
    read = client.crm.contacts.batch_api.read(
        batch_read_input_simple_public_object_id={
            "inputs": [{"id": record_id} for record_id in holders],
            "properties": ["lifecyclestage"],
            "propertiesWithHistory": [],
        }
    )
    assert [result.properties["lifecyclestage"] for result in read.results] == ["lead", "lead"]
    found = client.crm.contacts.search_api.do_search(
        public_object_search_request=search_body(
            [flt("lifecyclestage", "EQ", "lead"), flt("hs_object_id", "GTE", holders[0])]
        )
    )
    assert sorted(result.id for result in found.results) == sorted(holders)
    # writes that leave the deleted value alone still work; moving off it is not ranked as backward
    client.crm.contacts.basic_api.update(holders[0], simple_public_object_input={"properties": {"firstname": "A"}})
    assert _set_stage(client, holders[1], "subscriber") == "subscriber"


def test_deleting_a_stage_over_http_validates(sandbox: Sandbox) -> None:
    delete = "/_sandbox/lifecycle-stages/delete"
    assert raw(sandbox, "POST", delete, {"value": "nope"}).status_code == 400
    assert raw(sandbox, "POST", delete, {"value": "lead", "objectTypes": ["deals"]}).status_code == 400
    assert raw(sandbox, "POST", delete, {"value": "lead", "objectTypes": ["companies"]}).status_code == 204
    assert "lead" in [stage.value for stage in sandbox.portal.lifecycle_stages("contacts")]
    assert "lead" not in [stage.value for stage in sandbox.portal.lifecycle_stages("companies")]


def _option(stage: StageOption, *, hidden: bool | None = None) -> dict[str, object]:
    return {
        "label": stage.label,
        "value": stage.value,
        "displayOrder": stage.display_order,
        "hidden": stage.hidden if hidden is None else hidden,
    }


def test_patching_the_property_deletes_and_hides_options(client: HubSpot, sandbox: Sandbox) -> None:
    contact_id = sandbox.portal.create_record("contacts")
    stages = sandbox.portal.lifecycle_stages("contacts")
    options = [_option(stage, hidden=stage.value == "subscriber") for stage in stages if stage.value != "evangelist"]
    updated = client.crm.properties.core_api.update("companies", "lifecyclestage", {"options": options})
    assert "evangelist" not in [option.value for option in updated.options]
    listed = {
        option.value: option.hidden
        for option in client.crm.properties.core_api.get_by_name("contacts", "lifecyclestage").options
    }
    assert "evangelist" not in listed
    assert listed["subscriber"] is True  # hidden options are still listed
    assert _set_stage(client, contact_id, "subscriber") == "subscriber"  # and still writable (UNCONFIRMED)
    with pytest.raises(ApiException) as raised:
        _set_stage(client, contact_id, "evangelist")
    assert '"error":"INVALID_OPTION"' in error_body(raised.value)["message"]


@pytest.mark.parametrize(
    ("property_name", "body"),
    [
        ("email", {"options": []}),
        ("lifecyclestage", {"label": "Stage"}),
        ("lifecyclestage", {"options": []}),
        ("lifecyclestage", {"options": [{"value": "lead", "label": "Lead"}]}),
        ("lifecyclestage", {"options": [{"value": "a", "label": "A", "hidden": False}] * 2}),
    ],
    ids=["other property", "other field", "no options", "option without hidden", "duplicate values"],
)
def test_patching_anything_else_is_a_400(
    client: HubSpot, sandbox: Sandbox, property_name: str, body: dict[str, object]
) -> None:
    before = sandbox.portal.lifecycle_stages("contacts")
    with pytest.raises(PropertiesApiException) as raised:
        client.crm.properties.core_api.update("contacts", property_name, body)
    assert raised.value.status == 400
    assert sandbox.portal.lifecycle_stages("contacts") == before


def test_patching_the_property_needs_the_schema_scope(sandbox: Sandbox) -> None:
    token = sandbox.issue_token("private_app", ALL_SCOPES - {"crm.schemas.contacts.write"})
    options = [_option(stage) for stage in sandbox.portal.lifecycle_stages("contacts")]
    with pytest.raises(ForbiddenException):
        sdk_client(sandbox, token).crm.properties.core_api.update("contacts", "lifecyclestage", {"options": options})


def test_negative_display_order_sorts_last() -> None:
    portal = Portal.empty()
    options = [StageOption("zzz", "Last", -1), *portal.lifecycle_stages()]
    portal.set_lifecycle_stages(options)
    assert portal.lifecycle_stages("companies")[-1].value == "zzz"


def test_companies_follow_the_same_rules(client: HubSpot, sandbox: Sandbox) -> None:
    company_id = sandbox.portal.create_record("companies", {"lifecyclestage": "customer"})
    result = client.crm.companies.basic_api.update(
        company_id, simple_public_object_input={"properties": {"lifecyclestage": "lead"}}
    )
    assert result.properties["lifecyclestage"] == "customer"


def test_seeding_bypasses_rules_and_apply_enforces_them(sandbox: Sandbox) -> None:
    contact_id = sandbox.portal.create_record("contacts", {"lifecyclestage": "customer"})
    sandbox.portal.seed_properties("contacts", contact_id, {"lifecyclestage": "subscriber"})
    assert sandbox.portal.get_property("contacts", contact_id, "lifecyclestage") == "subscriber"
    outcome = sandbox.portal.apply_properties("contacts", contact_id, {"lifecyclestage": "lead"})
    assert (outcome.changed, outcome.ignored_backward) == (1, 0)
    outcome = sandbox.portal.apply_properties("contacts", contact_id, {"lifecyclestage": "subscriber"})
    assert (outcome.changed, outcome.ignored_backward) == (0, 1)
