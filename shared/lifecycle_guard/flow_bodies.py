"""The prevention flows as HubSpot's Automation v4 API takes them, how lifecycle-guard knows its own, and when a
stored flow still does what its definition says.

Shapes (HubSpot's OpenAPI spec, automationV4.json; hubspot-facts §6.3-6.5): contacts need ``CONTACT_FLOW`` on
``0-1``, companies ``PLATFORM_FLOW`` on ``0-2``; "is unknown" is ``{"operationType": "ALL_PROPERTY", "operator":
"IS_UNKNOWN"}``; "set property" is action type ``0-5`` with ``{"property_name", "value": {"type": "STATIC_VALUE",
...}}`` (strongly corroborated 3RD-PARTY).

Enrollment settings, each chosen on purpose:
- ``shouldReEnroll: true`` with a **property-change re-enrollment trigger** on ``lifecyclestage``: records re-enroll
  "either by manual re-enrollment or by meeting at least one selected re-enrollment trigger" [OFFICIAL-KB "Add
  re-enrollment triggers to a workflow", facts §6.4], so without one a record blanked a second time stays blank
  until the next run. The trigger is the ``4-655002`` event with ``hs_name IS_EQUAL_TO lifecyclestage``
  (``UNIFIED_EVENTS``, ``HAS_COMPLETED``); its branch keys and the STRING operation's required keys follow the spec
  (``PublicUnifiedEventsFilterBranch``, ``PublicStringPropertyOperation``), but the event type id, the ``hs_name``
  filter and the ``operationType`` HubSpot stores for it are UNCONFIRMED (3RD-PARTY, facts §6.3-6.4). If HubSpot
  reads it otherwise, the flow still enrolls each record the first time (the enrollment filter is confirmed), the
  live test's second blank fails its check, and the scheduled run still fixes the record.
- ``unEnrollObjectsNotMeetingCriteria: true``: "Indicates whether objects not meeting the criteria should be
  unenrolled" [OFFICIAL-SPEC]; "By default, contacts that are currently enrolled in a workflow will not be
  unenrolled when they no longer meet the enrollment triggers" [OFFICIAL-DOC knowledge.hubspot.com, "if a contact
  no longer meets a smart list criteria"]. A flow that exists to fill blanks must never overwrite a stage someone
  set while its action waited - ours (a fix's clear is followed by its set within a second), a user's, an
  import's. Forward-only protects later stages but not a custom stage ordered before the default.

Ownership: a flow lifecycle-guard made carries ``customProperties`` ``{"managedBy": "lifecycle-guard"}`` (the spec
types it as a string map, required on create, PUT and every ``ApiFlow`` it returns) and a description starting
``lifecycle-guard:`` (optional in the spec). Whether HubSpot keeps either as sent is UNCONFIRMED; the code is safe
if it keeps neither: a flow without them is never replaced, only reported (``workflows``), and one that already
does what ours would is left alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lifecycle_guard.objects import LIFECYCLE_STAGE, ObjectType

MARKER_PROPERTY = "managedBy"
MARKER_VALUE = "lifecycle-guard"
DESCRIPTION_PREFIX = "lifecycle-guard:"
PROPERTY_CHANGE_EVENT = "4-655002"  # UNCONFIRMED, see the module docstring
# What a stored flow is compared on: everything that decides what it does. Not its name (it is found by name),
# description or custom properties (labels), nor nextAvailableActionId (bookkeeping HubSpot may recompute).
_NOT_BEHAVIOUR = frozenset({"name", "description", "customProperties", "nextAvailableActionId"})


def _property_filter(operation: dict[str, Any]) -> dict[str, Any]:
    return {"filterType": "PROPERTY", "property": LIFECYCLE_STAGE, "operation": operation}


def stage_change_trigger() -> dict[str, Any]:
    """The re-enrollment trigger "lifecyclestage changed", exactly as hubspot-facts §6.4 gives it (UNCONFIRMED)."""
    return {
        "filterBranchType": "UNIFIED_EVENTS",
        "filterBranchOperator": "AND",
        "eventTypeId": PROPERTY_CHANGE_EVENT,
        "operator": "HAS_COMPLETED",
        "filterBranches": [],
        "filters": [
            {
                "filterType": "PROPERTY",
                "property": "hs_name",
                "operation": {
                    "operationType": "STRING",
                    "operator": "IS_EQUAL_TO",
                    "value": LIFECYCLE_STAGE,
                    "includeObjectsWithNoValueSet": False,
                },
            }
        ],
    }


def flow_body(
    object_type: ObjectType, name: str, description: str, operation: dict[str, Any], stage: str, enabled: bool
) -> dict[str, Any]:
    """A create request: records of ``object_type`` matching ``operation`` on their stage get ``stage``."""
    body: dict[str, Any] = {
        "type": "CONTACT_FLOW" if object_type is ObjectType.CONTACTS else "PLATFORM_FLOW",
        "objectTypeId": object_type.object_type_id,
        "flowType": "WORKFLOW",
        "name": name,
        "description": f"{DESCRIPTION_PREFIX} {description}",
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
            "unEnrollObjectsNotMeetingCriteria": True,
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
            "reEnrollmentTriggersFilterBranches": [stage_change_trigger()],
        },
        "timeWindows": [],
        "blockedDates": [],
        "customProperties": {MARKER_PROPERTY: MARKER_VALUE},
        "dataSources": [],
    }
    if object_type is ObjectType.CONTACTS:
        # Only contact flows carry these keys (ApiContactFlowCreateRequest); platform flows reject them.
        body["suppressionListIds"] = []
        body["canEnrollFromSalesforce"] = False
    return body


def is_managed(flow: Mapping[str, Any]) -> bool:
    """Whether lifecycle-guard made this flow: its custom-property marker, or (flows of earlier versions, or a
    portal that drops custom properties) its description."""
    custom = flow.get("customProperties")
    if isinstance(custom, Mapping) and custom.get(MARKER_PROPERTY) == MARKER_VALUE:
        return True
    description = flow.get("description")
    return isinstance(description, str) and description.startswith(DESCRIPTION_PREFIX)


def behaves_as(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether a flow HubSpot holds does what ``wanted`` says: every behavioural value of ``wanted`` is in
    ``stored``, whatever the order of keys or list items, and whatever HubSpot adds of its own."""
    return all(_holds(stored.get(key), value) for key, value in wanted.items() if key not in _NOT_BEHAVIOUR)


def _holds(stored: Any, wanted: Any) -> bool:
    if isinstance(wanted, Mapping):
        return isinstance(stored, Mapping) and all(_holds(stored.get(key), value) for key, value in wanted.items())
    if isinstance(wanted, list):
        # A flow's lists (filters, branches, actions linked by id, time windows) are sets: order means nothing.
        return (stored is None and not wanted) or (isinstance(stored, list) and _same_items(stored, wanted))
    if stored is None:
        return wanted in (None, False, "")  # a key HubSpot leaves out holds its default
    if isinstance(wanted, bool) or isinstance(stored, bool):
        return stored is wanted
    return stored == wanted or str(stored) == str(wanted)  # "0" and 0: ids and versions in either spelling


def _same_items(stored: Sequence[Any], wanted: Sequence[Any]) -> bool:
    """Each wanted item held by its own stored item, and nothing stored beyond them."""
    if len(stored) != len(wanted):
        return False
    unmatched = list(stored)
    for item in wanted:
        match = next((index for index, candidate in enumerate(unmatched) if _holds(candidate, item)), None)
        if match is None:
            return False
        unmatched.pop(match)
    return True
