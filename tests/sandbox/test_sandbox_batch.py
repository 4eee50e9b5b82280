"""Batch read / update / create / archive semantics through the real SDK (200, 207, 400)."""

from __future__ import annotations

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts.exceptions import ApiException
from sandbox_helpers import error_body

from hubspot_sandbox import Sandbox


def _contacts(sandbox: Sandbox, count: int, stage: str | None = "lead") -> list[str]:
    properties = {"lifecyclestage": stage} if stage else {}
    return [sandbox.portal.create_record("contacts", properties) for _ in range(count)]


def _update(client: HubSpot, inputs: list[dict[str, object]]) -> tuple[object, int]:
    data, status, _headers = client.crm.contacts.batch_api.update_with_http_info(
        batch_input_simple_public_object_batch_input={"inputs": inputs}
    )
    return data, status


def test_batch_update_applies_all_with_200(client: HubSpot, sandbox: Sandbox) -> None:
    ids = _contacts(sandbox, 3)
    data, status = _update(client, [{"id": i, "properties": {"lifecyclestage": "customer"}} for i in ids])
    assert status == 200
    assert sorted(result.id for result in data.results) == sorted(ids)  # type: ignore[attr-defined]
    assert all(sandbox.portal.get_property("contacts", i, "lifecyclestage") == "customer" for i in ids)
    assert sandbox.stats()["property_changes"] == 3
    assert sandbox.stats()["write_requests"] == 1


def test_more_than_100_inputs_is_a_400(client: HubSpot, sandbox: Sandbox) -> None:
    inputs = [{"id": str(101 + offset), "properties": {"firstname": "x"}} for offset in range(101)]
    with pytest.raises(ApiException) as raised:
        _update(client, inputs)
    assert raised.value.status == 400
    assert error_body(raised.value)["category"] == "VALIDATION_ERROR"
    _, status = _update(client, inputs[:100])
    assert status == 200


def test_duplicate_ids_are_a_400(client: HubSpot, sandbox: Sandbox) -> None:
    contact_id = _contacts(sandbox, 1)[0]
    with pytest.raises(ApiException) as raised:
        _update(
            client,
            [
                {"id": contact_id, "properties": {"firstname": "a"}},
                {"id": contact_id, "properties": {"firstname": "b"}},
            ],
        )
    assert raised.value.status == 400
    assert "Duplicate IDs" in error_body(raised.value)["message"]
    assert sandbox.portal.get_property("contacts", contact_id, "firstname") is None


def test_missing_ids_are_207_and_the_rest_is_applied(client: HubSpot, sandbox: Sandbox) -> None:
    existing = _contacts(sandbox, 2, stage=None)
    archived = _contacts(sandbox, 1)[0]
    sandbox.portal.archive("contacts", archived)
    inputs = [
        {"id": record_id, "properties": {"lifecyclestage": "lead"}} for record_id in [*existing, "99999999", archived]
    ]
    data, status = _update(client, inputs)
    assert status == 207
    assert data.num_errors == 1  # type: ignore[attr-defined]
    error = data.errors[0]  # type: ignore[attr-defined]
    assert error.category == "OBJECT_NOT_FOUND"
    assert sorted(error.context["ids"]) == sorted(["99999999", archived])
    assert all(sandbox.portal.get_property("contacts", i, "lifecyclestage") == "lead" for i in existing)


def test_invalid_option_rejects_the_whole_batch(client: HubSpot, sandbox: Sandbox) -> None:
    good, bad = _contacts(sandbox, 2, stage=None)
    with pytest.raises(ApiException) as raised:
        _update(
            client,
            [
                {"id": good, "properties": {"lifecyclestage": "lead"}},
                {"id": bad, "properties": {"lifecyclestage": "LEAD!"}},
            ],
        )
    body = error_body(raised.value)
    assert raised.value.status == 400
    assert body["category"] == "VALIDATION_ERROR"
    assert '"error":"INVALID_OPTION","name":"lifecyclestage"' in body["message"]
    assert sandbox.portal.get_property("contacts", good, "lifecyclestage") is None  # nothing applied


def test_batch_backward_set_returns_stored_value(client: HubSpot, sandbox: Sandbox) -> None:
    contact_id = _contacts(sandbox, 1, stage="customer")[0]
    data, _ = _update(client, [{"id": contact_id, "properties": {"lifecyclestage": "lead"}}])
    assert data.results[0].properties["lifecyclestage"] == "customer"  # type: ignore[attr-defined]
    assert sandbox.stats()["backward_sets_ignored"] == 1


def test_batch_read_with_missing_ids_is_207(client: HubSpot, sandbox: Sandbox) -> None:
    ids = _contacts(sandbox, 2)
    data, status, _ = client.crm.contacts.batch_api.read_with_http_info(
        batch_read_input_simple_public_object_id={
            "inputs": [{"id": ids[0]}, {"id": ids[1]}, {"id": "12"}],
            "properties": ["lifecyclestage"],
            "propertiesWithHistory": [],
        }
    )
    assert status == 207
    assert sorted(result.id for result in data.results) == sorted(ids)
    assert data.errors[0].context == {"ids": ["12"]}
    assert data.results[0].properties["lifecyclestage"] == "lead"


def test_batch_read_with_history_allows_50_inputs(client: HubSpot, sandbox: Sandbox) -> None:
    ids = _contacts(sandbox, 51)
    request = {
        "inputs": [{"id": i} for i in ids],
        "properties": ["lifecyclestage"],
        "propertiesWithHistory": ["lifecyclestage"],
    }
    with pytest.raises(ApiException) as raised:
        client.crm.contacts.batch_api.read(batch_read_input_simple_public_object_id=request)
    assert raised.value.status == 400
    error = error_body(raised.value)
    assert error["category"] == "VALIDATION_ERROR"
    # HubSpot's text as quoted in facts §3.2 (its ending is not quoted there)
    assert error["message"].startswith(
        "The maximum number of inputs supported in a batch request for property histories is 50."
    )
    request["inputs"] = request["inputs"][:50]
    data = client.crm.contacts.batch_api.read(batch_read_input_simple_public_object_id=request)
    history = data.results[0].properties_with_history["lifecyclestage"]
    assert history[0].value == "lead"
    assert history[0].source_type == "IMPORT"


def test_batch_create_and_archive(client: HubSpot, sandbox: Sandbox) -> None:
    before = sandbox.portal.count("contacts")
    data, status, _ = client.crm.contacts.batch_api.create_with_http_info(
        batch_input_simple_public_object_batch_input_for_create={
            "inputs": [{"properties": {"email": f"batch{i}@example.com"}, "associations": []} for i in range(3)]
        }
    )
    assert status == 201
    assert sandbox.portal.count("contacts") == before + 3
    client.crm.contacts.batch_api.archive(
        batch_input_simple_public_object_id={"inputs": [{"id": result.id} for result in data.results]}
    )
    assert sandbox.portal.count("contacts") == before


def test_id_property_lookups_are_refused_not_misread(client: HubSpot, sandbox: Sandbox) -> None:
    with pytest.raises(ApiException) as raised:
        client.crm.contacts.batch_api.update(
            batch_input_simple_public_object_batch_input={
                "inputs": [{"id": "a@example.com", "idProperty": "email", "properties": {"firstname": "x"}}]
            }
        )
    assert raised.value.status == 400
