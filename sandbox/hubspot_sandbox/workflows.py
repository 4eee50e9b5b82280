"""The workflow engine: the one flow shape that acts, enrollment, and the delayed action queue.

A flow acts only if it is enabled and has exactly this shape (facts §6.4): LIST_BASED enrollment whose
``listFilterBranch`` is (OR -> AND ->) a single property filter ``lifecyclestage`` ``ALL_PROPERTY``/``IS_UNKNOWN``,
and a single ``0-5`` action setting ``lifecyclestage`` to a ``STATIC_VALUE``. Every other flow is stored and never
acts.

Enrollment happens on the transition to "unknown" (a record created without a stage, or its stage cleared) while
the flow is enabled, so records that were already unknown when the flow was enabled are never enrolled (HubSpot's
"enroll existing records" has no v4 field, facts §6.6). ``shouldReEnroll: false`` enrolls a record at most once per
flow; a record never has two pending enrollments in one flow. The action fires ``delay`` after enrollment and goes
through the normal lifecycle rules (so a stage set meanwhile wins if it is later); actions of flows that were
disabled, deleted or reshaped meanwhile, and of archived records, are dropped.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from hubspot_sandbox.catalog import LIFECYCLESTAGE
from hubspot_sandbox.flows import StoredFlow

SET_PROPERTY_ACTION_TYPE = "0-5"


@dataclass(frozen=True, slots=True)
class StageDefaultRule:
    """What an acting flow does: give records of ``object_type_id`` without a stage the stage ``value``."""

    object_type_id: str
    value: str
    should_re_enroll: bool


def _single(items: object) -> Any:
    return items[0] if isinstance(items, Sequence) and not isinstance(items, str) and len(items) == 1 else None


def _is_unknown_stage_filter(branch: Mapping[str, Any]) -> bool:
    """An AND branch holding exactly one ``lifecyclestage IS_UNKNOWN`` property filter."""
    if branch.get("filterBranchType") != "AND" or branch.get("filterBranches"):
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


def stage_default_rule(flow: StoredFlow) -> StageDefaultRule | None:
    """The rule an enabled flow of the acting shape applies, or None for every other flow."""
    definition = flow.definition
    criteria = definition.get("enrollmentCriteria")
    if not flow.is_enabled or not isinstance(criteria, Mapping) or criteria.get("type") != "LIST_BASED":
        return None
    branch = criteria.get("listFilterBranch")
    if isinstance(branch, Mapping) and branch.get("filterBranchType") == "OR" and not branch.get("filters"):
        branch = _single(branch.get("filterBranches"))
    if not isinstance(branch, Mapping) or not _is_unknown_stage_filter(branch):
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
    return StageDefaultRule(flow.object_type_id, value["staticValue"], criteria.get("shouldReEnroll") is True)


class Enrollment(NamedTuple):
    due_ms: int
    sequence: int  # keeps the heap order stable for equal due times
    flow_id: str
    object_type: str
    record_id: int


class WorkflowQueue:
    """Pending actions and enrollment history (part of portal state, so a reset restores it)."""

    __slots__ = ("_active", "_enrolled", "_heap", "_sequence")

    def __init__(self) -> None:
        self._heap: list[Enrollment] = []
        self._sequence = 0
        self._enrolled: dict[str, set[int]] = {}  # flow id -> records ever enrolled
        self._active: dict[str, set[int]] = {}  # flow id -> records with a pending action

    def enroll(self, flow_id: str, rule: StageDefaultRule, object_type: str, record_id: int, due_ms: int) -> bool:
        active = self._active.setdefault(flow_id, set())
        enrolled = self._enrolled.setdefault(flow_id, set())
        if record_id in active or (record_id in enrolled and not rule.should_re_enroll):
            return False
        active.add(record_id)
        enrolled.add(record_id)
        self._sequence += 1
        heapq.heappush(self._heap, Enrollment(due_ms, self._sequence, flow_id, object_type, record_id))
        return True

    def pop_due(self, now_ms: int) -> list[Enrollment]:
        due: list[Enrollment] = []
        while self._heap and self._heap[0].due_ms <= now_ms:
            enrollment = heapq.heappop(self._heap)
            self._active.get(enrollment.flow_id, set()).discard(enrollment.record_id)
            due.append(enrollment)
        return due

    def clone(self) -> WorkflowQueue:
        copy = WorkflowQueue()
        copy._heap = list(self._heap)
        copy._sequence = self._sequence
        copy._enrolled = {flow_id: set(ids) for flow_id, ids in self._enrolled.items()}
        copy._active = {flow_id: set(ids) for flow_id, ids in self._active.items()}
        return copy
