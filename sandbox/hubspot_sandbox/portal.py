"""A HubSpot portal: records, associations, stage options, deal pipelines, flows — thread-safe.

Every method takes the portal lock, so the HTTP server's threads, the workflow scheduler and a test that reads or
seeds state directly never see a half-applied write. Record ids are numeric strings on this API (as on the wire).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from hubspot_sandbox.associations import ASSOCIATION_KINDS, association_kind
from hubspot_sandbox.catalog import LIFECYCLESTAGE, OBJECT_TYPES, ObjectType, object_type
from hubspot_sandbox.errors import JsonObject, invalid_properties, not_found, validation_error
from hubspot_sandbox.flows import validate_create_request
from hubspot_sandbox.history import API_SOURCE, IMPORT_SOURCE, ChangeSource, HistoryEntry, automation_source
from hubspot_sandbox.origins import GenerationManifest
from hubspot_sandbox.pipelines import Pipeline
from hubspot_sandbox.reads import RecordData, RecordReader, history_property_names, response_property_names
from hubspot_sandbox.records import RecordStore
from hubspot_sandbox.search_engine import SearchPage, SearchView, execute_search
from hubspot_sandbox.search_query import SearchQuery
from hubspot_sandbox.stages import DISALLOWED_STAGES, StageList, StageOption
from hubspot_sandbox.state import PortalState
from hubspot_sandbox.timefmt import now_ms
from hubspot_sandbox.validation_rules import StageRule
from hubspot_sandbox.workflows import stage_default_rule
from hubspot_sandbox.writes import RecordWriter, WriteOutcome, wire_values

LIFECYCLE_TYPES = ("contacts", "companies")


class AssociatedRecord(NamedTuple):
    to_id: str
    type_ids: tuple[int, ...]


class AssociationPage(NamedTuple):
    from_id: str
    links: list[AssociatedRecord]
    next_after: str | None


class WorkflowActionResult(NamedTuple):
    flow_id: str
    object_type: str
    record_id: str
    outcome: WriteOutcome


@dataclass(slots=True)
class BatchUpdateResult:
    records: list[RecordData]
    missing_ids: list[str]
    outcome: WriteOutcome


class PortalSnapshot:
    """An opaque copy of a portal's state; :meth:`Portal.restore` brings it back (any number of times)."""

    __slots__ = ("_state",)

    def __init__(self, state: PortalState) -> None:
        self._state = state


def _record_id(record_id: str | int) -> int:
    try:
        return int(record_id)
    except ValueError:
        raise not_found("Object not found.  objectId are usually numeric.", context={"id": [str(record_id)]}) from None


