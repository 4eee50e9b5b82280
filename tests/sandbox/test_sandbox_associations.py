"""Associations v4 through the real SDK: shapes, type ids both ways, errors, per-input paging."""

from __future__ import annotations

import pytest
from hubspot import HubSpot
from hubspot.crm.associations.v4.exceptions import ApiException
from sandbox_helpers import raw

from hubspot_sandbox import Sandbox


def _read(client: HubSpot, from_type: str, to_type: str, inputs: list[dict[str, str]]) -> tuple[object, int]:
    data, status, _ = client.crm.associations.v4.batch_api.get_page_with_http_info(
        from_type, to_type, batch_input_public_fetch_associations_batch_request={"inputs": inputs}
    )
    return data, status


def _types(entry: object) -> list[tuple[int, str | None, str]]:
    return [(spec.type_id, spec.label, spec.category) for spec in entry.association_types]  # type: ignore[attr-defined]


@pytest.fixture
def linked(sandbox: Sandbox) -> dict[str, str]:
    portal = sandbox.portal
    ids = {
        "primary_company": portal.create_record("companies", {"name": "Primary"}),
        "other_company": portal.create_record("companies", {"name": "Other"}),
        "contact": portal.create_record("contacts"),
        "lonely": portal.create_record("contacts"),
        "deal": portal.create_record("deals", {"dealname": "D", "dealstage": "closedwon"}),
    }
    portal.associate("contacts", ids["contact"], "companies", ids["primary_company"], [1])
    portal.associate("contacts", ids["contact"], "companies", ids["other_company"])
    portal.associate("deals", ids["deal"], "companies", ids["primary_company"], [5, 341])
    return ids


def test_contact_to_company_shape_and_primary(client: HubSpot, linked: dict[str, str]) -> None:
    data, status = _read(client, "contacts", "companies", [{"id": linked["contact"]}])
    assert status == 200
    result = data.results[0]  # type: ignore[attr-defined]
    assert result._from.id == linked["contact"]
    by_company = {entry.to_object_id: _types(entry) for entry in result.to}
    assert by_company[linked["primary_company"]] == [(1, "Primary", "HUBSPOT_DEFINED"), (279, None, "HUBSPOT_DEFINED")]
    assert by_company[linked["other_company"]] == [(279, None, "HUBSPOT_DEFINED")]
    assert result.paging is None


def test_reverse_directions_use_their_type_ids(client: HubSpot, linked: dict[str, str]) -> None:
    data, _ = _read(client, "companies", "contacts", [{"id": linked["primary_company"]}])
    (entry,) = data.results[0].to  # type: ignore[attr-defined]
    assert entry.to_object_id == linked["contact"]
    assert [type_id for type_id, _, _ in _types(entry)] == [2, 280]
    data, _ = _read(client, "companies", "deals", [{"id": linked["primary_company"]}])
    assert [type_id for type_id, _, _ in _types(data.results[0].to[0])] == [6, 342]  # type: ignore[attr-defined]
    data, _ = _read(client, "deals", "companies", [{"id": linked["deal"]}])
    assert [type_id for type_id, _, _ in _types(data.results[0].to[0])] == [5, 341]  # type: ignore[attr-defined]


def test_wire_shape_has_integer_to_object_id(sandbox: Sandbox, linked: dict[str, str]) -> None:
    body = raw(
        sandbox, "POST", "/crm/v4/associations/contacts/companies/batch/read", {"inputs": [{"id": linked["contact"]}]}
    ).json()
    assert all(isinstance(entry["toObjectId"], int) for entry in body["results"][0]["to"])
    assert body["status"] == "COMPLETE"
    assert body["startedAt"]
    assert body["completedAt"]


def test_input_without_associations_is_a_207_error(client: HubSpot, linked: dict[str, str]) -> None:
    data, status = _read(
        client, "contacts", "companies", [{"id": linked["contact"]}, {"id": linked["lonely"]}, {"id": "424242"}]
    )
    assert status == 207
    assert [result._from.id for result in data.results] == [linked["contact"]]  # type: ignore[attr-defined]
    errors = data.errors  # type: ignore[attr-defined]
    assert [error.context["fromObjectId"] for error in errors] == [[linked["lonely"]], ["424242"]]
    assert {error.sub_category for error in errors} == {"crm.associations.NO_ASSOCIATIONS_FOUND"}


