"""Automation v4 flows: request validation, storage and the response shapes (automationV4.json).

Create bodies must carry the required keys of ``ApiContactFlowCreateRequest`` / ``ApiPlatformFlowCreateRequest``,
PUT bodies those of the matching ``...PutRequest``. ``CONTACT_FLOW`` is only for ``0-1`` and ``PLATFORM_FLOW`` only
for other object types (facts §6.3; the CONTACT_FLOW-on-other-type wording is UNCONFIRMED). PUT is a full replace
that must name the current ``revisionId``: a missing one is a 400, a stale one a 409 CONFLICT (UNCONFIRMED: HubSpot's
status for a stale revision was not found; 409 is the documented "conflict" status, facts §7.3). ``objectTypeId`` and
``flowType`` cannot change on PUT; those and ``dataSources`` (absent from the PUT schemas) are kept when a PUT body
omits them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from hubspot_sandbox.errors import ApiError, JsonObject, conflict, validation_error
from hubspot_sandbox.timefmt import iso_from_ms

CONTACT_FLOW = "CONTACT_FLOW"
PLATFORM_FLOW = "PLATFORM_FLOW"
CONTACT_OBJECT_TYPE_ID = "0-1"
FLOW_TYPES = ("WORKFLOW", "ACTION_SET", "UNKNOWN")

CREATE_REQUIRED_KEYS: Mapping[str, tuple[str, ...]] = {
    CONTACT_FLOW: (
        "actions",
        "blockedDates",
        "canEnrollFromSalesforce",
        "customProperties",
        "dataSources",
        "flowType",
        "isEnabled",
        "objectTypeId",
        "suppressionListIds",
        "timeWindows",
        "type",
    ),
    PLATFORM_FLOW: (
        "actions",
        "blockedDates",
        "customProperties",
        "dataSources",
        "flowType",
        "isEnabled",
        "objectTypeId",
        "timeWindows",
        "type",
    ),
}
PUT_REQUIRED_KEYS: Mapping[str, tuple[str, ...]] = {
    CONTACT_FLOW: (
        "actions",
        "blockedDates",
        "canEnrollFromSalesforce",
        "customProperties",
        "isEnabled",
        "revisionId",
        "suppressionListIds",
        "timeWindows",
        "type",
    ),
    PLATFORM_FLOW: ("actions", "blockedDates", "customProperties", "isEnabled", "revisionId", "timeWindows", "type"),
}
LIST_BASED_REQUIRED_KEYS = (
    "listFilterBranch",
    "reEnrollmentTriggersFilterBranches",
    "shouldReEnroll",
    "type",
    "unEnrollObjectsNotMeetingCriteria",
)
SINGLE_CONNECTION_REQUIRED_KEYS = ("actionId", "actionTypeId", "actionTypeVersion", "fields", "type")
_LIST_KEYS = ("actions", "blockedDates", "timeWindows", "dataSources", "suppressionListIds")
_SERVER_KEYS = frozenset({"id", "revisionId", "createdAt", "updatedAt", "crmObjectCreationStatus"})
_IMMUTABLE_KEYS = ("objectTypeId", "flowType")


@dataclass(slots=True)
class StoredFlow:
    id: str
    revision: int
    created_ms: int
    updated_ms: int
    definition: JsonObject  # the client's body without server-owned keys

    @property
    def is_enabled(self) -> bool:
        return self.definition.get("isEnabled") is True

    @property
    def object_type_id(self) -> str:
        return str(self.definition.get("objectTypeId"))

    def as_api_flow(self) -> JsonObject:
        """``ApiFlow`` (``ApiContactFlow`` or ``ApiPlatformFlow``)."""
        flow = copy.deepcopy(self.definition)
        flow.update(
            {
                "id": self.id,
                "revisionId": str(self.revision),
                "createdAt": iso_from_ms(self.created_ms),
                "updatedAt": iso_from_ms(self.updated_ms),
                "crmObjectCreationStatus": "COMPLETE",
            }
        )
        flow.setdefault("nextAvailableActionId", _next_action_id(flow.get("actions", [])))
        return flow

    def as_listing(self) -> JsonObject:
        """``ApiFlowListing``."""
        listing: JsonObject = {
            "id": self.id,
            "objectTypeId": self.object_type_id,
            "flowType": self.definition.get("flowType"),
            "isEnabled": self.is_enabled,
            "revisionId": str(self.revision),
            "createdAt": iso_from_ms(self.created_ms),
            "updatedAt": iso_from_ms(self.updated_ms),
        }
        for optional in ("name", "uuid"):
            if optional in self.definition:
                listing[optional] = self.definition[optional]
        return listing


def _next_action_id(actions: list[Any]) -> str:
    numeric = [
        int(action["actionId"])
        for action in actions
        if isinstance(action, Mapping) and str(action.get("actionId", "")).isdigit()
    ]
    return str(max(numeric, default=0) + 1)


def _require_keys(body: Mapping[str, Any], required: tuple[str, ...], what: str) -> None:
    missing = [key for key in required if key not in body]
    if missing:
        raise validation_error(
            f"Invalid {what}: missing required fields {missing}",
            errors=[{"message": f"{key} is required", "in": key, "code": "REQUIRED_FIELD"} for key in missing],
        )


def _validate_common(body: Mapping[str, Any]) -> None:
    for key in _LIST_KEYS:
        if key in body and not isinstance(body[key], list):
            raise validation_error(f"{key} must be a list")
    if "customProperties" in body and not isinstance(body["customProperties"], Mapping):
        raise validation_error("customProperties must be an object")
    if "isEnabled" in body and not isinstance(body["isEnabled"], bool):
        raise validation_error("isEnabled must be a boolean")
    for action in body.get("actions", []):
        if not isinstance(action, Mapping) or "type" not in action or "actionId" not in action:
            raise validation_error("Each action needs at least actionId and type")
        if action["type"] == "SINGLE_CONNECTION":
            _require_keys(action, SINGLE_CONNECTION_REQUIRED_KEYS, "SINGLE_CONNECTION action")
    criteria = body.get("enrollmentCriteria")
    if criteria is not None:
        if not isinstance(criteria, Mapping) or "type" not in criteria:
            raise validation_error("enrollmentCriteria must be an object with a type")
        if criteria["type"] == "LIST_BASED":
            _require_keys(criteria, LIST_BASED_REQUIRED_KEYS, "LIST_BASED enrollmentCriteria")


def _flow_body(body: object) -> tuple[str, Mapping[str, Any]]:
    """The flow type and the body as a mapping."""
    if not isinstance(body, Mapping):
        raise validation_error("Flow body must be a JSON object")
    kind = body.get("type")
    if kind not in CREATE_REQUIRED_KEYS:
        raise validation_error(f"Invalid flow type {kind!r}; expected CONTACT_FLOW or PLATFORM_FLOW")
    return str(kind), body


def _check_object_type(kind: str, object_type_id: object) -> None:
    if kind == PLATFORM_FLOW and object_type_id == CONTACT_OBJECT_TYPE_ID:
        raise validation_error(
            f'Expected an object type other than "{CONTACT_OBJECT_TYPE_ID}" objectType but got "{object_type_id}"'
        )
    if kind == CONTACT_FLOW and object_type_id != CONTACT_OBJECT_TYPE_ID:
        raise validation_error(f'Expected "{CONTACT_OBJECT_TYPE_ID}" objectType but got "{object_type_id}"')


def validate_create_request(raw_body: object) -> JsonObject:
    kind, body = _flow_body(raw_body)
    _require_keys(body, CREATE_REQUIRED_KEYS[kind], f"{kind} create request")
    if body["flowType"] not in FLOW_TYPES:
        raise validation_error(f"Invalid flowType {body['flowType']!r}")
    _check_object_type(kind, body["objectTypeId"])
    _validate_common(body)
    return {key: copy.deepcopy(value) for key, value in body.items() if key not in _SERVER_KEYS}


class FlowStore:
    """Flows in creation order; ids are numeric strings from a counter."""

    __slots__ = ("_flows", "_next_id")

    FIRST_ID = 600_000_001

    def __init__(self) -> None:
        self._flows: dict[str, StoredFlow] = {}
        self._next_id = self.FIRST_ID

    def __iter__(self) -> Iterator[StoredFlow]:
        return iter(list(self._flows.values()))

    def get(self, flow_id: str) -> StoredFlow | None:
        return self._flows.get(flow_id)

    def create(self, definition: JsonObject, now_ms: int) -> StoredFlow:
        flow = StoredFlow(str(self._next_id), 1, now_ms, now_ms, definition)
        self._next_id += 1
        self._flows[flow.id] = flow
        return flow

    def replace(self, flow_id: str, raw_body: object, now_ms: int) -> StoredFlow:
        flow = self._flows.get(flow_id)
        if flow is None:
            raise flow_not_found(flow_id)
        kind, body = _flow_body(raw_body)
        if kind != flow.definition.get("type"):
            raise validation_error(f"Flow {flow_id} is a {flow.definition.get('type')}; cannot change its type")
        _require_keys(body, PUT_REQUIRED_KEYS[kind], f"{kind} update request")
        if str(body["revisionId"]) != str(flow.revision):
            raise conflict(
                f"Flow {flow_id} was modified: revisionId {body['revisionId']} is not the latest "
                f"revision ({flow.revision}). Fetch the flow and retry with its current revisionId."
            )
        for key in _IMMUTABLE_KEYS:
            if key in body and body[key] != flow.definition.get(key):
                raise validation_error(f"{key} of a flow cannot be changed")
        _validate_common(body)
        definition = {key: copy.deepcopy(value) for key, value in body.items() if key not in _SERVER_KEYS}
        for key in (*_IMMUTABLE_KEYS, "dataSources"):
            if key not in definition and key in flow.definition:
                definition[key] = flow.definition[key]
        flow.definition = definition
        flow.revision += 1
        flow.updated_ms = now_ms
        return flow

    def delete(self, flow_id: str) -> None:
        if self._flows.pop(flow_id, None) is None:
            raise flow_not_found(flow_id)

    def clone(self) -> FlowStore:
        copy_store = FlowStore()
        copy_store._next_id = self._next_id
        copy_store._flows = {
            flow_id: StoredFlow(
                flow.id, flow.revision, flow.created_ms, flow.updated_ms, copy.deepcopy(flow.definition)
            )
            for flow_id, flow in self._flows.items()
        }
        return copy_store


def flow_not_found(flow_id: str) -> ApiError:
    return ApiError(404, "OBJECT_NOT_FOUND", f"Flow {flow_id} does not exist", context={"flowId": [flow_id]})
