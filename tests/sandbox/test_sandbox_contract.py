"""Contract test: real sandbox responses validated against HubSpot's official OpenAPI schemas.

The specs live outside the repo (``../shared/hubspot-openapi``); without them this module skips. Where HubSpot's
wire format is documented to differ from its own spec, the schema is relaxed in exactly that spot (see
``_relax``), so every other deviation still fails.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import requests
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from sandbox_helpers import flt, raw, search_body, stage_default_flow

from hubspot_sandbox import (
    ALL_SCOPES,
    Portal,
    PortalSpec,
    RuleCondition,
    Sandbox,
    SandboxSettings,
    StageRule,
    generate_portal,
)
from hubspot_sandbox.catalog import COMPANIES, CONTACTS
from hubspot_sandbox.flows import CONTACT_FLOW, CREATE_REQUIRED_KEYS, PLATFORM_FLOW, PUT_REQUIRED_KEYS
from hubspot_sandbox.pipeline import API_ROUTES

SPEC_DIR = Path(__file__).parents[2].parent / "shared" / "hubspot-openapi"
pytestmark = pytest.mark.skipif(
    not SPEC_DIR.is_dir(),
    reason=f"HubSpot's OpenAPI specs are not at {SPEC_DIR} (they live beside the repo in ../shared/hubspot-openapi)",
)


def _relax(name: str, spec: dict[str, Any]) -> None:
    """Known, documented differences between HubSpot's wire format and its spec."""
    schemas = spec["components"]["schemas"]
    for schema_name in ("SimplePublicObject", "SimplePublicObjectWithAssociations"):
        if schema_name in schemas:  # requested-but-empty properties come back null (facts §1.4)
            schemas[schema_name]["properties"]["properties"]["additionalProperties"]["nullable"] = True
    if "StandardError" in schemas:  # real 207 errors carry subCategory as a string, e.g. NO_ASSOCIATIONS_FOUND
        schemas["StandardError"]["properties"]["subCategory"] = {"type": "string"}
    if name == "assoc_v4.json":
        # toObjectId is an integer on the wire (facts §4.1, real fixtures); unlabeled types have label null.
        schemas["MultiAssociatedObjectWithLabel"]["properties"]["toObjectId"] = {
            "oneOf": [{"type": "string"}, {"type": "integer"}]
        }
        schemas["AssociationSpecWithLabel"]["properties"]["label"]["nullable"] = True
    if name == "automationV4.json":
        # The set-property action's fields are {"property_name": "<name>", "value": {...}}: a string beside an
        # object, the only encoding HubSpot accepts (facts §6.3, verified 201) although the spec says objects only.
        schemas["ApiSingleConnectionAction"]["properties"]["fields"]["additionalProperties"] = {}


@cache
def _spec(name: str) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads((SPEC_DIR / name).read_text())
    _relax(name, spec)
    return spec


def assert_matches(spec_name: str, schema: str, body: Any) -> None:
    spec = _spec(spec_name)
    assert schema in spec["components"]["schemas"], f"{schema} not in {spec_name}"
    root = {"$ref": f"#/components/schemas/{schema}", "components": copy.deepcopy(spec["components"])}
    errors = sorted(OAS30Validator(root, format_checker=oas30_format_checker).iter_errors(body), key=str)
    assert not errors, "\n".join(f"{list(error.absolute_path)}: {error.message}" for error in errors[:5])


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    status: int
    spec: str
    schema: str
    body: Any = None
    token: str | None = None


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[Sandbox, dict[str, str]]]:
    settings = SandboxSettings().updated(tokens={"full": ALL_SCOPES, "no-automation": ALL_SCOPES - {"automation"}})
    with Sandbox(generate_portal(PortalSpec(contacts=60, companies=10, seed=8)), settings) as sandbox:
        portal = sandbox.portal
        ids = {
            "contact": portal.create_record("contacts", {"lifecyclestage": "lead", "email": "c@x.test"}),
            "lonely": portal.create_record("contacts"),
            "company": portal.create_record("companies", {"name": "C", "lifecyclestage": "lead"}),
            "deal": portal.create_record("deals", {"dealname": "D", "dealstage": "closedwon"}),
            "pipeline": next(p.id for p in portal.deal_pipelines() if p.id != "default"),
        }
        portal.associate("contacts", ids["contact"], "companies", ids["company"], [1])
        portal.associate("deals", ids["deal"], "companies", ids["company"], [5])
        portal.add_validation_rule(StageRule("contacts", RuleCondition("email", "EQ", "c@x.test"), "evangelist"))
        created = raw(sandbox, "POST", "/automation/v4/flows", stage_default_flow(), token="full").json()
        ids["flow"] = created["id"]
        # A flow whose revision 1 is already replaced, so the 409 case needs no other case to have run first.
        stale = raw(
            sandbox, "POST", "/automation/v4/flows", stage_default_flow(name="stale", enabled=False), token="full"
        ).json()
        ids["stale_flow"] = stale["id"]
        replaced = {**stage_default_flow(name="stale", enabled=False), "revisionId": "1"}
        assert raw(sandbox, "PUT", f"/automation/v4/flows/{stale['id']}", replaced, token="full").status_code == 200
        yield sandbox, ids


