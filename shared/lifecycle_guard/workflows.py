"""Prevention workflows: HubSpot flows that give every new or cleared record a default stage, kept in place.

The flows' bodies, the marker that identifies lifecycle-guard's own and the comparison are in ``flow_bodies``.

Idempotent by name and object type: a missing flow is created; a flow of that name that lifecycle-guard manages
and whose behaviour drifted is replaced (full PUT with its current ``revisionId``, the Automation v4 spec's
``...PutRequest``); one that behaves as wanted is left alone. Drift is judged semantically on what decides
behaviour (keys and list items in any order, fields HubSpot adds ignored), so a portal that answers in another
order is not re-PUT every run. A same-named flow lifecycle-guard does not manage is never replaced: it is reported
(``not_managed``), and the prevention check fails until the flow or the configured name is changed.
Correction flows for disallowed stages are optional and only built for forward moves: a workflow action is
subject to the same forward-only rule as the API, so it cannot move ``other`` back to ``lead``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel

from lifecycle_guard.config import GuardConfig
from lifecycle_guard.crm import Flows, HubSpotError, MissingScopes
from lifecycle_guard.flow_bodies import MARKER_PROPERTY, MARKER_VALUE, behaves_as, flow_body, is_managed
from lifecycle_guard.objects import LIFECYCLE_STAGE, ObjectType
from lifecycle_guard.stages import StageCatalog

FlowAction = Literal["created", "updated", "unchanged", "would_create", "would_update", "not_possible", "not_managed"]


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


def desired_flows(config: GuardConfig, catalogs: Mapping[ObjectType, StageCatalog]) -> list[dict[str, Any]]:
    """The flows this config wants in HubSpot: the default-stage flows, plus forward correction flows if asked."""
    options = config.prevention
    names = {ObjectType.CONTACTS: options.contact_flow_name, ObjectType.COMPANIES: options.company_flow_name}
    unknown = {"operationType": "ALL_PROPERTY", "operator": "IS_UNKNOWN", "includeObjectsWithNoValueSet": True}
    flows = [
        flow_body(
            object_type,
            names[object_type],
            f"sets {LIFECYCLE_STAGE}={options.default_stage} when it is unknown.",
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
                description = f"moves contacts at {stage} to {target}."
                flows.append(flow_body(ObjectType.CONTACTS, name, description, operation, target, options.enable_flows))
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


_NOT_OURS = (
    "a flow of this name exists that lifecycle-guard did not create (no lifecycle-guard marker) and that does "
    "something else; it was left untouched. Rename it, or set prevention.contact_flow_name/company_flow_name."
)
_NOT_OURS_BUT_RIGHT = (
    "a flow of this name that lifecycle-guard did not create (no marker) already does what the config asks; it was "
    "left as it is, and will be reported rather than repaired if it changes"
)
_MARKER_DROPPED = (
    "HubSpot kept neither lifecycle-guard's custom property nor its description: should this flow drift, it "
    "will be reported as not lifecycle-guard's instead of repaired"
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
    result = FlowResult(name=desired["name"], object_type=object_type, action="unchanged")
    current = find_flow(flows, desired, existing)
    if current is None:
        if not apply:
            return result.model_copy(update={"action": "would_create", "enabled": desired["isEnabled"]})
        created = flows.create_flow(desired)
        update = {"action": "created", "flow_id": str(created.get("id")), "enabled": created.get("isEnabled")}
        return result.model_copy(update=update | ({} if is_managed(created) else {"detail": _MARKER_DROPPED}))
    wanted = dict(desired)
    if not config.prevention.enable_flows:
        # Review mode never switches off a flow somebody enabled after reviewing it.
        wanted["isEnabled"] = bool(current.get("isEnabled"))
    result = result.model_copy(update={"flow_id": str(current["id"]), "enabled": bool(current.get("isEnabled"))})
    managed = is_managed(current)
    if behaves_as(current, wanted):
        return result if managed else result.model_copy(update={"detail": _NOT_OURS_BUT_RIGHT})
    if not managed:
        return result.model_copy(update={"action": "not_managed", "detail": _NOT_OURS})
    if not apply:
        return result.model_copy(update={"action": "would_update"})
    custom = {**(current.get("customProperties") or {}), MARKER_PROPERTY: MARKER_VALUE}
    body = {**put_body(wanted), "customProperties": custom, "revisionId": current["revisionId"]}
    replaced = flows.replace_flow(str(current["id"]), body)
    return result.model_copy(update={"action": "updated", "enabled": replaced.get("isEnabled")})


def find_flow(flows: Flows, desired: Mapping[str, Any], existing: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The flow of the desired name and object type, read in full: lifecycle-guard's own if several share the name
    (the listing carries no custom properties, so each is read until one is ours), else the first of them."""
    first = None
    for listed in existing:
        if listed.get("name") == desired["name"] and listed.get("objectTypeId") == desired["objectTypeId"]:
            flow = flows.get_flow(str(listed["id"]))
            if is_managed(flow):
                return flow
            first = first or flow
    return first


# The fields of ApiContactFlowPutRequest / ApiPlatformFlowPutRequest (hubspot-openapi/automationV4.json): a PUT
# takes these only, so a flow read back in full (id, timestamps, objectTypeId, dataSources...) is cut down to them.
_PUT_FIELDS = frozenset(
    {
        "actions", "blockedDates", "customProperties", "description", "enrollmentCriteria", "enrollmentSchedule",
        "isEnabled", "name", "revisionId", "startActionId", "timeWindows", "type", "uuid",
    }
)  # fmt: skip
_CONTACT_PUT_FIELDS = {"canEnrollFromSalesforce", "eventAnchor", "goalFilterBranch", "suppressionListIds"}
_PLATFORM_PUT_FIELDS = {"suppressionFilterBranch"}


def put_body(flow: Mapping[str, Any]) -> dict[str, Any]:
    """A create body or a flow as read, as the PUT that replaces the flow with it."""
    fields = _PUT_FIELDS | (_CONTACT_PUT_FIELDS if flow.get("type") == "CONTACT_FLOW" else _PLATFORM_PUT_FIELDS)
    return {key: value for key, value in flow.items() if key in fields}
