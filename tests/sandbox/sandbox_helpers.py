"""Helpers shared by the sandbox tests (a uniquely named module: tests/ has no packages)."""

from __future__ import annotations

import json
from typing import Any

import requests
from hubspot import HubSpot

from hubspot_sandbox import Sandbox


def sdk_client(sandbox: Sandbox, token: str | None = None) -> HubSpot:
    """The real SDK pointed at the sandbox: both host (generated clients) and base_url (api_request)."""
    return HubSpot(access_token=token or sandbox.token, host=sandbox.url, base_url=sandbox.url)


def raw(
    sandbox: Sandbox, method: str, path: str, body: Any = None, *, token: str | None = None, authenticate: bool = True
) -> requests.Response:
    """A plain HTTP call, for status codes and headers the SDK hides."""
    headers = {"Authorization": f"Bearer {token or sandbox.token}"} if authenticate else {}
    return requests.request(method, sandbox.url + path, json=body, headers=headers, timeout=10)


def error_body(exception: Exception) -> dict[str, Any]:
    """The JSON body of an SDK ApiException."""
    body = getattr(exception, "body", None)
    assert body, f"no body on {exception!r}"
    return dict(json.loads(body))


def search_body(
    *groups: list[dict[str, Any]],
    limit: int = 200,
    after: str | None = None,
    properties: list[str] | None = None,
    sort: str | None = "hs_object_id",
    descending: bool = False,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "filterGroups": [{"filters": filters} for filters in groups],
        "limit": limit,
        "properties": properties or ["lifecyclestage"],
    }
    if sort:
        body["sorts"] = [{"propertyName": sort, "direction": "DESCENDING" if descending else "ASCENDING"}]
    if after is not None:
        body["after"] = after
    return body


def flt(prop: str, operator: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"propertyName": prop, "operator": operator, **extra}
    if value is not None:
        result["value"] = value
    return result


def property_filter(prop: str, operation: dict[str, Any]) -> dict[str, Any]:
    return {"filterType": "PROPERTY", "property": prop, "operation": operation}


def stage_change_trigger(*extra_filters: dict[str, Any]) -> dict[str, Any]:
    """The property-change re-enrollment trigger on lifecyclestage (facts §6.4), plus ``extra_filters``."""
    operation = {
        "operationType": "STRING",
        "operator": "IS_EQUAL_TO",
        "value": "lifecyclestage",
        "includeObjectsWithNoValueSet": False,
    }
    return {
        "filterBranchType": "UNIFIED_EVENTS",
        "filterBranchOperator": "AND",
        "eventTypeId": "4-655002",
        "operator": "HAS_COMPLETED",
        "filterBranches": [],
        "filters": [property_filter("hs_name", operation), *extra_filters],
    }


def unknown_stage_filter() -> dict[str, Any]:
    operation = {"operationType": "ALL_PROPERTY", "operator": "IS_UNKNOWN", "includeObjectsWithNoValueSet": True}
    return property_filter("lifecyclestage", operation)


def unknown_stage_branch() -> dict[str, Any]:
    """OR -> AND -> ``lifecyclestage IS_UNKNOWN``: the enrollment filter (and a trigger repeating it)."""
    return {
        "filterBranchType": "OR",
        "filterBranchOperator": "OR",
        "filters": [],
        "filterBranches": [
            {
                "filterBranchType": "AND",
                "filterBranchOperator": "AND",
                "filterBranches": [],
                "filters": [unknown_stage_filter()],
            }
        ],
    }


def stage_default_flow(
    *,
    object_type_id: str = "0-1",
    value: str = "lead",
    enabled: bool = True,
    re_enroll: bool = True,
    re_enroll_triggers: list[dict[str, Any]] | None = None,
    un_enroll: bool = False,
    name: str = "AUTO-FIX: Set Default Lifecycle Stage",
) -> dict[str, Any]:
    """The prevention flow of facts §6.4/§6.5 (the one shape the workflow engine acts on); re-enrollment triggers
    default to the property-change trigger on lifecyclestage."""
    flow: dict[str, Any] = {
        "type": "CONTACT_FLOW" if object_type_id == "0-1" else "PLATFORM_FLOW",
        "objectTypeId": object_type_id,
        "flowType": "WORKFLOW",
        "name": name,
        "isEnabled": enabled,
        "startActionId": "1",
        "nextAvailableActionId": "2",
        "actions": [
            {
                "type": "SINGLE_CONNECTION",
                "actionId": "1",
                "actionTypeId": "0-5",
                "actionTypeVersion": 0,
                "fields": {"property_name": "lifecyclestage", "value": {"type": "STATIC_VALUE", "staticValue": value}},
            }
        ],
        "enrollmentCriteria": {
            "type": "LIST_BASED",
            "shouldReEnroll": re_enroll,
            "unEnrollObjectsNotMeetingCriteria": un_enroll,
            "listFilterBranch": unknown_stage_branch(),
            "reEnrollmentTriggersFilterBranches": (
                [stage_change_trigger()] if re_enroll_triggers is None else re_enroll_triggers
            ),
        },
        "timeWindows": [],
        "blockedDates": [],
        "customProperties": {},
        "dataSources": [],
    }
    if object_type_id == "0-1":
        flow.update({"suppressionListIds": [], "canEnrollFromSalesforce": False})
    return flow