def _generated_contacts(count: int) -> list[dict[str, str]]:
    """Batch inputs naming the world's first generated contacts (ids are handed out from CONTACTS.first_id)."""
    return [{"id": str(CONTACTS.first_id + offset)} for offset in range(count)]


def _history_read(count: int) -> dict[str, Any]:
    return {
        "inputs": _generated_contacts(count),
        "properties": ["lifecyclestage", "hs_object_source", "hs_object_source_id"],
        "propertiesWithHistory": ["lifecyclestage", "email"],
    }


def _cases(ids: dict[str, str]) -> list[Case]:
    contact, company, deal, lonely = ids["contact"], ids["company"], ids["deal"], ids["lonely"]
    objects = "/crm/v3/objects"
    flow = stage_default_flow(object_type_id="0-2", name="contract")
    put = {**stage_default_flow(enabled=False), "revisionId": "1"}
    options = [
        {"label": label, "value": value, "displayOrder": order, "hidden": False}
        for order, (value, label) in enumerate(
            (("lead", "Lead"), ("customer", "Customer"), ("evangelist", "Evangelist"))
        )
    ]
    return [
        Case(
            "GET",
            f"{objects}/contacts?limit=5&properties=lifecyclestage",
            200,
            "contacts.json",
            "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging",
        ),
        Case(
            "POST",
            f"{objects}/contacts",
            201,
            "contacts.json",
            "SimplePublicObject",
            {"properties": {"email": "n@x.test"}},
        ),
        Case(
            "GET",
            f"{objects}/contacts/{contact}?properties=lifecyclestage,phone&propertiesWithHistory=lifecyclestage",
            200,
            "contacts.json",
            "SimplePublicObjectWithAssociations",
        ),
        Case(
            "PATCH",
            f"{objects}/contacts/{contact}",
            200,
            "contacts.json",
            "SimplePublicObject",
            {"properties": {"firstname": "F"}},
        ),
        Case(
            "POST",
            f"{objects}/contacts/batch/read",
            200,
            "contacts.json",
            "BatchResponseSimplePublicObject",
            {"inputs": [{"id": contact}], "properties": ["lifecyclestage"], "propertiesWithHistory": []},
        ),
        Case(
            "GET",
            f"{objects}/contacts?limit=100&properties=lifecyclestage&propertiesWithHistory=lifecyclestage",
            200,
            "contacts.json",
            "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging",
        ),
        Case(
            "POST",
            f"{objects}/contacts/batch/read",
            200,
            "contacts.json",
            "BatchResponseSimplePublicObject",
            _history_read(50),
        ),
        Case("POST", f"{objects}/contacts/batch/read", 400, "contacts.json", "Error", _history_read(51)),
        Case(
            "POST",
            f"{objects}/contacts/batch/read",
            207,
            "contacts.json",
            "BatchResponseSimplePublicObjectWithErrors",
            {"inputs": [{"id": contact}, {"id": "5"}], "properties": [], "propertiesWithHistory": []},
        ),
        Case(
            "POST",
            f"{objects}/contacts/batch/update",
            200,
            "contacts.json",
            "BatchResponseSimplePublicObject",
            {"inputs": [{"id": contact, "properties": {"lifecyclestage": "customer"}}]},
        ),
        Case(
            "POST",
            f"{objects}/contacts/batch/update",
            207,
            "contacts.json",
            "BatchResponseSimplePublicObjectWithErrors",
            {"inputs": [{"id": "5", "properties": {"lifecyclestage": "lead"}}]},
        ),
        Case(
            "POST",
            f"{objects}/contacts/batch/create",
            201,
            "contacts.json",
            "BatchResponseSimplePublicObject",
            {"inputs": [{"properties": {"email": "b@x.test"}, "associations": []}]},
        ),
        Case(
            "POST",
            f"{objects}/contacts/search",
            200,
            "contacts.json",
            "CollectionResponseWithTotalSimplePublicObject",
            search_body([flt("lifecyclestage", "NOT_HAS_PROPERTY")], limit=3),
        ),
        Case(
            "POST",
            f"{objects}/contacts/batch/update",
            400,
            "contacts.json",
            "Error",
            {"inputs": [{"id": contact, "properties": {"lifecyclestage": "nope"}}]},
        ),
        Case(
            "POST",
            f"{objects}/contacts/batch/update",
            400,
            "contacts.json",
            "Error",
            {"inputs": [{"id": contact, "properties": {"lifecyclestage": "evangelist"}}]},  # a validation rule
        ),
        Case(
            "POST",
            "/crm/objects/2026-09/contacts/batch/update",
            200,
            "contacts_2026-09.json",
            "BatchResponseSimplePublicObject",
            {"inputs": [{"id": contact, "properties": {"firstname": "G"}}, {"id": "5", "properties": {}}]},
        ),
        Case(
            "POST",
            "/crm/objects/2026-09/contacts/batch/update",
            400,
            "contacts_2026-09.json",
            "Error",
            {"inputs": [{"id": contact, "properties": {"lifecyclestage": "evangelist"}}]},
        ),
        Case("GET", f"{objects}/contacts/5", 404, "contacts.json", "Error"),
        Case("GET", f"{objects}/contacts", 401, "contacts.json", "Error", token="wrong"),
        Case("GET", f"{objects}/companies/{company}", 200, "companies.json", "SimplePublicObjectWithAssociations"),
        Case(
            "GET",
            f"{objects}/companies/{COMPANIES.first_id}?propertiesWithHistory=lifecyclestage,name",
            200,
            "companies.json",
            "SimplePublicObjectWithAssociations",
        ),
        Case(
            "POST",
            f"{objects}/companies/search",
            200,
            "companies.json",
            "CollectionResponseWithTotalSimplePublicObject",
            {"limit": 2},
        ),
        Case(
            "POST",
            f"{objects}/companies/batch/update",
            200,
            "companies.json",
            "BatchResponseSimplePublicObject",
            {"inputs": [{"id": company, "properties": {"lifecyclestage": "customer"}}]},
        ),
        Case("GET", f"{objects}/deals/{deal}", 200, "deals.json", "SimplePublicObjectWithAssociations"),
        Case(
            "POST",
            f"{objects}/deals/search",
            200,
            "deals.json",
            "CollectionResponseWithTotalSimplePublicObject",
            {"filterGroups": [{"filters": [flt("hs_is_closed_won", "EQ", "true")]}], "limit": 2},
        ),
        Case(
            "POST",
            f"{objects}/deals/batch/read",
            200,
            "deals.json",
            "BatchResponseSimplePublicObject",
            {"inputs": [{"id": deal}], "properties": ["dealstage", "hs_is_closed_won"], "propertiesWithHistory": []},
        ),
        Case(
            "POST",
            "/crm/v4/associations/contacts/companies/batch/read",
            200,
            "assoc_v4.json",
            "BatchResponsePublicAssociationMultiWithLabel",
            {"inputs": [{"id": contact}]},
        ),
        Case(
            "POST",
            "/crm/v4/associations/contacts/companies/batch/read",
            207,
            "assoc_v4.json",
            "BatchResponsePublicAssociationMultiWithLabelWithErrors",
            {"inputs": [{"id": contact}, {"id": lonely}]},
        ),
        Case(
            "POST",
            "/crm/v4/associations/companies/deals/batch/read",
            200,
            "assoc_v4.json",
            "BatchResponsePublicAssociationMultiWithLabel",
            {"inputs": [{"id": company}]},
        ),
        Case(
            "GET",
            f"/crm/v4/objects/companies/{company}/associations/contacts",
            200,
            "assoc_v4.json",
            "CollectionResponseMultiAssociatedObjectWithLabelForwardPaging",
        ),
        Case(
            "PUT",
            f"/crm/v4/objects/contacts/{lonely}/associations/companies/{company}",
            201,
            "assoc_v4.json",
            "LabelsBetweenObjectPair",
            [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}],
        ),
        Case(
            "PUT",
            f"/crm/v4/objects/deals/{deal}/associations/default/companies/{company}",
            200,
            "assoc_v4.json",
            "BatchResponsePublicDefaultAssociation",
        ),
        Case(
            "POST",
            "/crm/v4/associations/contacts/companies/batch/read",
            400,
            "assoc_v4.json",
            "Error",
            {"inputs": [{"id": contact}] * 1001},
        ),
        Case("GET", "/crm/v3/properties/contacts/lifecyclestage", 200, "properties.json", "Property"),
        Case("GET", "/crm/v3/properties/companies/lifecyclestage", 200, "properties.json", "Property"),
        Case("GET", "/crm/v3/properties/deals/dealstage", 200, "properties.json", "Property"),
        Case("GET", "/crm/v3/properties/deals", 200, "properties.json", "CollectionResponsePropertyNoPaging"),
        Case("GET", "/crm/v3/properties/contacts/nope", 404, "properties.json", "Error"),
        Case(
            "PATCH",
            "/crm/v3/properties/contacts/lifecyclestage",
            200,
            "properties.json",
            "Property",
            {"options": options},
        ),
        Case("PATCH", "/crm/v3/properties/contacts/email", 400, "properties.json", "Error", {"options": options}),
        Case("GET", "/crm/v3/pipelines/deals", 200, "pipelines.json", "CollectionResponsePipelineNoPaging"),
        Case("GET", f"/crm/v3/pipelines/deals/{ids['pipeline']}", 200, "pipelines.json", "Pipeline"),
        Case(
            "GET",
            "/crm/v3/pipelines/deals/default/stages",
            200,
            "pipelines.json",
            "CollectionResponsePipelineStageNoPaging",
        ),
        Case("GET", "/crm/v3/pipelines/contacts", 200, "pipelines.json", "CollectionResponsePipelineNoPaging"),
        Case("POST", "/automation/v4/flows", 201, "automationV4.json", "ApiFlow", flow),
        Case("GET", "/automation/v4/flows", 200, "automationV4.json", "CollectionResponseApiFlowListingForwardPaging"),
        Case("GET", f"/automation/v4/flows/{ids['flow']}", 200, "automationV4.json", "ApiFlow"),
        Case("PUT", f"/automation/v4/flows/{ids['flow']}", 200, "automationV4.json", "ApiFlow", put),
        Case(
            "POST",
            "/automation/v4/flows/batch/read",
            200,
            "automationV4.json",
            "BatchResponseApiFlow",
            {"inputs": [{"flowId": ids["flow"], "type": "FLOW_ID"}]},
        ),
        Case("POST", "/automation/v4/flows", 400, "automationV4.json", "Error", {"type": "CONTACT_FLOW"}),
        Case("PUT", f"/automation/v4/flows/{ids['stale_flow']}", 409, "automationV4.json", "Error", put),
        Case("GET", "/automation/v4/flows", 403, "automationV4.json", "Error", token="no-automation"),
        Case("GET", "/automation/v4/flows/1", 404, "automationV4.json", "Error"),
    ]