class Portal:
    def __init__(
        self,
        state: PortalState | None = None,
        *,
        clock: Callable[[], int] = now_ms,
        generation: GenerationManifest | None = None,
    ) -> None:
        self._state = state if state is not None else PortalState.empty()
        self.generation = generation  # what the generator made this portal from (sources, offenders); None: by hand
        self._lock = threading.RLock()
        self._clock = clock
        self._last_ms = 0
        self._workflow_delay_ms = 0

    @classmethod
    def empty(cls) -> Portal:
        """The 8 default lifecycle stages, the default deal pipeline, no records, no flows."""
        return cls()

    # --- configuration ------------------------------------------------------------------------------------
    def configure(self, *, index_lag_ms: int | None = None, workflow_delay_seconds: float | None = None) -> None:
        """Search index lag and workflow action delay (the Sandbox sets these from its settings)."""
        with self._lock:
            if index_lag_ms is not None:
                for index in self._state.indexes.values():
                    index.lag_ms = index_lag_ms
            if workflow_delay_seconds is not None:
                self._workflow_delay_ms = round(workflow_delay_seconds * 1000)

    def _now(self) -> int:
        # Never let time run backwards: the index-lag queue relies on ordered timestamps.
        self._last_ms = max(self._last_ms, self._clock())
        return self._last_ms

    def _writer(self, object_type: ObjectType) -> RecordWriter:
        return RecordWriter(self._state, object_type, self._now(), self._workflow_delay_ms)

    # --- stage options and pipelines ----------------------------------------------------------------------
    def lifecycle_stages(self, object_type_name: str = "contacts") -> tuple[StageOption, ...]:
        """Stage options in lifecycle order (displayOrder ascending, -1 last)."""
        with self._lock:
            return self._state.lifecycle[object_type(object_type_name).name].options

    def set_lifecycle_stages(
        self, options: Iterable[StageOption], object_types: Sequence[str] = LIFECYCLE_TYPES
    ) -> None:
        stages = StageList(options)
        with self._lock:
            for name in object_types:
                self._state.lifecycle[object_type(name).name] = stages

    def add_lifecycle_stage(
        self, option: StageOption, *, after: str | None = None, object_types: Sequence[str] = LIFECYCLE_TYPES
    ) -> None:
        """Add a (custom) stage; ``after`` places it right behind that stage, renumbering later ones."""
        with self._lock:
            for name in object_types:
                key = object_type(name).name
                self._state.lifecycle[key] = self._state.lifecycle[key].with_stage(option, after=after)

    def remove_lifecycle_stage(self, value: str, object_types: Sequence[str] = LIFECYCLE_TYPES) -> None:
        """Delete a stage option (records keep their value; new writes of it become invalid): all types or none.
        HubSpot's UI deletes only a stage no record holds (api/schema.py cites it); deleting one that still has
        records is allowed here, harsher than the UI, and UNCONFIRMED for HubSpot."""
        with self._lock:
            keys = [object_type(name).name for name in object_types]
            self._state.lifecycle.update({key: self._state.lifecycle[key].without(value) for key in keys})

    # --- validation rules ---------------------------------------------------------------------------------
    def validation_rules(self) -> tuple[StageRule, ...]:
        with self._lock:
            return self._state.validation_rules

    def add_validation_rule(self, rule: StageRule) -> None:
        """An admin-configured rule API writes must pass (see :mod:`hubspot_sandbox.validation_rules`)."""
        with self._lock:
            self._state.validation_rules = (*self._state.validation_rules, rule)

    def clear_validation_rules(self) -> None:
        with self._lock:
            self._state.validation_rules = ()

    def deal_pipelines(self) -> tuple[Pipeline, ...]:
        with self._lock:
            return tuple(sorted(self._state.pipelines.values(), key=lambda p: (p.display_order, p.label)))

    def add_deal_pipeline(self, pipeline: Pipeline) -> None:
        with self._lock:
            if pipeline.id in self._state.pipelines:
                raise ValueError(f"pipeline {pipeline.id!r} already exists")
            self._state.pipelines[pipeline.id] = pipeline

    # --- records: test-facing ------------------------------------------------------------------------------
    def create_record(
        self,
        object_type_name: str,
        properties: Mapping[str, object] | None = None,
        *,
        source: ChangeSource = IMPORT_SOURCE,
    ) -> str:
        """Create a record as stored data, without validation (test seeding); returns its id.

        Deal flags are derived, history is kept with ``source``, and acting flows enroll it if it has no stage.
        """
        with self._lock:
            writer = self._writer(object_type(object_type_name))
            slot = writer.create(wire_values(properties), source)
            return str(self._state.store(writer.object_type).id_of(slot))

    def seed_properties(
        self,
        object_type_name: str,
        record_id: str | int,
        properties: Mapping[str, object],
        *,
        source: ChangeSource = IMPORT_SOURCE,
    ) -> None:
        """Set values bypassing validation and the forward-only rule (test seeding, e.g. a disallowed stage)."""
        with self._lock:
            writer = self._writer(object_type(object_type_name))
            writer.update(
                self._live_slot(writer.object_type, record_id), wire_values(properties), source, enforce_rules=False
            )

    def apply_properties(
        self,
        object_type_name: str,
        record_id: str | int,
        properties: Mapping[str, object],
        *,
        source: ChangeSource = API_SOURCE,
        check_rules: bool = True,
    ) -> WriteOutcome:
        """Write through validation (with the portal's validation rules unless ``check_rules`` is False) and
        lifecycle rules, exactly like PATCH does (raises ApiError when invalid)."""
        with self._lock:
            writer = self._writer(object_type(object_type_name))
            slot = self._live_slot(writer.object_type, record_id)
            values = wire_values(properties)
            problems = writer.problems(slot, values, check_rules=check_rules)
            if problems:
                raise invalid_properties(problems)
            return writer.update(slot, values, source)

    def get_properties(self, object_type_name: str, record_id: str | int) -> dict[str, str]:
        """Every property with a value, computed ones (hs_object_id, createdate, ...) included."""
        with self._lock:
            resolved = object_type(object_type_name)
            slot = self._live_slot(resolved, record_id)
            return _all_values(RecordReader(self._state, resolved), self._state.store(resolved), slot)

    def get_property(self, object_type_name: str, record_id: str | int, name: str) -> str | None:
        return self.get_properties(object_type_name, record_id).get(name)

    def records(self, object_type_name: str, *, chunk: int = 10_000) -> Iterator[tuple[str, dict[str, str]]]:
        """(id, properties) of every live record in id order; the lock is held per chunk, not throughout."""
        resolved = object_type(object_type_name)
        start = 0
        while True:
            with self._lock:
                store = self._state.store(resolved)
                reader = RecordReader(self._state, resolved)
                stop = min(start + chunk, len(store))
                batch = [
                    (str(store.id_of(slot)), _all_values(reader, store, slot))
                    for slot in range(start, stop)
                    if slot not in store.archived_ms
                ]
            yield from batch
            if stop >= len(store):
                return
            start = stop

    def count(self, object_type_name: str) -> int:
        with self._lock:
            return self._state.store(object_type(object_type_name)).live_count

    def archive(self, object_type_name: str, record_id: str | int) -> bool:
        """Archive a record; False if it does not exist or is archived already."""
        with self._lock:
            resolved = object_type(object_type_name)
            slot = self._state.store(resolved).slot_of(record_id)
            if slot is None:
                return False
            self._writer(resolved).archive(slot)
            return True

    def property_history(self, object_type_name: str, record_id: str | int, name: str) -> list[HistoryEntry]:
        """The property's history, newest first, as ``propertiesWithHistory`` serves it (generated, then applied)."""
        with self._lock:
            resolved = object_type(object_type_name)
            slot = self._state.store(resolved).slot_of(record_id, include_archived=True)
            if slot is None:
                raise KeyError(f"no {resolved.singular} {record_id}")
            return RecordReader(self._state, resolved).history(slot, name)

    # --- dirty records between runs ----------------------------------------------------------------------
    def add_dirty_records(
        self,
        object_type_name: str,
        count: int,
        source: ChangeSource,
        *,
        stage: str | None = None,
        source_name: str | None = None,
    ) -> list[str]:
        """``count`` new records created by ``source`` (its name: the record source detail), without a stage or at
        a disallowed ``stage`` — e.g. the integration creating more blank contacts between runs. Acting flows
        enroll the blank ones, as they would any record created without a stage. Returns their ids."""
        with self._lock:
            resolved = _lifecycle_type(object_type_name)
            _check_dirty_request(count, stage, blank=None)
            writer = self._writer(resolved)
            values = {} if stage is None else {LIFECYCLESTAGE: stage}
            problems = writer.problems(None, values, check_rules=False)
            if problems:
                raise invalid_properties(problems)
            store = self._state.store(resolved)
            ids: list[str] = []
            for _ in range(count):
                record_id = store.id_of(len(store))
                writer.create({**_placeholder_values(resolved, record_id), **values}, source, creator_name=source_name)
                ids.append(str(record_id))
            return ids

    def set_dirty_stages(self, object_type_name: str, count: int, source: ChangeSource, stage: str) -> list[str]:
        """``source`` clears (``stage=""``) or sets a disallowed ``stage`` on the ``count`` most recently created
        clean records (those at a stage that is not disallowed) — e.g. a workflow setting contacts to ``other``.
        Written as stored data (no forward-only rule; clears enroll like any clear). Returns their ids; ValueError
        if the portal has fewer clean records."""
        with self._lock:
            resolved = _lifecycle_type(object_type_name)
            _check_dirty_request(count, stage, blank="")
            writer = self._writer(resolved)
            values = {LIFECYCLESTAGE: stage or None}
            problems = writer.problems(None, values, check_rules=False)
            if problems:
                raise invalid_properties(problems)
            store = self._state.store(resolved)
            chosen: list[int] = []
            for slot in range(len(store) - 1, -1, -1):
                current = store.value(slot, LIFECYCLESTAGE)
                if slot not in store.archived_ms and current is not None and current not in DISALLOWED_STAGES:
                    chosen.append(slot)
                    if len(chosen) == count:
                        break
            if len(chosen) < count:
                raise ValueError(f"only {len(chosen)} clean {resolved.name} to change, {count} asked for")
            for slot in chosen:
                writer.update(slot, values, source, enforce_rules=False)
            return [str(store.id_of(slot)) for slot in chosen]

    # --- associations -------------------------------------------------------------------------------------
    def associate(
        self, from_type: str, from_id: str | int, to_type: str, to_id: str | int, type_ids: Iterable[int] | None = None
    ) -> None:
        """Link two records in both directions (kinds: contacts-companies, companies-deals).

        ``type_ids`` are those of the from->to direction, unlabeled by default. Including the primary type id
        (1 contact->company, 2 company->contact, 5 deal->company, 6 company->deal) makes the link primary and
        demotes the contact's (or deal's) previous primary company to unlabeled.
        """
        with self._lock:
            source, target = object_type(from_type), object_type(to_type)
            from_key, to_key = _record_id(from_id), _record_id(to_id)
            self._live_slot(source, from_key)
            self._live_slot(target, to_key)
            kind = association_kind(source.name, target.name)
            if kind is None:
                raise validation_error(f"The sandbox has no associations between {source.name} and {target.name}")
            direction = kind.direction(source.name)
            wanted = set(type_ids) if type_ids is not None else {direction.unlabeled}
            unknown = wanted - {direction.primary, direction.unlabeled}
            if unknown:
                raise validation_error(
                    f"Association type ids {sorted(unknown)} are not valid from {source.name} to {target.name}"
                )
            self._state.graph.link(source.name, from_key, target.name, to_key, primary=direction.primary in wanted)

    def dissociate(self, from_type: str, from_id: str | int, to_type: str, to_id: str | int) -> bool:
        with self._lock:
            return self._state.graph.unlink(
                object_type(from_type).name, _record_id(from_id), object_type(to_type).name, _record_id(to_id)
            )

    def associations(self, object_type_name: str, record_id: str | int, to_type: str) -> list[AssociatedRecord]:
        """Links of a record to live records of ``to_type``, by id, with the type ids HubSpot returns."""
        with self._lock:
            return self._associated(object_type(object_type_name), _record_id(record_id), object_type(to_type))

    def _associated(self, source: ObjectType, from_id: int, target: ObjectType) -> list[AssociatedRecord]:
        kind = association_kind(source.name, target.name)
        if kind is None:
            return []
        direction = kind.direction(source.name)
        target_store = self._state.store(target)
        return [
            AssociatedRecord(str(link.to_id), direction.type_ids(primary=link.primary))
            for link in self._state.graph.links(source.name, from_id, target.name)
            if target_store.slot_of(link.to_id) is not None
        ]

    def association_pages(
        self, from_type: str, to_type: str, inputs: Sequence[tuple[str, str | None]], page_size: int
    ) -> list[AssociationPage | None]:
        """Per input (id, after-cursor): a page of its associations, or None if it has none (or doesn't exist)."""
        with self._lock:
            source, target = object_type(from_type), object_type(to_type)
            store = self._state.store(source)
            pages: list[AssociationPage | None] = []
            for record_id, after in inputs:
                slot = store.slot_of(record_id)
                links = [] if slot is None else self._associated(source, store.id_of(slot), target)
                offset = _cursor(after)
                if offset >= len(links):
                    pages.append(None)
                    continue
                end = offset + page_size
                pages.append(AssociationPage(record_id, links[offset:end], str(end) if end < len(links) else None))
            return pages

    # --- records: API-facing ------------------------------------------------------------------------------
    def read_records(
        self,
        object_type_name: str,
        ids: Sequence[str],
        properties: Sequence[str] | None,
        history_properties: Sequence[str] | None = None,
        *,
        archived: bool = False,
    ) -> tuple[list[RecordData], list[str]]:
        """Records in input order (duplicates once) and the ids that don't exist (or aren't in that state)."""
        with self._lock:
            resolved = object_type(object_type_name)
            store = self._state.store(resolved)
            reader = RecordReader(self._state, resolved)
            names = response_property_names(resolved, properties)
            history_names = history_property_names(resolved, history_properties)
            found: list[RecordData] = []
            missing: list[str] = []
            for record_id in dict.fromkeys(ids):
                slot = store.slot_of(record_id, include_archived=archived)
                if slot is None or (archived and slot not in store.archived_ms):
                    missing.append(record_id)
                else:
                    found.append(reader.read(slot, names, history_names))
            return found, missing

    def list_records(
        self,
        object_type_name: str,
        *,
        limit: int,
        after: str | None,
        properties: Sequence[str] | None,
        history_properties: Sequence[str] | None = None,
        archived: bool = False,
    ) -> tuple[list[RecordData], str | None]:
        """A page of records in id order; the cursor is the next id to return."""
        with self._lock:
            resolved = object_type(object_type_name)
            store = self._state.store(resolved)
            reader = RecordReader(self._state, resolved)
            names = response_property_names(resolved, properties)
            history_names = history_property_names(resolved, history_properties)
            slot = max(_cursor(after) - store.first_id, 0) if after else 0
            page: list[RecordData] = []
            while slot < len(store) and len(page) < limit:
                if (slot in store.archived_ms) == archived:
                    page.append(reader.read(slot, names, history_names))
                slot += 1
            following = next((s for s in range(slot, len(store)) if (s in store.archived_ms) == archived), None)
            return page, (None if following is None else str(store.id_of(following)))

    def create_records(
        self,
        object_type_name: str,
        inputs: Sequence[Mapping[str, object]],
        source: ChangeSource = API_SOURCE,
        *,
        check_rules: bool = True,
    ) -> tuple[list[RecordData], WriteOutcome]:
        """Validate every input (``check_rules``: against the validation rules too), then create them all (with
        their ``associations``); one bad input: none."""
        with self._lock:
            resolved = object_type(object_type_name)
            writer = self._writer(resolved)
            prepared = [(wire_values(item.get("properties")), _association_inputs(resolved, item)) for item in inputs]
            problems = [
                problem for values, _ in prepared for problem in writer.problems(None, values, check_rules=check_rules)
            ]
            if problems:
                raise invalid_properties(problems)
            for _, links in prepared:
                for target_type, target_id, type_ids in links:
                    self._check_association(resolved, object_type(target_type), target_id, type_ids)
            reader = RecordReader(self._state, resolved)
            outcome = WriteOutcome()
            created: list[RecordData] = []
            for values, links in prepared:
                slot = writer.create(values, source)
                outcome.changed += sum(value is not None for value in values.values())
                record_id = str(self._state.store(resolved).id_of(slot))
                for target_type, target_id, type_ids in links:
                    self.associate(resolved.name, record_id, target_type, target_id, type_ids)
                names = response_property_names(resolved, [*values, *resolved.always_properties])
                created.append(reader.read(slot, names))
            return created, outcome

    def update_records(
        self,
        object_type_name: str,
        updates: Sequence[tuple[str, Mapping[str, object]]],
        source: ChangeSource = API_SOURCE,
        *,
        check_rules: bool = True,
    ) -> BatchUpdateResult:
        """Validate every input (``check_rules``: against the validation rules too), then apply them; one bad input:
        none. Ids that don't exist are reported, not fatal."""
        with self._lock:
            resolved = object_type(object_type_name)
            store = self._state.store(resolved)
            writer = self._writer(resolved)
            prepared: list[tuple[int, dict[str, str | None]]] = []
            missing: list[str] = []
            problems = []
            for record_id, properties in updates:
                values = wire_values(properties)
                slot = store.slot_of(record_id)
                if slot is None:
                    missing.append(record_id)  # reported in the 207; its values have no record to be checked against
                    continue
                problems.extend(writer.problems(slot, values, check_rules=check_rules))
                prepared.append((slot, values))
            if problems:
                raise invalid_properties(problems)
            reader = RecordReader(self._state, resolved)
            outcome = WriteOutcome()
            records: list[RecordData] = []
            for slot, values in prepared:
                outcome.add(writer.update(slot, values, source))
                names = response_property_names(resolved, [*values, *resolved.always_properties])
                records.append(reader.read(slot, names))
            return BatchUpdateResult(records, missing, outcome)

    def archive_records(self, object_type_name: str, ids: Iterable[str]) -> int:
        with self._lock:
            return sum(self.archive(object_type_name, record_id) for record_id in ids)

    def search(self, object_type_name: str, query: SearchQuery) -> tuple[SearchPage, list[RecordData]]:
        with self._lock:
            resolved = object_type(object_type_name)
            store, index = self._state.store(resolved), self._state.index(resolved)
            index.mature(self._now())
            view = SearchView(resolved, store, index, self._state.history[resolved.name])
            page = execute_search(query, view)
            reader = RecordReader(self._state, resolved, values=view.value)
            names = response_property_names(resolved, query.properties)
            return page, [reader.read(record_id - store.first_id, names) for record_id in page.ids]

    # --- flows and the workflow engine --------------------------------------------------------------------
    def create_flow(self, body: object) -> JsonObject:
        with self._lock:
            return self._state.flows.create(validate_create_request(body), self._now()).as_api_flow()

    def replace_flow(self, flow_id: str, body: object) -> JsonObject:
        with self._lock:
            return self._state.flows.replace(flow_id, body, self._now()).as_api_flow()

    def delete_flow(self, flow_id: str) -> None:
        with self._lock:
            self._state.flows.delete(flow_id)

    def flow(self, flow_id: str) -> JsonObject | None:
        with self._lock:
            stored = self._state.flows.get(flow_id)
            return None if stored is None else stored.as_api_flow()

    def flows(self) -> list[JsonObject]:
        """Every flow as ``ApiFlow``, in creation order."""
        with self._lock:
            return [flow.as_api_flow() for flow in self._state.flows]

    def flow_listings(self) -> list[JsonObject]:
        with self._lock:
            return [flow.as_listing() for flow in self._state.flows]

    def run_due_workflow_actions(self) -> list[WorkflowActionResult]:
        """Apply every workflow action whose delay has passed; returns what ran."""
        with self._lock:
            now = self._now()
            results: list[WorkflowActionResult] = []
            for enrollment in self._state.workflows.pop_due(now):
                flow = self._state.flows.get(enrollment.flow_id)
                rule = stage_default_rule(flow) if flow is not None else None
                resolved = OBJECT_TYPES[enrollment.object_type]
                slot = self._state.store(resolved).slot_of(enrollment.record_id)
                if rule is None or slot is None or rule.object_type_id != resolved.type_id:
                    continue
                writer = RecordWriter(self._state, resolved, now, self._workflow_delay_ms)
                values = {LIFECYCLESTAGE: rule.value}
                if writer.problems(slot, values, check_rules=False):
                    continue  # e.g. the stage was deleted since the flow was saved: HubSpot's action would fail
                outcome = writer.update(slot, values, automation_source(enrollment.flow_id))
                results.append(
                    WorkflowActionResult(enrollment.flow_id, resolved.name, str(enrollment.record_id), outcome)
                )
            return results

    # --- snapshots and dumps ------------------------------------------------------------------------------
    def snapshot(self) -> PortalSnapshot:
        with self._lock:
            return PortalSnapshot(self._state.clone())

    def restore(self, snapshot: PortalSnapshot) -> None:
        with self._lock:
            self._state = snapshot._state.clone()

    def dump(self, object_types: Sequence[str] | None = None, *, limit: int | None = None) -> JsonObject:
        """JSON-ready state: records (all valued properties), associations, flows, stage options, validation
        rules, pipelines."""
        names = [object_type(name).name for name in (object_types or OBJECT_TYPES)]
        records: dict[str, list[JsonObject]] = {}
        for name in names:
            records[name] = []
            for record_id, values in self.records(name):
                if limit is not None and len(records[name]) >= limit:
                    break
                records[name].append({"id": record_id, "properties": values})
        with self._lock:
            associations = [
                {
                    "fromObjectType": kind.left,
                    "fromId": record["id"],
                    "toObjectType": kind.right,
                    "toId": link.to_id,
                    "typeIds": list(link.type_ids),
                }
                for kind in ASSOCIATION_KINDS
                if kind.left in records
                for record in records[kind.left]
                for link in self._associated(OBJECT_TYPES[kind.left], int(record["id"]), OBJECT_TYPES[kind.right])
            ]
            return {
                "records": records,
                "associations": associations,
                "flows": [flow.as_api_flow() for flow in self._state.flows],
                "lifecycleStages": {name: list(stages.values) for name, stages in self._state.lifecycle.items()},
                "validationRules": [rule.as_json() for rule in self._state.validation_rules],
                "dealPipelines": {pipeline.id: list(pipeline.stage_ids) for pipeline in self.deal_pipelines()},
            }

    # --- helpers ------------------------------------------------------------------------------------------
    def _live_slot(self, resolved: ObjectType, record_id: str | int) -> int:
        slot = self._state.store(resolved).slot_of(record_id)
        if slot is None:
            raise not_found("Object not found.  objectId are usually numeric.", context={"id": [str(record_id)]})
        return slot

    def _check_association(
        self, source: ObjectType, target: ObjectType, target_id: str, type_ids: Sequence[int]
    ) -> None:
        kind = association_kind(source.name, target.name)
        if kind is None or not set(type_ids) <= {
            kind.direction(source.name).primary,
            kind.direction(source.name).unlabeled,
        }:
            raise validation_error(
                f"Association types {list(type_ids)} are not valid from {source.name} to {target.name}"
            )
        self._live_slot(target, target_id)


