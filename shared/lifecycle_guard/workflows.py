"""Prevention workflows: HubSpot flows that give every new or cleared record a default stage, kept in place.

Automation v4 shapes (HubSpot's OpenAPI spec): contacts need ``CONTACT_FLOW`` on ``0-1``, companies
``PLATFORM_FLOW`` on ``0-2``; "is unknown" is ``{"operationType": "ALL_PROPERTY", "operator": "IS_UNKNOWN"}``;
"set property" is action type ``0-5`` with ``{"property_name", "value": {"type": "STATIC_VALUE", ...}}``.
HubSpot's exact re-enrollment trigger for "stage became unknown" is unconfirmed, so flows are sent with
``shouldReEnroll: true`` and no extra trigger branches, a shape HubSpot is reported to accept (201).

Idempotent by name and object type: a missing flow is created, a flow whose behaviour drifted is replaced (full
PUT with its current ``revisionId``), a matching one is left alone. Drift is judged on behaviour (enrolment,
action, enabled state), not on the whole JSON, because HubSpot adds fields of its own to what it stores.
Correction flows for disallowed stages are optional and only built for forward moves: a workflow action is
subject to the same forward-only rule as the API, so it cannot move ``other`` back to ``lead``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel

from lifecycle_guard.config import GuardConfig
from lifecycle_guard.crm import Flows, HubSpotError, MissingScopes
from lifecycle_guard.objects import LIFECYCLE_STAGE, ObjectType
from lifecycle_guard.stages import StageCatalog

FlowAction = Literal["created", "updated", "unchanged", "would_create", "would_update", "not_possible"]


class FlowResult(BaseModel):
    name: str
    object_type: ObjectType
    action: FlowAction
    flow_id: str | None = None
    enabled: bool | None = None
    detail: str = ""


class PreventionOutcome(BaseModel):
    status: Literal["ok", "failed", "skipped"]
    flows: list[FlowResult] = []
    error: str | None = None


def _property_filter(operation: dict[str, Any]) -> dict[str, Any]:
    return {"filterType": "PROPERTY", "property": LIFECYCLE_STAGE, "operation": operation}


def _flow(
    object_type: ObjectType, name: str, description: str, operation: dict[str, Any], stage: str, enabled: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "CONTACT_FLOW" if object_type is ObjectType.CONTACTS else "PLATFORM_FLOW",
        "objectTypeId": object_type.object_type_id,
        "flowType": "WORKFLOW",
        "name": name,
        "description": description,
        "isEnabled": enabled,
        "startActionId": "1",
        "nextAvailableActionId": "2",
        "actions": [
            {
                "type": "SINGLE_CONNECTION",
                "actionId": "1",
                "actionTypeId": "0-5",
                "actionTypeVersion": 0,
                "fields": {"property_name": LIFECYCLE_STAGE, "value": {"type": "STATIC_VALUE", "staticValue": stage}},
            }
        ],
        "enrollmentCriteria": {
            "type": "LIST_BASED",
            "shouldReEnroll": True,
            "unEnrollObjectsNotMeetingCriteria": False,
            "listFilterBranch": {
                "filterBranchType": "OR",
                "filterBranchOperator": "OR",
                "filters": [],
                "filterBranches": [
                    {
                        "filterBranchType": "AND",
                        "filterBranchOperator": "AND",
                        "filterBranches": [],
                        "filters": [_property_filter(operation)],
                    }
                ],
            },
            "reEnrollmentTriggersFilterBranches": [],
        },
        "timeWindows": [],
        "blockedDates": [],
        "customProperties": {},
        "dataSources": [],
    }
    if object_type is ObjectType.CONTACTS:
        # Only contact flows carry these keys (ApiContactFlowCreateRequest); platform flows reject them.
        body["suppressionListIds"] = []
        body["canEnrollFromSalesforce"] = False
    return body


def desired_flows(config: GuardConfig, catalogs: Mapping[ObjectType, StageCatalog]) -> list[dict[str, Any]]:
    """The flows this config wants in HubSpot: the default-stage flows, plus forward correction flows if asked."""
    options = config.prevention
    names = {ObjectType.CONTACTS: options.contact_flow_name, ObjectType.COMPANIES: options.company_flow_name}
    unknown = {"operationType": "ALL_PROPERTY", "operator": "IS_UNKNOWN", "includeObjectsWithNoValueSet": True}
    flows = [
        _flow(
            object_type,
            names[object_type],
            f"lifecycle-guard: sets {LIFECYCLE_STAGE}={options.default_stage} when it is unknown.",
            unknown,
            options.default_stage,
            options.enable_flows,
        )
        for object_type in (ObjectType.CONTACTS, ObjectType.COMPANIES)
    ]
    if options.correction_flows:
        for stage, target in config.contacts.disallowed.items():
            if isinstance(target, str) and not catalogs[ObjectType.CONTACTS].needs_clear_first(stage, target):
                operation = {
                    "operationType": "ENUMERATION",
                    "operator": "IS_ANY_OF",
                    "values": [stage],
                    "includeObjectsWithNoValueSet": False,
                }
                name = f"AUTO-FIX: Move {catalogs[ObjectType.CONTACTS].label(stage)} Contacts to {target}"
                description = f"lifecycle-guard: moves contacts at {stage} to {target}."
                flows.append(_flow(ObjectType.CONTACTS, name, description, operation, target, options.enable_flows))
    return flows


def impossible_corrections(config: GuardConfig, catalogs: Mapping[ObjectType, StageCatalog]) -> list[FlowResult]:
    """Disallowed stages no workflow can correct (backward or context-dependent targets), for the report."""
    if not config.prevention.correction_flows:
        return []
    results = []
    for stage, target in config.contacts.disallowed.items():
        if not isinstance(target, str):
            detail = "its target depends on the primary company; the scheduled run corrects it"
        elif catalogs[ObjectType.CONTACTS].needs_clear_first(stage, target):
            detail = f"moving {stage} to {target} is backward, which a workflow action cannot do"
        else:
            continue
        results.append(
            FlowResult(
                name=f"correction for {stage}", object_type=ObjectType.CONTACTS, action="not_possible", detail=detail
            )
        )
    return results


def _behaviour(flow: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a flow does, independent of ids, timestamps and fields HubSpot adds when it stores a flow."""
    criteria = flow.get("enrollmentCriteria") or {}
    actions = [
        (
            action.get("actionTypeId"),
            (action.get("fields") or {}).get("property_name"),
            repr((action.get("fields") or {}).get("value")),
        )
        for action in flow.get("actions") or []
    ]
    branches = (criteria.get("listFilterBranch") or {}).get("filterBranches") or []
    filters = [
        (
            f.get("property"),
            (f.get("operation") or {}).get("operator"),
            tuple((f.get("operation") or {}).get("values") or ()),
        )
        for branch in branches
        for f in branch.get("filters") or []
    ]
    return (
        flow.get("type"),
        flow.get("objectTypeId"),
        bool(flow.get("isEnabled")),
        criteria.get("type"),
        bool(criteria.get("shouldReEnroll")),
        tuple(filters),
        tuple(actions),
    )


