"""Lifecycle stage rules: forward-only, clearing, custom stages, history."""

from __future__ import annotations

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts.exceptions import ApiException
from sandbox_helpers import error_body

from hubspot_sandbox import Portal, Sandbox, StageOption


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


def test_removed_default_stage_is_invalid(client: HubSpot, sandbox: Sandbox) -> None:
    sandbox.portal.remove_lifecycle_stage("lead")
    contact_id = sandbox.portal.create_record("contacts")
    with pytest.raises(ApiException) as raised:
        _set_stage(client, contact_id, "lead")
    assert raised.value.status == 400
    options = client.crm.properties.core_api.get_by_name("contacts", "lifecyclestage").options
    assert "lead" not in [option.value for option in options]


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
