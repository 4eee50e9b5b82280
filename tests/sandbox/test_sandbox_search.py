"""CRM search through the real SDK: operators, limits, paging, the 10k cap, keyset paging, index lag."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts.exceptions import ApiException
from sandbox_helpers import error_body, flt, sdk_client, search_body

from hubspot_sandbox import Sandbox


def _search(client: HubSpot, body: dict[str, Any]) -> Any:
    return client.crm.contacts.search_api.do_search(public_object_search_request=body)


def _ids(client: HubSpot, *groups: list[dict[str, Any]]) -> list[str]:
    return [record.id for record in _search(client, search_body(*groups)).results]


@pytest.fixture
def stages(sandbox: Sandbox) -> dict[str, str]:
    """A fresh portal slice: one contact per stage (and one without) on top of the generated ones."""
    portal = sandbox.portal
    return {
        stage: portal.create_record(
            "contacts",
            {"lifecyclestage": stage, "email": f"{stage}@x.test"} if stage != "none" else {"email": "none@x.test"},
        )
        for stage in ("none", "subscriber", "lead", "customer")
    }


def _mine(ids: list[str], stages: dict[str, str]) -> set[str]:
    names = {record_id: stage for stage, record_id in stages.items()}
    return {names[record_id] for record_id in ids if record_id in names}


def test_operators(client: HubSpot, stages: dict[str, str]) -> None:
    first = stages["none"]
    after_first = [flt("hs_object_id", "GTE", first)]
    assert _mine(_ids(client, [*after_first, flt("lifecyclestage", "EQ", "lead")]), stages) == {"lead"}
    assert _mine(_ids(client, [*after_first, flt("lifecyclestage", "NEQ", "lead")]), stages) == {
        "subscriber",
        "customer",
    }  # no value does not match NEQ
    assert _mine(_ids(client, [*after_first, flt("lifecyclestage", "IN", values=["lead", "customer"])]), stages) == {
        "lead",
        "customer",
    }
    assert _mine(_ids(client, [*after_first, flt("lifecyclestage", "NOT_IN", values=["lead"])]), stages) == {
        "subscriber",
        "customer",
    }
    assert _mine(_ids(client, [*after_first, flt("lifecyclestage", "HAS_PROPERTY")]), stages) == {
        "subscriber",
        "lead",
        "customer",
    }
    assert _mine(_ids(client, [*after_first, flt("lifecyclestage", "NOT_HAS_PROPERTY")]), stages) == {"none"}
    assert _mine(_ids(client, [*after_first, flt("email", "EQ", "LEAD@x.test")]), stages) == {"lead"}
    assert _mine(_ids(client, [*after_first, flt("email", "CONTAINS_TOKEN", "customer")]), stages) == {"customer"}


def test_numeric_id_comparison_and_between(client: HubSpot, stages: dict[str, str]) -> None:
    ordered = [stages[name] for name in ("none", "subscriber", "lead", "customer")]
    assert _ids(client, [flt("hs_object_id", "GT", ordered[1])]) == ordered[2:]
    assert _ids(client, [flt("hs_object_id", "BETWEEN", ordered[1], highValue=ordered[2])]) == ordered[1:3]
    low = _ids(client, [flt("hs_object_id", "LT", "1000")])
    assert low
    assert all(int(record_id) < 1000 for record_id in low)
    assert _ids(client, [flt("hs_object_id", "IN", values=[ordered[0], ordered[3]])]) == [ordered[0], ordered[3]]


def test_groups_are_ored_and_filters_anded(client: HubSpot, stages: dict[str, str]) -> None:
    mine = [flt("hs_object_id", "GTE", stages["none"])]
    ids = _ids(
        client,
        [*mine, flt("lifecyclestage", "EQ", "lead")],
        [*mine, flt("lifecyclestage", "NOT_HAS_PROPERTY")],
        [*mine, flt("email", "EQ", "customer@x.test")],
    )
    assert _mine(ids, stages) == {"lead", "none", "customer"}
    assert ids == sorted(ids, key=int)


def test_total_paging_and_default_limit(client: HubSpot, sandbox: Sandbox) -> None:
    everyone = _search(client, {"filterGroups": []})
    assert everyone.total == sandbox.portal.count("contacts")
    assert len(everyone.results) == 10  # default limit
    assert everyone.paging.next.after == "10"
    last = _search(client, {"limit": 200, "after": str(everyone.total - 5)})
    assert len(last.results) == 5
    assert last.paging is None  # only when there are more


def test_sorting(client: HubSpot, stages: dict[str, str]) -> None:
    mine = [flt("hs_object_id", "GTE", stages["none"])]
    descending = [r.id for r in _search(client, search_body(mine, descending=True)).results]
    assert descending == sorted(stages.values(), key=int, reverse=True)
    by_email = [
        r.properties["email"] for r in _search(client, search_body(mine, sort="email", properties=["email"])).results
    ]
    assert by_email == sorted(by_email)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"limit": 201}, "limit"),
        ({"filterGroups": [{"filters": [flt("email", "HAS_PROPERTY")]}] * 6}, "filter groups"),
        ({"filterGroups": [{"filters": [flt("email", "HAS_PROPERTY")] * 7}]}, "filters in a group"),
        ({"filterGroups": [{"filters": [flt("email", "HAS_PROPERTY")] * 5}] * 4}, "Too many filters"),
        ({"sorts": [{"propertyName": "email", "direction": "ASCENDING"}] * 2}, "sorts"),
        ({"filterGroups": [{"filters": [flt("nonexistent", "EQ", "x")]}]}, "does not exist"),
        ({"filterGroups": [{"filters": [flt("email", "IN")]}]}, "values"),
    ],
)
def test_request_limits_are_400(client: HubSpot, body: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ApiException) as raised:
        _search(client, body)
    assert raised.value.status == 400
    assert fragment in error_body(raised.value)["message"]
    assert error_body(raised.value)["category"] == "VALIDATION_ERROR"


def test_limit_200_is_allowed(client: HubSpot, sandbox: Sandbox) -> None:
    assert len(_search(client, {"limit": 200}).results) == min(200, sandbox.portal.count("contacts"))


def test_paging_past_10000_is_a_400(large_sandbox: Sandbox) -> None:
    client = sdk_client(large_sandbox)
    page = _search(client, {"limit": 200, "after": "9800"})
    assert page.total == 10_500
    assert len(page.results) == 200
    assert page.paging.next.after == "10000"
    with pytest.raises(ApiException) as raised:
        _search(client, {"limit": 200, "after": page.paging.next.after})
    assert raised.value.status == 400
    assert "10000" in error_body(raised.value)["message"]


def test_keyset_paging_reaches_past_10000(large_sandbox: Sandbox) -> None:
    client = sdk_client(large_sandbox)
    seen: list[str] = []
    last = "0"
    while True:
        page = _search(client, search_body([flt("hs_object_id", "GT", last)]))
        if not page.results:
            break
        seen += [record.id for record in page.results]
        last = page.results[-1].id
    assert len(seen) == len(set(seen)) == 10_500


def test_count_query_reads_total(large_sandbox: Sandbox) -> None:
    client = sdk_client(large_sandbox)
    missing = _search(client, {"filterGroups": [{"filters": [flt("lifecyclestage", "NOT_HAS_PROPERTY")]}], "limit": 1})
    expected = sum(1 for _, props in large_sandbox.portal.records("contacts") if "lifecyclestage" not in props)
    assert missing.total == expected > 1000


def test_index_lag_hides_recent_writes_from_search_only(client: HubSpot, sandbox: Sandbox) -> None:
    sandbox.update_settings(index_lag_ms=400)
    contact_id = sandbox.portal.create_record("contacts", {"lifecyclestage": "lead"})
    time.sleep(0.45)
    client.crm.contacts.basic_api.update(
        contact_id, simple_public_object_input={"properties": {"lifecyclestage": "customer"}}
    )
    mine = [flt("hs_object_id", "EQ", contact_id)]
    lagged = _search(client, search_body(mine))
    assert lagged.results[0].properties["lifecyclestage"] == "lead"  # search still sees the old value
    assert _ids(client, [*mine, flt("lifecyclestage", "EQ", "customer")]) == []
    assert (
        client.crm.contacts.basic_api.get_by_id(contact_id, properties=["lifecyclestage"]).properties["lifecyclestage"]
        == "customer"
    )
    created = sandbox.portal.create_record("contacts")
    assert _ids(client, [flt("hs_object_id", "EQ", created)]) == []  # new records appear late too
    time.sleep(0.45)
    assert _ids(client, [*mine, flt("lifecyclestage", "EQ", "customer")]) == [contact_id]
    assert _ids(client, [flt("hs_object_id", "EQ", created)]) == [created]


def test_archived_records_never_match(client: HubSpot, stages: dict[str, str], sandbox: Sandbox) -> None:
    sandbox.portal.archive("contacts", stages["lead"])
    assert _mine(_ids(client, [flt("hs_object_id", "GTE", stages["none"])]), stages) == {
        "none",
        "subscriber",
        "customer",
    }


def test_deals_search_by_indexed_flags(sandbox: Sandbox) -> None:
    client = sdk_client(sandbox)
    won = client.crm.deals.search_api.do_search(
        public_object_search_request={
            "filterGroups": [{"filters": [flt("hs_is_closed_won", "EQ", "true")]}],
            "limit": 1,
        }
    )
    expected = sum(1 for _, props in sandbox.portal.records("deals") if props.get("hs_is_closed_won") == "true")
    assert won.total == expected > 0


def test_free_text_query_and_string_sorts(client: HubSpot, stages: dict[str, str]) -> None:
    found = _search(client, {"query": "customer@x", "limit": 10, "properties": ["email"]})
    assert [record.id for record in found.results] == [stages["customer"]]
    mine = [flt("hs_object_id", "GTE", stages["none"])]
    body = {"filterGroups": [{"filters": mine}], "sorts": ["-hs_object_id"], "limit": 10}
    assert [record.id for record in _search(client, body).results] == sorted(stages.values(), key=int, reverse=True)