CASE_IDS = [
    f"{case.method} {re.sub(r'[0-9]{3,}', '{id}', case.path.split('?')[0])} {case.status}"
    for case in _cases(dict.fromkeys(("contact", "company", "deal", "lonely", "pipeline", "flow", "stale_flow"), "1"))
]


@pytest.mark.parametrize("index", range(len(CASE_IDS)), ids=CASE_IDS)
def test_response_matches_official_schema(world: tuple[Sandbox, dict[str, str]], index: int) -> None:
    sandbox, ids = world
    case = _cases(ids)[index]
    response: requests.Response = raw(sandbox, case.method, case.path, case.body, token=case.token or "full")
    assert response.status_code == case.status, response.text
    assert_matches(case.spec, case.schema, response.json())


def test_history_responses_carry_every_source_field(world: tuple[Sandbox, dict[str, str]]) -> None:
    # The schema validation above only proves what is present; this proves the generated histories exercise every
    # optional field of ValueWithTimestamp.
    sandbox, _ = world
    body = raw(sandbox, "POST", "/crm/v3/objects/contacts/batch/read", _history_read(50), token="full").json()
    entries = [entry for result in body["results"] for entry in result["propertiesWithHistory"]["lifecyclestage"]]
    assert {key for entry in entries for key in entry} == set(
        _spec("contacts.json")["components"]["schemas"]["ValueWithTimestamp"]["properties"]
    )


