"""The single path every property write takes: API calls, the workflow engine and test seeding.

Validation (unknown and read-only properties, options of ``lifecyclestage``/``pipeline``/``dealstage``, and for API
writes the portal's validation rules) happens before anything is applied, so a batch with one bad value changes
nothing. Applying then honours the forward-only lifecycle rule (unless a test seeds data), derives
``hs_is_closed``/``hs_is_closed_won`` from a deal's stage, keeps history, feeds the search index, enrolls records
whose stage became unknown into acting flows and un-enrolls those that got one (where the flow says so,
:mod:`hubspot_sandbox.workflows`).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

from hubspot_sandbox.catalog import (
    DEALS,
    DEALSTAGE,
    HS_IS_CLOSED,
    HS_IS_CLOSED_WON,
    LIFECYCLESTAGE,
    PIPELINE,
    ObjectType,
    PropertyKind,
)
from hubspot_sandbox.errors import PropertyProblem, validation_error
from hubspot_sandbox.history import ChangeSource, HistoryEntry, Origin
from hubspot_sandbox.pipelines import DEFAULT_PIPELINE_ID, Pipeline, closed_flags
from hubspot_sandbox.stages import StageDecision, decide_stage_change
from hubspot_sandbox.state import PortalState
from hubspot_sandbox.validation_rules import RuleBook
from hubspot_sandbox.workflows import stage_default_rule

CALCULATED_SOURCE = ChangeSource("CALCULATED")

PropertyValues = Mapping[str, str | None]


def wire_value(raw: object) -> str | None:
    """A property value as HubSpot stores it; ``""`` and ``null`` mean "no value"."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float):
        return str(raw)
    if isinstance(raw, str):
        return raw or None
    raise validation_error(f"Invalid property value {raw!r}: expected a string")


def wire_values(raw: object) -> dict[str, str | None]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise validation_error("properties must be an object of property name -> value")
    return {str(name): wire_value(value) for name, value in raw.items()}


@dataclass(slots=True)
class WriteOutcome:
    changed: int = 0  # property values that actually changed
    ignored_backward: int = 0  # lifecyclestage sets dropped by the forward-only rule

    def add(self, other: WriteOutcome) -> None:
        self.changed += other.changed
        self.ignored_backward += other.ignored_backward


def _invalid_option(name: str, value: str, allowed: tuple[str, ...]) -> PropertyProblem:
    return PropertyProblem(
        name, "INVALID_OPTION", f"{value} was not one of the allowed options: [{', '.join(allowed)}]"
    )