def _lifecycle_type(name: str) -> ObjectType:
    resolved = object_type(name)
    if not resolved.has_lifecycle:
        raise ValueError(f"{resolved.name} have no lifecycle stage")
    return resolved


def _check_dirty_request(count: int, stage: str | None, *, blank: str | None) -> None:
    """Dirty records are the ground truth's kind: no stage (asked for as ``blank``) or a disallowed one."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if stage != blank and stage not in DISALLOWED_STAGES:
        raise ValueError(f"stage must be {blank!r} or one of {list(DISALLOWED_STAGES)}, got {stage!r}")


def _placeholder_values(resolved: ObjectType, record_id: int) -> dict[str, str]:
    """What an added record is known by (contacts by email, companies by name)."""
    if resolved.name == "contacts":
        return {"email": f"added-{record_id}@example.com"}
    return {"name": f"Added company {record_id}", "domain": f"added-{record_id}.example.com"}


def _cursor(after: str | None) -> int:
    if after is None or after == "":
        return 0
    try:
        value = int(after)
    except ValueError:
        raise validation_error(f"Invalid after cursor {after!r}") from None
    if value < 0:
        raise validation_error(f"Invalid after cursor {after!r}")
    return value


def _all_values(reader: RecordReader, store: RecordStore, slot: int) -> dict[str, str]:
    stored = store.stored_values(slot)
    computed = reader.read(slot, [name for name in reader.object_type.properties if name not in stored]).properties
    return {**stored, **{name: value for name, value in computed.items() if value is not None}}


def _association_inputs(source: ObjectType, item: Mapping[str, object]) -> list[tuple[str, str, list[int]]]:
    """``associations`` of a create input: [{to: {id}, types: [{associationCategory, associationTypeId}]}].

    HubSpot's input names no target type; the type ids say it (they are unique per direction).
    """
    raw = item.get("associations") or []
    if not isinstance(raw, list):
        raise validation_error("associations must be a list")
    parsed: list[tuple[str, str, list[int]]] = []
    for entry in raw:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("to"), Mapping):
            raise validation_error("Each association needs to.id and types")
        types = entry.get("types") or []
        type_ids = [int(spec["associationTypeId"]) for spec in types if isinstance(spec, Mapping)]
        parsed.append((_target_type_for(source, type_ids), str(entry["to"].get("id")), type_ids))
    return parsed


def _target_type_for(source: ObjectType, type_ids: Sequence[int]) -> str:
    for kind in ASSOCIATION_KINDS:
        if source.name in (kind.left, kind.right):
            direction = kind.direction(source.name)
            if type_ids and set(type_ids) <= {direction.primary, direction.unlabeled}:
                return kind.right if source.name == kind.left else kind.left
    raise validation_error(f"Association type ids {list(type_ids)} are not valid from {source.name}")