def test_flow_required_keys_match_the_spec() -> None:
    schemas = _spec("automationV4.json")["components"]["schemas"]
    for kind, create, put in (
        (CONTACT_FLOW, "ApiContactFlowCreateRequest", "ApiContactFlowPutRequest"),
        (PLATFORM_FLOW, "ApiPlatformFlowCreateRequest", "ApiPlatformFlowPutRequest"),
    ):
        assert sorted(CREATE_REQUIRED_KEYS[kind]) == sorted(schemas[create]["required"])
        assert sorted(PUT_REQUIRED_KEYS[kind]) == sorted(schemas[put]["required"])


def _normalised(template: str) -> str:
    return re.sub(r"\{\w+\}", "{}", template)


# Routes HubSpot documents outside the spec files held in shared/hubspot-openapi/.
DOCUMENTED_ELSEWHERE = {
    # https://developers.hubspot.com/docs/api/private-apps (token introspection, lists a token's scopes)
    "POST /oauth/v2/private-apps/get/access-token-info",
}


def test_every_sandbox_route_is_a_hubspot_path() -> None:
    spec_paths = {
        _normalised(path)
        for name in (
            "contacts.json",
            "contacts_2026-09.json",
            "companies.json",
            "deals.json",
            "assoc_v4.json",
            "properties.json",
            "pipelines.json",
            "automationV4.json",
        )
        for path in _spec(name)["paths"]
    }
    candidates: Callable[[str], set[str]] = lambda template: {  # noqa: E731
        _normalised(template),
        _normalised(template.replace("{objectType}", "contacts")),
    }
    unknown = [
        f"{route.method} {route.template}"
        for route in API_ROUTES
        if not candidates(route.template) & spec_paths
        and f"{route.method} {route.template}" not in DOCUMENTED_ELSEWHERE
    ]
    assert not unknown


