"""CRUD, listing and record shapes through the real SDK."""

from __future__ import annotations

import datetime as dt

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts.exceptions import ApiException, NotFoundException
from hubspot.crm.deals.exceptions import ApiException as DealsApiException
from sandbox_helpers import error_body, raw

from hubspot_sandbox import Sandbox


def test_create_get_patch_archive_roundtrip(client: HubSpot, sandbox: Sandbox) -> None:
    created = client.crm.contacts.basic_api.create(
        simple_public_object_input_for_create={"properties": {"email": "new@example.com", "firstname": "New"}}
    )
    assert created.id.isdigit()
    assert created.properties["hs_object_id"] == created.id
    assert isinstance(created.created_at, dt.datetime)

    fetched = client.crm.contacts.basic_api.get_by_id(created.id, properties=["email", "lifecyclestage", "phone"])
    assert fetched.properties["email"] == "new@example.com"
    assert fetched.properties["lifecyclestage"] is None  # requested but empty -> null
    assert fetched.properties["phone"] is None
    assert {"createdate", "hs_object_id", "lastmodifieddate"} <= set(fetched.properties)

    updated = client.crm.contacts.basic_api.update(
        created.id, simple_public_object_input={"properties": {"firstname": "Renamed"}}
    )
    assert updated.properties["firstname"] == "Renamed"
    assert sandbox.portal.get_property("contacts", created.id, "firstname") == "Renamed"

    client.crm.contacts.basic_api.archive(created.id)
    with pytest.raises(NotFoundException):
        client.crm.contacts.basic_api.get_by_id(created.id)
    assert raw(sandbox, "GET", f"/crm/v3/objects/contacts/{created.id}?archived=true").json()["archived"] is True


def test_default_properties_per_type(client: HubSpot, sandbox: Sandbox) -> None:
    contact_id = next(record_id for record_id, _ in sandbox.portal.records("contacts"))
    contact = client.crm.contacts.basic_api.get_by_id(contact_id)
    assert set(contact.properties) == {
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    }
    company = client.crm.companies.basic_api.get_by_id(next(i for i, _ in sandbox.portal.records("companies")))
    assert set(company.properties) == {"createdate", "domain", "hs_object_id", "lastmodifieddate", "name"}
    deal = client.crm.deals.basic_api.get_by_id(next(i for i, _ in sandbox.portal.records("deals")))
    assert set(deal.properties) == {
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    }


def test_ids_are_numeric_increasing_and_distinct_per_type(sandbox: Sandbox) -> None:
    first = int(sandbox.portal.create_record("contacts"))
    second = int(sandbox.portal.create_record("contacts"))
    company = int(sandbox.portal.create_record("companies"))
    assert second == first + 1
    assert company > 10 * second  # separate, distant ranges catch contact/company id mix-ups


def test_empty_string_is_no_value(client: HubSpot, sandbox: Sandbox) -> None:
    contact_id = sandbox.portal.create_record("contacts", {"phone": "123"})
    client.crm.contacts.basic_api.update(contact_id, simple_public_object_input={"properties": {"phone": ""}})
    assert "phone" not in sandbox.portal.get_properties("contacts", contact_id)


def test_unknown_and_read_only_properties_are_rejected(client: HubSpot, sandbox: Sandbox) -> None:
    contact_id = sandbox.portal.create_record("contacts")
    with pytest.raises(ApiException) as unknown:
        client.crm.contacts.basic_api.update(contact_id, simple_public_object_input={"properties": {"nope": "x"}})
    assert unknown.value.status == 400
    assert '"error":"PROPERTY_DOESNT_EXIST"' in error_body(unknown.value)["message"]
    with pytest.raises(ApiException) as read_only:
        client.crm.contacts.basic_api.update(
            contact_id, simple_public_object_input={"properties": {"hs_object_id": "1"}}
        )
    assert '"error":"READ_ONLY_VALUE"' in error_body(read_only.value)["message"]


def test_list_pages_with_cursor(client: HubSpot, sandbox: Sandbox) -> None:
    seen: list[str] = []
    after = None
    while True:
        page = client.crm.companies.basic_api.get_page(limit=15, after=after)
        seen += [record.id for record in page.results]
        if page.paging is None:
            break
        after = page.paging.next.after
    assert seen == [record_id for record_id, _ in sandbox.portal.records("companies")]


def test_object_type_ids_and_singular_names_are_accepted(sandbox: Sandbox) -> None:
    contact_id = next(record_id for record_id, _ in sandbox.portal.records("contacts"))
    for alias in ("contacts", "contact", "0-1"):
        assert raw(sandbox, "GET", f"/crm/v3/objects/{alias}/{contact_id}").json()["id"] == contact_id
    unknown = raw(sandbox, "GET", f"/crm/v3/objects/widgets/{contact_id}")
    assert unknown.status_code == 404
    assert unknown.json()["message"] == "Unable to infer object type from: widgets"


def test_unknown_path_is_404_with_hubspot_error_body(sandbox: Sandbox) -> None:
    response = raw(sandbox, "GET", "/crm/v3/nothing/here")
    assert response.status_code == 404
    body = response.json()
    assert body["status"] == "error"
    assert body["category"]
    assert body["correlationId"]
    assert body["message"]


def test_deal_stage_derives_closed_flags_per_pipeline(client: HubSpot, sandbox: Sandbox) -> None:
    custom = next(p for p in sandbox.portal.deal_pipelines() if p.id != "default")
    won = next(stage for stage in custom.stages if stage.is_closed_won)
    deal = client.crm.deals.basic_api.create(
        simple_public_object_input_for_create={
            "properties": {"dealname": "Big", "pipeline": custom.id, "dealstage": won.id}
        }
    )
    assert sandbox.portal.get_property("deals", deal.id, "hs_is_closed_won") == "true"
    assert sandbox.portal.get_property("deals", deal.id, "hs_is_closed") == "true"
    open_stage = next(stage for stage in custom.stages if not stage.is_closed)
    client.crm.deals.basic_api.update(deal.id, simple_public_object_input={"properties": {"dealstage": open_stage.id}})
    assert sandbox.portal.get_property("deals", deal.id, "hs_is_closed") == "false"
    with pytest.raises(DealsApiException) as invalid:
        client.crm.deals.basic_api.update(
            deal.id, simple_public_object_input={"properties": {"dealstage": "closedwon"}}
        )  # a default-pipeline stage, not in this deal's pipeline
    assert invalid.value.status == 400
    assert '"error":"INVALID_OPTION"' in error_body(invalid.value)["message"]


def test_create_with_associations(client: HubSpot, sandbox: Sandbox) -> None:
    company_id = sandbox.portal.create_record("companies", {"name": "Acme"})
    created = client.crm.contacts.basic_api.create(
        simple_public_object_input_for_create={
            "properties": {"email": "a@acme.test"},
            "associations": [
                {
                    "to": {"id": company_id},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}],
                }
            ],
        }
    )
    links = sandbox.portal.associations("contacts", created.id, "companies")
    assert [(link.to_id, link.type_ids) for link in links] == [(company_id, (1, 279))]
