"""The workflow engine: the one flow shape that acts, enrollment, re-enrollment, un-enrollment, delayed actions.

A flow acts only if it is enabled and has exactly this shape (facts §6.4): LIST_BASED enrollment whose
``listFilterBranch`` is (OR -> AND ->) a single property filter ``lifecyclestage`` ``ALL_PROPERTY``/``IS_UNKNOWN``,
and a single ``0-5`` action setting ``lifecyclestage`` to a ``STATIC_VALUE``. Every other flow is stored and never
acts.

Enrollment happens on the transition to "unknown" (a record created without a stage, or its stage cleared) while
the flow is enabled, so records that were already unknown when the flow was enabled are never enrolled (HubSpot's
"enroll existing records" has no v4 field, facts §6.6). A record never has two pending enrollments in one flow.

Re-enrollment: "By default, records are only enrolled in workflows the first time they meet the workflow enrollment
triggers" [OFFICIAL-DOC https://knowledge.hubspot.com/workflows/manage-workflow-enrollment-settings]; they re-enroll
"either by manual re-enrollment or by meeting at least one selected re-enrollment trigger" [OFFICIAL-KB "Add
re-enrollment triggers to a workflow", facts §6.4]. So a record enrolled once enrolls again only if the flow has
``shouldReEnroll: true`` and one of its ``reEnrollmentTriggersFilterBranches`` matches the change that left the stage
unknown; with no trigger selected nobody re-enrolls. Triggers that match:
- the property-change event: a ``UNIFIED_EVENTS`` branch, ``eventTypeId`` ``4-655002``, operator ``HAS_COMPLETED``,
  whose filters name the property (``hs_name IS_EQUAL_TO lifecyclestage``, a ``value`` or among ``values``) and
  otherwise hold for the event (``hs_value`` is the new value, unknown after a clear: ``hs_value IS_KNOWN`` does not
  match a clear) [eventTypeId and the hs_name filter: 3RD-PARTY, facts §6.3; the exact operationType HubSpot stores
  and the event's hs_value on a clear are UNCONFIRMED, any operationType is accepted];
- a branch repeating the enrollment filter, (OR ->) AND -> ``lifecyclestage IS_UNKNOWN``, which a clear meets anew.
A trigger with nested branches or a filter the sandbox cannot evaluate does not match (UNCONFIRMED, the cautious
reading).

Un-enrollment: "By default, contacts that are currently enrolled in a workflow will not be unenrolled when they no
longer meet the enrollment triggers" [OFFICIAL-DOC https://knowledge.hubspot.com/articles/kcs_article/workflows/if-a-contact-no-longer-meets-a-smart-list-criteria-will-they-be-automatically-removed-from-the-workflow];
``unEnrollObjectsNotMeetingCriteria`` "Indicates whether objects not meeting the criteria should be unenrolled"
[OFFICIAL-SPEC automationV4.json]. With it, a record that gets a stage while its action is pending is un-enrolled
at that moment and the action dropped (it counts as enrolled once, so a later clear needs a re-enrollment trigger);
without it, the action still fires ``delay`` after enrollment and goes through the normal lifecycle rules (so a stage
set meanwhile wins if it is later). Actions of flows that were disabled, deleted or reshaped meanwhile, and of
archived records, are dropped. Un-enrolling the instant the record stops meeting the filter is UNCONFIRMED timing.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from hubspot_sandbox.catalog import LIFECYCLESTAGE
from hubspot_sandbox.flows import StoredFlow

SET_PROPERTY_ACTION_TYPE = "0-5"
PROPERTY_CHANGE_EVENT_TYPE = "4-655002"
# The property-change event as a stage clear produces it: the property's name, and no new value.
_CLEAR_EVENT: Mapping[str, str | None] = {"hs_name": LIFECYCLESTAGE, "hs_value": None}


@dataclass(frozen=True, slots=True)
class StageDefaultRule:
    """What an acting flow does: give records of ``object_type_id`` without a stage the stage ``value``."""

    object_type_id: str
    value: str
    re_enrolls_on_clear: bool  # shouldReEnroll and a selected trigger that a stage clear meets
    un_enrolls: bool  # unEnrollObjectsNotMeetingCriteria: a record that gets a stage leaves the flow


def _single(items: object) -> Any:
    return items[0] if isinstance(items, Sequence) and not isinstance(items, str) and len(items) == 1 else None


def _unwrapped(branch: object) -> object:
    """The only branch of an OR branch without filters of its own (how HubSpot nests a single AND); else itself."""
    if isinstance(branch, Mapping) and branch.get("filterBranchType") == "OR" and not branch.get("filters"):
        return _single(branch.get("filterBranches"))
    return branch


def _is_unknown_stage_filter(branch: object) -> bool:
    """An AND branch holding exactly one ``lifecyclestage IS_UNKNOWN`` property filter."""
    if not isinstance(branch, Mapping) or branch.get("filterBranchType") != "AND" or branch.get("filterBranches"):
        return False
    only = _single(branch.get("filters"))
    if not isinstance(only, Mapping) or only.get("filterType") != "PROPERTY":
        return False
    operation = only.get("operation")
    return (
        only.get("property") == LIFECYCLESTAGE
        and isinstance(operation, Mapping)
        and operation.get("operationType") == "ALL_PROPERTY"
        and operation.get("operator") == "IS_UNKNOWN"
    )


def _event_filter_holds(event_filter: object, event: Mapping[str, str | None]) -> bool:
    """A property filter of a UNIFIED_EVENTS branch, judged on the event's properties."""
    if not isinstance(event_filter, Mapping) or event_filter.get("filterType") != "PROPERTY":
        return False
    operation = event_filter.get("operation")
    name = event_filter.get("property")
    if not isinstance(operation, Mapping) or name not in event:
        return False
    value = event[str(name)]
    operator = operation.get("operator")
    if operator == "IS_KNOWN":
        return value is not None
    if operator == "IS_UNKNOWN":
        return value is None
    if operator == "IS_EQUAL_TO":
        wanted = operation.get("values") if "values" in operation else [operation.get("value")]
        return value is not None and isinstance(wanted, list) and value in wanted
    return False