class RecordWriter:
    """Writes to records of one object type at one instant."""

    __slots__ = ("_history", "_index", "_rules", "_state", "_store", "now_ms", "object_type", "workflow_delay_ms")

    def __init__(self, state: PortalState, object_type: ObjectType, now_ms: int, workflow_delay_ms: int) -> None:
        self._state = state
        self.object_type = object_type
        self.now_ms = now_ms
        self.workflow_delay_ms = workflow_delay_ms
        self._store = state.store(object_type)
        self._index = state.index(object_type)
        self._history = state.history[object_type.name]
        self._rules = RuleBook(rule for rule in state.validation_rules if rule.object_type == object_type.name)

    # --- validation ---------------------------------------------------------------------------------------
    def problems(self, slot: int | None, values: PropertyValues, *, check_rules: bool) -> list[PropertyProblem]:
        """Why these values cannot be written to the record at ``slot`` (None: a new record); ``check_rules``
        adds the portal's validation rules (API writes)."""
        found: list[PropertyProblem] = []
        for name, value in values.items():
            prop = self.object_type.properties.get(name)
            if prop is None:
                found.append(PropertyProblem(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'))
            elif prop.read_only:
                found.append(
                    PropertyProblem(
                        name, "READ_ONLY_VALUE", f'"{name}" is a read only property; its value cannot be set.'
                    )
                )
            elif value is None:
                continue
            elif name == LIFECYCLESTAGE:
                stages = self._state.lifecycle[self.object_type.name]
                if value not in stages:
                    found.append(_invalid_option(name, value, stages.values))
            elif name == PIPELINE and value not in self._state.pipelines:
                found.append(_invalid_option(name, value, tuple(self._state.pipelines)))
            elif name == DEALSTAGE:
                pipeline = self._target_pipeline(slot, values)
                if pipeline is not None and pipeline.stage(value) is None:
                    found.append(_invalid_option(name, value, pipeline.stage_ids))
        if check_rules and self._rules:
            if slot is None:
                found += self._rules.problems(self.object_type, None, values, lambda _name: None)
            else:
                record_id = str(self._store.id_of(slot))
                found += self._rules.problems(self.object_type, record_id, values, partial(self._store.value, slot))
        return found

    def _target_pipeline(self, slot: int | None, values: PropertyValues) -> Pipeline | None:
        pipeline_id = values.get(PIPELINE)
        if pipeline_id is None and slot is not None:
            pipeline_id = self._store.value(slot, PIPELINE)
        return self._state.pipelines.get(pipeline_id or DEFAULT_PIPELINE_ID)

    # --- writes -------------------------------------------------------------------------------------------
    def create(self, values: PropertyValues, source: ChangeSource, *, creator_name: str | None = None) -> int:
        stored = {name: self._intern(name, value) for name, value in values.items() if value is not None}
        if self.object_type is DEALS and DEALSTAGE in stored:
            stored.setdefault(PIPELINE, DEFAULT_PIPELINE_ID)
            stored.update({name: value for name, value in self._deal_flags(stored).items() if value is not None})
        slot = self._store.append(self.now_ms, stored)
        # The origin tells every value as written by the creator at creation; only derived flags need an entry.
        self._history.record_created(slot, Origin(source, creator_name))
        record_id = self._store.id_of(slot)
        for name in (HS_IS_CLOSED, HS_IS_CLOSED_WON):
            if name in stored:
                entry = self._entry(stored[name], CALCULATED_SOURCE)
                self._history.record_change(name, slot, entry, before=None, created_ms=self.now_ms)
        self._index.record_created(self.now_ms, record_id, {name: stored.get(name) for name in self._index.buckets})
        if self.object_type.has_lifecycle and LIFECYCLESTAGE not in stored:
            self._enroll_unknown(record_id)
        return slot

    def update(
        self, slot: int, values: PropertyValues, source: ChangeSource, *, enforce_rules: bool = True
    ) -> WriteOutcome:
        outcome = WriteOutcome()
        for name, new in values.items():
            old = self._store.value(slot, name)
            if name == LIFECYCLESTAGE and enforce_rules:
                decision = decide_stage_change(self._state.lifecycle[self.object_type.name], old, new)
                if decision is StageDecision.IGNORED_BACKWARD:
                    outcome.ignored_backward += 1
                    continue
            if new == old:
                continue
            self._set(slot, name, old, new, source)
            outcome.changed += 1
        if self.object_type is DEALS and (DEALSTAGE in values or PIPELINE in values):
            current = {name: self._store.value(slot, name) for name in (PIPELINE, DEALSTAGE)}
            for name, value in self._deal_flags(current).items():
                old = self._store.value(slot, name)
                if value != old:
                    self._set(slot, name, old, value, CALCULATED_SOURCE)
        if outcome.changed:
            self._store.updated_ms[slot] = self.now_ms
        return outcome

    def archive(self, slot: int) -> None:
        self._store.archived_ms[slot] = self.now_ms
        self._index.record_archived(
            self.now_ms, self._store.id_of(slot), {name: self._store.value(slot, name) for name in self._index.buckets}
        )

    # --- internals ----------------------------------------------------------------------------------------
    def _set(self, slot: int, name: str, old: str | None, new: str | None, source: ChangeSource) -> None:
        new = None if new is None else self._intern(name, new)
        self._store.set_value(slot, name, new)
        self._history.record_change(
            name, slot, self._entry(new or "", source), before=old, created_ms=self._store.created_ms[slot]
        )
        record_id = self._store.id_of(slot)
        self._index.value_changed(self.now_ms, record_id, name, old, new)
        if name == LIFECYCLESTAGE:
            if new is None:
                self._enroll_unknown(record_id)
            elif old is None:
                self._un_enroll_known(record_id)

    def _entry(self, value: str, source: ChangeSource) -> HistoryEntry:
        return HistoryEntry(value, self.now_ms, source)

    def _intern(self, name: str, value: str) -> str:
        # Enumeration values repeat across millions of records: share one string object per value.
        prop = self.object_type.properties.get(name)
        if prop is not None and prop.kind in (PropertyKind.ENUMERATION, PropertyKind.BOOL):
            return sys.intern(value)
        return value

    def _deal_flags(self, values: PropertyValues) -> dict[str, str | None]:
        pipeline = self._state.pipelines.get(values.get(PIPELINE) or DEFAULT_PIPELINE_ID)
        stage_id = values.get(DEALSTAGE)
        stage = pipeline.stage(stage_id) if pipeline is not None and stage_id is not None else None
        is_closed, is_closed_won = closed_flags(stage)
        return {HS_IS_CLOSED: is_closed, HS_IS_CLOSED_WON: is_closed_won}

    def _un_enroll_known(self, record_id: int) -> None:
        """A record that got a stage no longer meets the flows' filter: flows that un-enroll drop its action."""
        queue = self._state.workflows
        for flow_id in queue.pending_flows(record_id):
            flow = self._state.flows.get(flow_id)
            rule = stage_default_rule(flow) if flow is not None else None
            if rule is not None and rule.un_enrolls and rule.object_type_id == self.object_type.type_id:
                queue.un_enroll(flow_id, record_id)

    def _enroll_unknown(self, record_id: int) -> None:
        for flow in self._state.flows:
            rule = stage_default_rule(flow)
            if rule is not None and rule.object_type_id == self.object_type.type_id:
                self._state.workflows.enroll(
                    flow.id, rule, self.object_type.name, record_id, self.now_ms + self.workflow_delay_ms
                )