def ensure_flows(
    flows: Flows, config: GuardConfig, catalogs: Mapping[ObjectType, StageCatalog], *, apply: bool
) -> PreventionOutcome:
    """Create, update or keep each desired flow; in dry-run only say what would change."""
    if not config.prevention.enabled:
        return PreventionOutcome(status="skipped", error="prevention workflows are disabled in the config")
    try:
        existing = flows.list_flows()
        results = [
            _ensure(flows, desired, existing, config, apply=apply) for desired in desired_flows(config, catalogs)
        ]
    except MissingScopes as exc:
        return PreventionOutcome(
            status="failed",
            error=f"HubSpot refused the workflows API: the token needs the 'automation' scope and the portal a "
            f"workflows entitlement (Professional or above). {exc}",
        )
    except HubSpotError as exc:
        return PreventionOutcome(status="failed", error=f"could not ensure the prevention workflows: {exc}")
    return PreventionOutcome(status="ok", flows=results + impossible_corrections(config, catalogs))


def _ensure(
    flows: Flows,
    desired: dict[str, Any],
    existing: list[dict[str, Any]],
    config: GuardConfig,
    *,
    apply: bool,
) -> FlowResult:
    object_type = ObjectType.CONTACTS if desired["objectTypeId"] == "0-1" else ObjectType.COMPANIES
    match = next(
        (f for f in existing if f.get("name") == desired["name"] and f.get("objectTypeId") == desired["objectTypeId"]),
        None,
    )
    result = FlowResult(name=desired["name"], object_type=object_type, action="unchanged")
    if match is None:
        if not apply:
            return result.model_copy(update={"action": "would_create", "enabled": desired["isEnabled"]})
        created = flows.create_flow(desired)
        return result.model_copy(
            update={"action": "created", "flow_id": str(created.get("id")), "enabled": created.get("isEnabled")}
        )
    current = flows.get_flow(str(match["id"]))
    wanted = dict(desired)
    if not config.prevention.enable_flows:
        # Review mode never switches off a flow somebody enabled after reviewing it.
        wanted["isEnabled"] = bool(current.get("isEnabled"))
    result = result.model_copy(update={"flow_id": str(match["id"]), "enabled": bool(current.get("isEnabled"))})
    if _behaviour(current) == _behaviour(wanted):
        return result
    if not apply:
        return result.model_copy(update={"action": "would_update"})
    replaced = flows.replace_flow(str(match["id"]), {**_put_body(wanted), "revisionId": current["revisionId"]})
    return result.model_copy(update={"action": "updated", "enabled": replaced.get("isEnabled")})


def _put_body(flow: dict[str, Any]) -> dict[str, Any]:
    # ApiContactFlowPutRequest / ApiPlatformFlowPutRequest: the create body minus what only creation takes.
    return {
        key: value
        for key, value in flow.items()
        if key not in ("objectTypeId", "flowType", "dataSources", "nextAvailableActionId")
    }
