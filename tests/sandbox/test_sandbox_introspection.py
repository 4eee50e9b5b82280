"""The /_sandbox/ endpoints: stats, request log, state dump, reset, settings."""

from __future__ import annotations

import time

from hubspot import HubSpot
from sandbox_helpers import raw

from hubspot_sandbox import Sandbox

STATS_KEYS = {
    "calls",
    "statuses",
    "rate_limited",
    "write_requests",
    "property_changes",
    "backward_sets_ignored",
    "workflow_actions",
    "faults_injected",
}


def test_stats_count_calls_by_normalised_endpoint(client: HubSpot, sandbox: Sandbox) -> None:
    contact_id = sandbox.portal.create_record("contacts", {"lifecyclestage": "customer"})
    client.crm.contacts.basic_api.get_by_id(contact_id)
    client.crm.contacts.basic_api.update(
        contact_id, simple_public_object_input={"properties": {"lifecyclestage": "lead", "firstname": "Kim"}}
    )
    client.crm.contacts.search_api.do_search(public_object_search_request={"limit": 1})
    raw(sandbox, "GET", "/crm/v3/objects/contacts/not-a-number")
    stats = raw(sandbox, "GET", "/_sandbox/stats").json()
    assert set(stats) == STATS_KEYS
    assert stats == sandbox.stats()
    assert stats["calls"] == {
        "GET /crm/v3/objects/contacts/{id}": 2,
        "PATCH /crm/v3/objects/contacts/{id}": 1,
        "POST /crm/v3/objects/contacts/search": 1,
    }
    assert stats["statuses"] == {"200": 3, "404": 1}
    assert (stats["write_requests"], stats["property_changes"], stats["backward_sets_ignored"]) == (1, 1, 1)


def test_request_log_is_opt_in_and_stamps_each_call(client: HubSpot, sandbox: Sandbox) -> None:
    client.crm.contacts.basic_api.get_page()
    assert raw(sandbox, "GET", "/_sandbox/requests").json() == {"enabled": False, "requests": []}
    assert raw(sandbox, "POST", "/_sandbox/settings", {"request_log": True}).status_code == 200
    started = time.time()
    client.crm.contacts.basic_api.get_page()
    client.crm.contacts.search_api.do_search(public_object_search_request={"limit": 1})
    finished = time.time()
    log = raw(sandbox, "GET", "/_sandbox/requests").json()
    assert log["enabled"] is True
    assert [(key, status) for _, key, status in log["requests"]] == [
        ("GET /crm/v3/objects/contacts", 200),
        ("POST /crm/v3/objects/contacts/search", 200),
    ]
    first, second = (arrived for arrived, _, _ in log["requests"])
    assert started <= first <= second <= finished
    raw(sandbox, "POST", "/_sandbox/stats/reset")
    assert sandbox.requests() == []


def test_stats_reset(client: HubSpot, sandbox: Sandbox) -> None:
    client.crm.contacts.basic_api.get_page()
    assert raw(sandbox, "POST", "/_sandbox/stats/reset").status_code == 204
    assert sandbox.stats()["calls"] == {}


def test_state_dump(sandbox: Sandbox) -> None:
    state = raw(sandbox, "GET", "/_sandbox/state?objectType=contacts&limit=5").json()
    assert list(state["records"]) == ["contacts"]
    assert len(state["records"]["contacts"]) == 5
    first = state["records"]["contacts"][0]
    assert first["properties"]["hs_object_id"] == first["id"]
    assert {"associations", "flows", "lifecycleStages", "dealPipelines"} <= set(state)
    full = raw(sandbox, "GET", "/_sandbox/state").json()
    assert len(full["records"]["companies"]) == sandbox.portal.count("companies")
    assert all(link["fromObjectType"] in ("contacts", "companies") for link in full["associations"])


def test_reset_restores_the_served_portal(client: HubSpot, sandbox: Sandbox) -> None:
    contact_id = next(record_id for record_id, _ in sandbox.portal.records("contacts"))
    before = sandbox.portal.get_properties("contacts", contact_id)
    count = sandbox.portal.count("contacts")
    client.crm.contacts.basic_api.update(contact_id, simple_public_object_input={"properties": {"firstname": "Z"}})
    sandbox.portal.create_record("contacts")
    assert raw(sandbox, "POST", "/_sandbox/reset").status_code == 204
    assert sandbox.portal.get_properties("contacts", contact_id) == before
    assert sandbox.portal.count("contacts") == count
    sandbox.portal.create_record("contacts")  # resets can repeat
    sandbox.reset_portal()
    assert sandbox.portal.count("contacts") == count


def test_settings_over_http(sandbox: Sandbox) -> None:
    assert raw(sandbox, "GET", "/_sandbox/settings").json()["burst_limit_per_10s"] is None
    updated = raw(sandbox, "POST", "/_sandbox/settings", {"burst_limit_per_10s": 190, "faults": {"seed": 5}})
    assert updated.json()["burst_limit_per_10s"] == 190
    assert updated.json()["faults"]["seed"] == 5
    assert sandbox.settings.burst_limit_per_10s == 190
    assert raw(sandbox, "POST", "/_sandbox/settings", {"no_such_setting": 1}).status_code == 400
    assert raw(sandbox, "GET", "/_sandbox/nothing").status_code == 404