def test_search_request_examples_validate_against_the_spec() -> None:
    body = search_body([flt("lifecyclestage", "IN", values=["lead"])], after="0")
    assert_matches("contacts.json", "PublicObjectSearchRequest", {**body, "sorts": ["hs_object_id"]})


def test_prevention_flow_bodies_validate_against_the_spec() -> None:
    assert_matches("automationV4.json", "ApiFlowCreateRequest", stage_default_flow())
    assert_matches("automationV4.json", "ApiFlowCreateRequest", stage_default_flow(object_type_id="0-2"))


def test_empty_portal_is_servable() -> None:
    with Sandbox(Portal.empty()) as sandbox:
        assert_matches(
            "pipelines.json",
            "CollectionResponsePipelineNoPaging",
            raw(sandbox, "GET", "/crm/v3/pipelines/deals").json(),
        )


def test_the_validator_rejects_wrong_shapes() -> None:
    with pytest.raises(AssertionError):
        assert_matches("contacts.json", "SimplePublicObject", {"id": 1, "properties": {}})
    with pytest.raises(AssertionError):
        assert_matches(
            "assoc_v4.json",
            "BatchResponsePublicAssociationMultiWithLabel",
            {"status": "DONE", "results": [], "startedAt": "x", "completedAt": "y"},
        )