def test_more_than_1000_inputs_is_a_400(client: HubSpot, linked: dict[str, str]) -> None:
    with pytest.raises(ApiException) as raised:
        _read(client, "contacts", "companies", [{"id": linked["contact"]}] * 1001)
    assert raised.value.status == 400
    _, status = _read(client, "contacts", "companies", [{"id": linked["contact"]}] * 1000)
    assert status == 200


def test_more_than_500_associations_page_per_input(client: HubSpot, sandbox: Sandbox) -> None:
    company = sandbox.portal.create_record("companies")
    contacts = [sandbox.portal.create_record("contacts") for _ in range(520)]
    for contact in contacts:
        sandbox.portal.associate("contacts", contact, "companies", company)
    data, _ = _read(client, "companies", "contacts", [{"id": company}])
    first = data.results[0]  # type: ignore[attr-defined]
    assert len(first.to) == 500
    after = first.paging.next.after
    data, _ = _read(client, "companies", "contacts", [{"id": company, "after": after}])
    second = data.results[0]  # type: ignore[attr-defined]
    assert len(second.to) == 20
    assert second.paging is None
    assert [entry.to_object_id for entry in [*first.to, *second.to]] == contacts


def test_put_labelled_primary_demotes_the_old_primary(
    client: HubSpot, sandbox: Sandbox, linked: dict[str, str]
) -> None:
    response = raw(
        sandbox,
        "PUT",
        f"/crm/v4/objects/contacts/{linked['contact']}/associations/companies/{linked['other_company']}",
        [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}],
    )
    assert response.status_code == 201
    assert response.json()["labels"] == ["Primary"]
    links = {
        link.to_id: link.type_ids for link in sandbox.portal.associations("contacts", linked["contact"], "companies")
    }
    assert links == {linked["other_company"]: (1, 279), linked["primary_company"]: (279,)}
    back = sandbox.portal.associations("companies", linked["primary_company"], "contacts")
    assert [link.type_ids for link in back] == [(280,)]


def test_put_default_and_delete(sandbox: Sandbox, linked: dict[str, str]) -> None:
    response = raw(
        sandbox,
        "PUT",
        f"/crm/v4/objects/contacts/{linked['lonely']}/associations/default/companies/{linked['other_company']}",
    )
    assert response.status_code == 200
    assert {result["associationSpec"]["associationTypeId"] for result in response.json()["results"]} == {279, 280}
    assert (
        raw(
            sandbox,
            "DELETE",
            f"/crm/v4/objects/contacts/{linked['lonely']}/associations/companies/{linked['other_company']}",
        ).status_code
        == 204
    )
    assert sandbox.portal.associations("contacts", linked["lonely"], "companies") == []


def test_invalid_type_id_is_a_400(sandbox: Sandbox, linked: dict[str, str]) -> None:
    response = raw(
        sandbox,
        "PUT",
        f"/crm/v4/objects/contacts/{linked['lonely']}/associations/companies/{linked['other_company']}",
        [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 6}],
    )
    assert response.status_code == 400


def test_generated_contacts_cover_every_link_shape(client: HubSpot, sandbox: Sandbox) -> None:
    contact_ids = [record_id for record_id, _ in sandbox.portal.records("contacts")]
    data, _ = _read(client, "contacts", "companies", [{"id": i} for i in contact_ids])
    shapes = set()
    for result in data.results:  # type: ignore[attr-defined]
        primaries = sum(1 for entry in result.to if 1 in [spec.type_id for spec in entry.association_types])
        shapes.add(("primary" if primaries else "unlabeled-only", len(result.to) > 1))
    assert {("primary", False), ("primary", True), ("unlabeled-only", False)} <= shapes
    assert data.errors  # some contacts have no company  # type: ignore[attr-defined]