def _is_stage_change_trigger(branch: Mapping[str, Any]) -> bool:
    """The property-change event on ``lifecyclestage``, holding for a clear."""
    filters = branch.get("filters")
    return (
        branch.get("filterBranchType") == "UNIFIED_EVENTS"
        and branch.get("eventTypeId") == PROPERTY_CHANGE_EVENT_TYPE
        and branch.get("operator") == "HAS_COMPLETED"
        and not branch.get("filterBranches")
        and isinstance(filters, list)
        and any(isinstance(item, Mapping) and item.get("property") == "hs_name" for item in filters)
        and all(_event_filter_holds(item, _CLEAR_EVENT) for item in filters)
    )


def _re_enrolls_on_clear(criteria: Mapping[str, Any]) -> bool:
    triggers = criteria.get("reEnrollmentTriggersFilterBranches")
    if criteria.get("shouldReEnroll") is not True or not isinstance(triggers, list):
        return False
    return any(
        isinstance(trigger, Mapping)
        and (_is_stage_change_trigger(trigger) or _is_unknown_stage_filter(_unwrapped(trigger)))
        for trigger in triggers
    )


def stage_default_rule(flow: StoredFlow) -> StageDefaultRule | None:
    """The rule an enabled flow of the acting shape applies, or None for every other flow."""
    definition = flow.definition
    criteria = definition.get("enrollmentCriteria")
    if not flow.is_enabled or not isinstance(criteria, Mapping) or criteria.get("type") != "LIST_BASED":
        return None
    if not _is_unknown_stage_filter(_unwrapped(criteria.get("listFilterBranch"))):
        return None
    action = _single(definition.get("actions"))
    if not isinstance(action, Mapping) or action.get("actionTypeId") != SET_PROPERTY_ACTION_TYPE:
        return None
    fields = action.get("fields")
    if not isinstance(fields, Mapping) or fields.get("property_name") != LIFECYCLESTAGE:
        return None
    value = fields.get("value")
    if (
        not isinstance(value, Mapping)
        or value.get("type") != "STATIC_VALUE"
        or not isinstance(value.get("staticValue"), str)
    ):
        return None
    return StageDefaultRule(
        flow.object_type_id,
        value["staticValue"],
        re_enrolls_on_clear=_re_enrolls_on_clear(criteria),
        un_enrolls=criteria.get("unEnrollObjectsNotMeetingCriteria") is True,
    )


class Enrollment(NamedTuple):
    due_ms: int
    sequence: int  # keeps the heap order stable for equal due times
    flow_id: str
    object_type: str
    record_id: int


class WorkflowQueue:
    """Pending actions and enrollment history (part of portal state, so a reset restores it).

    Un-enrolling leaves the action in the heap; it is skipped when due because its sequence is no longer the
    record's pending one (no heap search on the write path).
    """

    __slots__ = ("_enrolled", "_heap", "_pending", "_sequence")

    def __init__(self) -> None:
        self._heap: list[Enrollment] = []
        self._sequence = 0
        self._enrolled: dict[str, set[int]] = {}  # flow id -> records ever enrolled
        self._pending: dict[str, dict[int, int]] = {}  # flow id -> record -> sequence of its pending action

    def enroll(self, flow_id: str, rule: StageDefaultRule, object_type: str, record_id: int, due_ms: int) -> bool:
        pending = self._pending.setdefault(flow_id, {})
        enrolled = self._enrolled.setdefault(flow_id, set())
        if record_id in pending or (record_id in enrolled and not rule.re_enrolls_on_clear):
            return False
        enrolled.add(record_id)
        self._sequence += 1
        pending[record_id] = self._sequence
        heapq.heappush(self._heap, Enrollment(due_ms, self._sequence, flow_id, object_type, record_id))
        return True

    def pending_flows(self, record_id: int) -> list[str]:
        """Flows in which the record has a pending action."""
        return [flow_id for flow_id, pending in self._pending.items() if record_id in pending]

    def un_enroll(self, flow_id: str, record_id: int) -> None:
        self._pending.get(flow_id, {}).pop(record_id, None)

    def pop_due(self, now_ms: int) -> list[Enrollment]:
        due: list[Enrollment] = []
        while self._heap and self._heap[0].due_ms <= now_ms:
            enrollment = heapq.heappop(self._heap)
            pending = self._pending.get(enrollment.flow_id, {})
            if pending.get(enrollment.record_id) == enrollment.sequence:
                del pending[enrollment.record_id]
                due.append(enrollment)
        return due

    def clone(self) -> WorkflowQueue:
        copy = WorkflowQueue()
        copy._heap = list(self._heap)
        copy._sequence = self._sequence
        copy._enrolled = {flow_id: set(ids) for flow_id, ids in self._enrolled.items()}
        copy._pending = {flow_id: dict(ids) for flow_id, ids in self._pending.items()}
        return copy
