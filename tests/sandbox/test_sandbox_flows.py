"""Automation v4 flows API through the SDK's api_request (it has no flows client, facts §8.1)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from hubspot import HubSpot
from sandbox_helpers import sdk_client, stage_default_flow

from hubspot_sandbox import ALL_SCOPES, Portal, Sandbox, SandboxSettings

FLOWS = "/automation/v4/flows"


def _call(client: HubSpot, method: str, path: str = FLOWS, body: Any = None, **qs: Any) -> requests.Response:
    options: dict[str, Any] = {"method": method, "path": path}
    if body is not None:
        options["body"] = body
    if qs:
        options["qs"] = qs
    response: requests.Response = client.api_request(options)
    return response


def test_create_get_list(client: HubSpot, sandbox: Sandbox) -> None:
    created = _call(client, "POST", body=stage_default_flow(name="Contacts default"))
    assert created.status_code == 201
    flow = created.json()
    assert created.headers["Location"] == f"{sandbox.url}{FLOWS}/{flow['id']}"
    assert flow["revisionId"] == "1"
    assert flow["isEnabled"] is True
    assert flow["createdAt"]
    assert flow["updatedAt"]
    assert _call(client, "GET", f"{FLOWS}/{flow['id']}").json()["name"] == "Contacts default"
    _call(client, "POST", body=stage_default_flow(object_type_id="0-2", name="Companies default"))
    listing = _call(client, "GET").json()["results"]
    assert [(item["name"], item["objectTypeId"], item["flowType"]) for item in listing] == [
        ("Contacts default", "0-1", "WORKFLOW"),
        ("Companies default", "0-2", "WORKFLOW"),
    ]
    assert all(item["revisionId"] == "1" and item["isEnabled"] for item in listing)


def test_list_pages(client: HubSpot) -> None:
    for number in range(3):
        _call(client, "POST", body=stage_default_flow(name=f"flow {number}"))
    first = _call(client, "GET", limit=2).json()
    assert len(first["results"]) == 2
    second = _call(client, "GET", limit=2, after=first["paging"]["next"]["after"]).json()
    assert [item["name"] for item in second["results"]] == ["flow 2"]
    assert "paging" not in second


@pytest.mark.parametrize("missing", ["actions", "timeWindows", "dataSources", "suppressionListIds", "flowType"])
def test_missing_required_key_is_a_400(client: HubSpot, missing: str) -> None:
    body = stage_default_flow()
    del body[missing]
    response = _call(client, "POST", body=body)
    assert response.status_code == 400
    assert missing in response.json()["message"]


def test_flow_type_must_match_object_type(client: HubSpot) -> None:
    platform_on_contacts = stage_default_flow(object_type_id="0-2")
    platform_on_contacts["objectTypeId"] = "0-1"
    response = _call(client, "POST", body=platform_on_contacts)
    assert response.status_code == 400
    assert response.json()["message"] == 'Expected an object type other than "0-1" objectType but got "0-1"'
    contact_on_companies = stage_default_flow()
    contact_on_companies["objectTypeId"] = "0-2"
    assert _call(client, "POST", body=contact_on_companies).status_code == 400


def test_put_requires_the_current_revision(client: HubSpot) -> None:
    flow = _call(client, "POST", body=stage_default_flow()).json()
    path = f"{FLOWS}/{flow['id']}"
    update = stage_default_flow(enabled=False)
    assert _call(client, "PUT", path, update).status_code == 400  # no revisionId
    update["revisionId"] = "7"
    stale = _call(client, "PUT", path, update)
    assert stale.status_code == 409
    assert stale.json()["category"] == "CONFLICT"
    update["revisionId"] = flow["revisionId"]
    replaced = _call(client, "PUT", path, update)
    assert replaced.status_code == 200
    assert replaced.json()["revisionId"] == "2"
    assert replaced.json()["isEnabled"] is False
    assert _call(client, "PUT", path, update).status_code == 409  # "1" is stale now


def test_put_is_a_full_replace(client: HubSpot) -> None:
    flow = _call(client, "POST", body=stage_default_flow()).json()
    update = stage_default_flow()
    del update["name"], update["enrollmentCriteria"]
    update["revisionId"] = "1"
    replaced = _call(client, "PUT", f"{FLOWS}/{flow['id']}", update).json()
    assert "name" not in replaced
    assert "enrollmentCriteria" not in replaced
    assert replaced["objectTypeId"] == "0-1"  # not part of a PUT body, kept


def test_delete(client: HubSpot) -> None:
    flow = _call(client, "POST", body=stage_default_flow()).json()
    assert _call(client, "DELETE", f"{FLOWS}/{flow['id']}").status_code == 204
    assert _call(client, "GET", f"{FLOWS}/{flow['id']}").status_code == 404
    assert _call(client, "DELETE", f"{FLOWS}/{flow['id']}").status_code == 404


def test_token_without_automation_scope_is_403() -> None:
    settings = SandboxSettings().updated(tokens={"crm-only": ALL_SCOPES - {"automation"}})
    with Sandbox(Portal.empty(), settings) as sandbox:
        response = _call(sdk_client(sandbox, "crm-only"), "GET")
    assert response.status_code == 403
    body = response.json()
    assert body["category"] == "MISSING_SCOPES"
    assert body["errors"][0]["context"]["requiredGranularScopes"] == ["automation"]


def test_portal_without_workflows_is_403_even_with_the_scope() -> None:
    with Sandbox(Portal.empty(), SandboxSettings(workflows_entitled=False)) as sandbox:
        response = _call(sdk_client(sandbox), "POST", body=stage_default_flow())
    assert response.status_code == 403
    assert response.json()["category"] == "MISSING_SCOPES"
