"""Property history with sources, through the real SDK: generated histories explain every stage, the offenders
manifest matches what the served histories say, API writes and workflow actions are appended with their sources,
and new dirty records can be added between runs."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hubspot import HubSpot
from sandbox_helpers import flt, raw, sdk_client, search_body, stage_default_flow

from hubspot_sandbox import ChangeSource, Portal, PortalSpec, Sandbox, generate_portal

DISALLOWED = {"subscriber", "other", "evangelist"}
SOURCE_PROPERTIES = [
    "lifecyclestage",
    "hs_object_source",
    "hs_object_source_id",
    "hs_object_source_label",
    "hs_object_source_detail_1",
    "hs_object_source_user_id",
]
LEADSYNC = {"sourceType": "INTEGRATION", "sourceId": "2190533"}
CHURN_WORKFLOW = {"sourceType": "AUTOMATION_PLATFORM", "sourceId": "1487203390"}
NEWSLETTER_FORM = {
    "sourceType": "FORM",
    "sourceId": "5f3c0a52-8d1e-4d7b-9a43-2c6e1b7f9d10",
    "sourceLabel": "Newsletter signup",
}
Key = tuple[str, str | None]  # (sourceType, sourceId)


@pytest.fixture(scope="module")
def generated() -> Iterator[Sandbox]:
    """Read-only: a generated portal served once for the module."""
    with Sandbox(generate_portal(PortalSpec(contacts=800, companies=120, seed=29)), snapshot=False) as started:
        yield started


def every_record(client: HubSpot, object_type: str) -> list[Any]:
    """All records of a type with their stage history and record source, paged through the list endpoint."""
    api = getattr(client.crm, object_type).basic_api
    records: list[Any] = []
    after = None
    while True:
        page = api.get_page(
            limit=100, after=after, properties=SOURCE_PROPERTIES, properties_with_history=["lifecyclestage"]
        )
        assert len(page.results) <= 50  # a history page holds at most 50
        records += page.results
        if page.paging is None:
            return records
        after = page.paging.next.after


def stage_history(record: Any) -> list[Any]:
    return list(record.properties_with_history["lifecyclestage"])


class ServedOffenders:
    """Who left each dirty record dirty, worked out from the served data alone: the newest history entry set (or
    cleared) the bad value; a record never given a stage was left blank by whoever created it."""

    def __init__(self, records: list[Any]) -> None:
        self.missing: Counter[Key] = Counter()
        self.disallowed: Counter[Key] = Counter()
        self.history_labels: dict[Key, set[str | None]] = {}
        self.creator_names: dict[Key, set[str | None]] = {}
        for record in records:
            stage = record.properties["lifecyclestage"]
            if stage and stage not in DISALLOWED:
                continue
            history = stage_history(record)
            if history:
                key: Key = (history[0].source_type, history[0].source_id)
                self.history_labels.setdefault(key, set()).add(history[0].source_label)
            else:
                props = record.properties
                key = (props["hs_object_source"], props["hs_object_source_id"])
                self.creator_names.setdefault(key, set()).add(props["hs_object_source_detail_1"])
            (self.disallowed if stage else self.missing)[key] += 1

    def counts(self) -> dict[Key, tuple[int, int]]:
        return {key: (self.missing[key], self.disallowed[key]) for key in self.missing | self.disallowed}


def _key(source: dict[str, str]) -> Key:
    return (source["sourceType"], source["sourceId"])


def manifest_counts(portal: Portal, object_type: str) -> dict[Key, tuple[int, int]]:
    assert portal.generation is not None
    return {
        (item.source.source_type, item.source.source_id): (item.missing, item.disallowed)
        for item in portal.generation.offenders(object_type)
    }


@pytest.mark.parametrize("object_type", ["contacts", "companies"])
def test_every_generated_history_explains_the_stage_newest_first(generated: Sandbox, object_type: str) -> None:
    records = every_record(sdk_client(generated), object_type)
    assert len(records) == generated.portal.count(object_type)
    shapes: Counter[str] = Counter()
    for record in records:
        stage, history = record.properties["lifecyclestage"], stage_history(record)
        stamps = [entry.timestamp for entry in history]
        assert stamps == sorted(stamps, reverse=True), record.id
        if history:
            assert history[0].value == (stage or ""), record.id  # the newest entry is today's value
            assert history[-1].timestamp == record.created_at  # the oldest one came with the record
            assert history[0].timestamp <= record.updated_at
        else:
            assert stage is None
        for entry in history:
            if entry.source_type == "CRM_UI":
                assert entry.source_id == f"userId:{entry.updated_by_user_id}"
            elif entry.source_type in ("IMPORT", "FORM"):
                assert entry.source_id
                assert entry.source_label
            elif entry.source_type in ("INTEGRATION", "AUTOMATION_PLATFORM"):
                assert entry.source_id.isdigit()
                assert entry.source_label is None
            else:
                assert (entry.source_type, entry.source_id) == ("MIGRATION", None)
        shapes["cleared" if history and history[0].value == "" else "never set" if not history else "set"] += 1
        assert record.properties["hs_object_source"] == record.properties["hs_object_source_label"]
    assert set(shapes) == {"cleared", "never set", "set"}


@pytest.mark.parametrize("object_type", ["contacts", "companies"])
def test_the_offenders_manifest_is_what_the_served_histories_say(generated: Sandbox, object_type: str) -> None:
    served = ServedOffenders(every_record(sdk_client(generated), object_type))
    expected = manifest_counts(generated.portal, object_type)
    assert served.counts() == expected
    assert generated.portal.generation is not None
    offenders = {
        (o.source.source_type, o.source.source_id): o for o in generated.portal.generation.offenders(object_type)
    }
    for key, labels in served.history_labels.items():
        assert labels == {offenders[key].source.source_label}
    for key, names in served.creator_names.items():
        assert names == {offenders[key].name}
    totals = [o.total for o in offenders.values()]
    assert totals == sorted(totals, reverse=True)  # worst first
    assert raw(generated, "GET", "/_sandbox/offenders").json() == generated.portal.generation.as_json()


def test_by_design_the_integration_makes_most_blank_contacts_and_the_workflow_sets_other(generated: Sandbox) -> None:
    assert generated.portal.generation is not None
    top = generated.portal.generation.offenders("contacts")[0]
    assert (top.source.source_type, top.source.source_id, top.name) == (
        "INTEGRATION",
        "2190533",
        "LeadSync for Zoom Webinars",
    )
    assert top.disallowed == 0
    churn = next(o for o in generated.portal.generation.offenders("contacts") if o.source.source_id == "1487203390")
    assert churn.source.source_type == "AUTOMATION_PLATFORM"
    assert churn.missing == 0 < churn.disallowed


def test_record_source_is_searchable(generated: Sandbox) -> None:
    client = sdk_client(generated)
    body = search_body([flt("hs_object_source_id", "EQ", "2190533")], limit=1, properties=SOURCE_PROPERTIES)
    page = client.crm.contacts.search_api.do_search(public_object_search_request=body)
    created_by_leadsync = sum(
        1
        for record_id, _ in generated.portal.records("contacts")
        if generated.portal.get_property("contacts", record_id, "hs_object_source_id") == "2190533"
    )
    assert page.total == created_by_leadsync > 0
    assert page.results[0].properties["hs_object_source"] == "INTEGRATION"


def test_search_and_plain_reads_serve_no_history(generated: Sandbox) -> None:
    body = {
        **search_body([flt("lifecyclestage", "HAS_PROPERTY")], limit=3),
        "propertiesWithHistory": ["lifecyclestage"],
    }
    found = raw(generated, "POST", "/crm/v3/objects/contacts/search", body).json()
    assert len(found["results"]) == 3
    assert all("propertiesWithHistory" not in result for result in found["results"])
    plain = raw(generated, "GET", "/crm/v3/objects/contacts?limit=100&properties=lifecyclestage").json()
    assert len(plain["results"]) == 100  # without histories the page maximum is 100
    assert all("propertiesWithHistory" not in result for result in plain["results"])


def _newest_stage_source(portal: Portal, record_id: str) -> str | None:
    history = portal.property_history("contacts", record_id, "lifecyclestage")
    return history[0].source_type if history else None


def test_get_by_id_serves_a_users_edit_and_the_creators_entries(generated: Sandbox) -> None:
    client = sdk_client(generated)
    edited = next(
        record_id
        for record_id, _ in generated.portal.records("contacts")
        if _newest_stage_source(generated.portal, record_id) == "CRM_UI"
    )
    record = client.crm.contacts.basic_api.get_by_id(edited, properties_with_history=["lifecyclestage", "email"])
    newest = stage_history(record)[0]
    assert newest.source_type == "CRM_UI"
    assert newest.updated_by_user_id in (48211001, 48211002, 48211003)
    email = record.properties_with_history["email"]
    creator = generated.portal.get_property("contacts", edited, "hs_object_source")
    assert [(entry.source_type, entry.timestamp) for entry in email] == [(creator, record.created_at)]


def _first_clean(portal: Portal, shape: int) -> str:
    """A generated contact at a clean stage whose history has ``shape`` entries."""
    return next(
        record_id
        for record_id, props in portal.records("contacts")
        if props.get("lifecyclestage") not in DISALLOWED | {None}
        and len(portal.property_history("contacts", record_id, "lifecyclestage")) == shape
    )


def _served_history(client: HubSpot, record_id: str) -> list[tuple[str, str, str | None]]:
    record = client.crm.contacts.batch_api.read(
        batch_read_input_simple_public_object_id={
            "inputs": [{"id": record_id}],
            "properties": ["lifecyclestage"],
            "propertiesWithHistory": ["lifecyclestage"],
        }
    ).results[0]
    return [(entry.value, entry.source_type, entry.source_id) for entry in stage_history(record)]


def test_api_writes_and_clears_are_appended_above_the_generated_history(client: HubSpot, sandbox: Sandbox) -> None:
    contact_id = _first_clean(sandbox.portal, 2)
    generated_part = _served_history(client, contact_id)
    update = client.crm.contacts.basic_api.update
    update(contact_id, simple_public_object_input={"properties": {"lifecyclestage": ""}})
    update(contact_id, simple_public_object_input={"properties": {"lifecyclestage": "evangelist"}})
    assert _served_history(client, contact_id) == [
        ("evangelist", "API", None),
        ("", "API", None),
        *generated_part,
    ]


def test_records_created_through_the_api_tell_their_values_as_written_by_it(client: HubSpot) -> None:
    deal = client.crm.deals.basic_api.create(
        simple_public_object_input_for_create={"properties": {"dealname": "D", "dealstage": "appointmentscheduled"}}
    )
    client.crm.deals.basic_api.update(deal.id, simple_public_object_input={"properties": {"dealstage": "closedwon"}})
    read = client.crm.deals.basic_api.get_by_id(
        deal.id, properties_with_history=["dealname", "dealstage", "hs_is_closed_won"]
    )
    told = {
        name: [(entry.value, entry.source_type) for entry in entries]
        for name, entries in read.properties_with_history.items()
    }
    assert told == {
        "dealname": [("D", "API")],
        "dealstage": [("closedwon", "API"), ("appointmentscheduled", "API")],
        "hs_is_closed_won": [("true", "CALCULATED"), ("false", "CALCULATED")],  # derived, not written
    }
    assert read.properties_with_history["dealname"][0].timestamp == read.created_at


def test_a_private_app_source_can_be_configured_for_api_writes(client: HubSpot, sandbox: Sandbox) -> None:
    app = {"sourceType": "INTEGRATION", "sourceId": "8675309"}
    response = raw(sandbox, "POST", "/_sandbox/settings", {"api_write_source": app})
    assert response.status_code == 200
    assert response.json()["api_write_source"] == app
    contact_id = _first_clean(sandbox.portal, 1)
    client.crm.contacts.basic_api.update(contact_id, simple_public_object_input={"properties": {"lifecyclestage": ""}})
    assert _served_history(client, contact_id)[0] == ("", "INTEGRATION", "8675309")
    created = client.crm.contacts.basic_api.create(
        simple_public_object_input_for_create={"properties": {"email": "app@example.com"}}
    )
    source = client.crm.contacts.basic_api.get_by_id(created.id, properties=SOURCE_PROPERTIES).properties
    assert (source["hs_object_source"], source["hs_object_source_id"]) == ("INTEGRATION", "8675309")
    bad = raw(sandbox, "POST", "/_sandbox/settings", {"api_write_source": {"sourceId": "1"}})
    assert bad.status_code == 400


def test_a_workflow_action_is_appended_with_its_flow_id(client: HubSpot, sandbox: Sandbox) -> None:
    created = client.api_request({"method": "POST", "path": "/automation/v4/flows", "body": stage_default_flow()})
    flow_id = str(created.json()["id"])
    contact_id = _first_clean(sandbox.portal, 2)
    generated_part = _served_history(client, contact_id)
    client.crm.contacts.basic_api.update(contact_id, simple_public_object_input={"properties": {"lifecyclestage": ""}})
    deadline = time.monotonic() + 3
    while _served_history(client, contact_id)[0][0] != "lead":
        assert time.monotonic() < deadline, "the workflow never acted"
        time.sleep(0.05)
    assert _served_history(client, contact_id) == [
        ("lead", "AUTOMATION_PLATFORM", flow_id),
        ("", "API", None),
        *generated_part,
    ]


def test_a_reset_restores_the_generated_histories(client: HubSpot, sandbox: Sandbox) -> None:
    contact_id = _first_clean(sandbox.portal, 2)
    before = _served_history(client, contact_id)
    client.crm.contacts.basic_api.update(contact_id, simple_public_object_input={"properties": {"lifecyclestage": ""}})
    assert _served_history(client, contact_id) != before
    assert raw(sandbox, "POST", "/_sandbox/reset").status_code == 204
    assert _served_history(client, contact_id) == before


def test_new_dirty_records_between_runs_show_up_with_their_sources(client: HubSpot, sandbox: Sandbox) -> None:
    before = ServedOffenders(every_record(client, "contacts")).counts()
    added = raw(
        sandbox,
        "POST",
        "/_sandbox/dirty-records",
        {"objectType": "contacts", "count": 40, "source": LEADSYNC, "sourceName": "LeadSync for Zoom Webinars"},
    )
    assert added.status_code == 200, added.text
    blank_ids = added.json()["ids"]
    changed = raw(
        sandbox,
        "POST",
        "/_sandbox/dirty-records",
        {"objectType": "contacts", "count": 15, "source": CHURN_WORKFLOW, "stage": "other", "existing": True},
    )
    assert changed.status_code == 200, changed.text
    other_ids = changed.json()["ids"]
    subscribers = sandbox.portal.add_dirty_records(
        "contacts", 10, ChangeSource.from_wire(NEWSLETTER_FORM), stage="subscriber"
    )
    assert len(blank_ids) == 40
    assert len(set(other_ids)) == 15
    assert not set(other_ids) & set(blank_ids)

    records = {record.id: record for record in every_record(client, "contacts")}
    for record_id in blank_ids:
        record = records[record_id]
        assert record.properties["lifecyclestage"] is None
        assert stage_history(record) == []
        assert record.properties["hs_object_source_detail_1"] == "LeadSync for Zoom Webinars"
    for record_id in other_ids:
        history = stage_history(records[record_id])
        assert (history[0].value, history[0].source_type, history[0].source_id) == (
            "other",
            "AUTOMATION_PLATFORM",
            "1487203390",
        )
        assert history[1].value not in DISALLOWED | {""}  # it was clean before
    for record_id in subscribers:
        history = stage_history(records[record_id])
        assert [(entry.value, entry.source_label) for entry in history] == [("subscriber", "Newsletter signup")]
    after = ServedOffenders(list(records.values())).counts()
    added_by = {_key(LEADSYNC): (40, 0), _key(CHURN_WORKFLOW): (0, 15), _key(NEWSLETTER_FORM): (0, 10)}
    for key in before.keys() | after.keys():
        missing, disallowed = before.get(key, (0, 0))
        more_missing, more_disallowed = added_by.get(key, (0, 0))
        assert after[key] == (missing + more_missing, disallowed + more_disallowed), key


@pytest.mark.parametrize(
    "body",
    [
        {"objectType": "contacts", "count": 5, "source": LEADSYNC, "stage": "lead"},  # not a dirty stage
        {"objectType": "contacts", "count": 0, "source": LEADSYNC},
        {"objectType": "deals", "count": 1, "source": LEADSYNC},  # deals have no lifecycle stage
        {"objectType": "contacts", "count": 1, "source": {**LEADSYNC, "appName": "x"}},
        {"objectType": "contacts", "count": 100_000, "source": CHURN_WORKFLOW, "stage": "other", "existing": True},
    ],
)
def test_dirty_record_requests_that_make_no_sense_are_refused(sandbox: Sandbox, body: dict[str, Any]) -> None:
    before = sandbox.portal.dump()
    response = raw(sandbox, "POST", "/_sandbox/dirty-records", body)
    assert response.status_code == 400, response.text
    assert sandbox.portal.dump() == before


def test_same_seed_same_histories_and_offenders() -> None:
    spec = PortalSpec(contacts=700, companies=70, seed=41)
    first, second = generate_portal(spec), generate_portal(spec)
    for object_type in ("contacts", "companies", "deals"):
        for record_id, props in first.records(object_type):
            for name in props:
                assert first.property_history(object_type, record_id, name) == second.property_history(
                    object_type, record_id, name
                )
    assert first.generation == second.generation
    other = generate_portal(PortalSpec(contacts=700, companies=70, seed=42))
    assert other.generation != first.generation


def test_a_portal_built_by_hand_has_no_offenders_manifest() -> None:
    with Sandbox(Portal.empty()) as sandbox:
        assert raw(sandbox, "GET", "/_sandbox/offenders").status_code == 404
