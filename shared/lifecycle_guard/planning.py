"""Planning: find every record that needs a stage, gather its context in bulk, and decide its target.

Companies are planned before contacts so that a contact's context is its primary company's stage as it will be
after this run. Records are found with keyset search (only the dirty ones: missing or at a disallowed stage), and
context is read in bulk: association batch reads of up to 1000 records, batch reads of companies and deals of up
to 100, cached for the run. The plan is data (``PlannedChange``) cut into fix jobs; dry-run reports it, apply
executes it.

Planning is resumable: ``Planner.plan`` stops at a deadline and returns a ``PlanCursor`` (object type, last id,
job sequence) from which the next call continues, so a million-record portal never needs one Lambda over 15 min.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from lifecycle_guard.config import GuardConfig
from lifecycle_guard.gateway import (
    ASSOCIATION_BATCH_SIZE,
    Association,
    FilterGroups,
    HubSpotGateway,
    stage_in,
    stage_missing,
)
from lifecycle_guard.objects import LIFECYCLE_STAGE, ObjectType, Record
from lifecycle_guard.rules import (
    MISSING,
    DealState,
    Decision,
    company_target,
    contact_target,
    decide_company,
    decide_contact,
    needs_context,
    trigger_of,
)
from lifecycle_guard.stages import StageCatalog

PRIMARY_COMPANY_TYPE_ID = 1  # HUBSPOT_DEFINED contact -> company "Primary"
# Records whose target needs context, gathered before the context is read: ten association reads' worth, so the
# bulk reads (associations at 1000, companies and deals at 100) are full but for the last one of each gathering.
CONTEXT_BUFFER = 10 * ASSOCIATION_BATCH_SIZE
# Records of any kind held at most: a portal whose dirty records need no context is decided in chunks of this size.
RECORD_BUFFER = 50_000
DEAL_PROPERTIES = ("hs_is_closed_won", "hs_is_closed")
# The two kinds of move (in the plan, the report and job ids), and the kind of a job holding both.
FORWARD, BACKWARD, MIXED = "forward", "backward", "mixed"


@dataclass(frozen=True, slots=True)
class PlannedChange:
    object_type: ObjectType
    object_id: str
    before: str
    target: str
    rule: str

    def to_row(self) -> list[str]:
        return [self.object_id, self.before, self.target, self.rule]

    @classmethod
    def from_row(cls, object_type: ObjectType, row: Sequence[str]) -> PlannedChange:
        object_id, before, target, rule = row
        return cls(object_type, object_id, before, target, rule)


@dataclass(frozen=True)
class FixJob:
    """A unit of fan-out: up to ``fix.job_size`` changes of one object type (see ``JobSink``)."""

    run_id: str
    job_id: str
    object_type: ObjectType
    changes: list[PlannedChange]

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "run_id": self.run_id,
                "job_id": self.job_id,
                "object_type": self.object_type.value,
                "changes": [change.to_row() for change in self.changes],
            }
        ).encode()

    @classmethod
    def from_json(cls, body: bytes) -> FixJob:
        data = json.loads(body)
        object_type = ObjectType(data["object_type"])
        return cls(
            run_id=data["run_id"],
            job_id=data["job_id"],
            object_type=object_type,
            changes=[PlannedChange.from_row(object_type, row) for row in data["changes"]],
        )


class PlanCursor(BaseModel):
    """Where planning stands; small enough to travel in the state machine's payload."""

    model_config = ConfigDict(frozen=True)

    object_type: ObjectType = ObjectType.COMPANIES
    after_id: int = 0
    next_job: int = 0
    done: bool = False


def primary_companies(links: Mapping[str, Mapping[str, Association]]) -> dict[str, str]:
    """Each contact's primary company (association type 1). Unlabeled links (279) never count: a contact linked
    to several companies, or only through unlabeled links, has no company to take a stage from but its primary."""
    return {
        contact_id: company_id
        for contact_id, companies in links.items()
        for company_id, link in companies.items()
        if PRIMARY_COMPANY_TYPE_ID in link.type_ids
    }


def dirty_filter(config: GuardConfig, object_type: ObjectType) -> FilterGroups:
    """Records missing a stage OR at a disallowed one (two ORed filter groups)."""
    groups = [stage_missing()]
    disallowed = config.disallowed(object_type)
    if disallowed:
        groups.append(stage_in(disallowed))
    return groups


def move_kind(catalog: StageCatalog, change: PlannedChange) -> str:
    """ "backward" for a move HubSpot would ignore unless the stage is cleared first, else "forward"."""
    return BACKWARD if catalog.needs_clear_first(change.before, change.target) else FORWARD


class JobSink:
    """Where planned changes go: cut into jobs of one object type, then stored.

    Forward moves (one set each) and backward moves (a clear, then a set) go to separate jobs, so every write
    batch of a job is full. What is left when the sink is flushed are two remainders per object type, each
    shorter than a batch; where both fit in one batch they travel as one "mixed" job, whose single batch clears
    the backward moves in one call and sets all of them in another: one write and one read-back fewer than two
    part-filled batches.
    """

    def __init__(
        self,
        catalogs: Mapping[ObjectType, StageCatalog],
        job_size: int,
        batch_size: int,
        store_job: Callable[[str, ObjectType, list[PlannedChange]], None],
        next_job: int = 0,
    ) -> None:
        self._catalogs = catalogs
        self._job_size = job_size
        self._batch_size = batch_size
        self._store_job = store_job
        self._buffers: dict[tuple[ObjectType, str], list[PlannedChange]] = {}
        self.next_job = next_job
        self.counts: dict[str, int] = {}

    def add(self, change: PlannedChange) -> None:
        kind = move_kind(self._catalogs[change.object_type], change)
        key = f"{change.object_type.value}:{kind}:{change.rule}"
        self.counts[key] = self.counts.get(key, 0) + 1
        buffer = self._buffers.setdefault((change.object_type, kind), [])
        buffer.append(change)
        if len(buffer) >= self._job_size:
            self._write(change.object_type, kind, self._buffers.pop((change.object_type, kind)))

    def flush(self) -> None:
        for object_type in dict.fromkeys(object_type for object_type, _ in self._buffers):
            forward = self._buffers.pop((object_type, FORWARD), [])
            backward = self._buffers.pop((object_type, BACKWARD), [])
            forward_rest, backward_rest = len(forward) % self._batch_size, len(backward) % self._batch_size
            if forward_rest and backward_rest and forward_rest + backward_rest <= self._batch_size:
                mixed = forward[len(forward) - forward_rest :] + backward[len(backward) - backward_rest :]
                forward, backward = forward[: len(forward) - forward_rest], backward[: len(backward) - backward_rest]
            else:
                mixed = []
            self._write(object_type, FORWARD, forward)
            self._write(object_type, BACKWARD, backward)
            self._write(object_type, MIXED, mixed)

    def _write(self, object_type: ObjectType, kind: str, changes: list[PlannedChange]) -> None:
        if changes:
            job_id = f"{self.next_job:06d}-{object_type.value}-{kind}"
            self.next_job += 1
            self._store_job(job_id, object_type, changes)


@dataclass
class ContextCache:
    """Context read during one planning invocation; company targets planned earlier in the run come in whole."""

    planned_company_stages: dict[str, str] = field(default_factory=dict)
    company_stages: dict[str, str] = field(default_factory=dict)
    deal_states: dict[str, DealState] = field(default_factory=dict)


class Planner:
    def __init__(
        self,
        gateway: HubSpotGateway,
        config: GuardConfig,
        sink: JobSink,
        cache: ContextCache,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._gateway = gateway
        self._config = config
        self._sink = sink
        self._cache = cache
        self._clock = clock

    def plan(self, cursor: PlanCursor, deadline: float) -> PlanCursor:
        """Plan from ``cursor`` until everything is planned or ``deadline`` (a ``clock()`` value) passes."""
        object_type, after_id = cursor.object_type, cursor.after_id
        while True:
            after_id, finished = self._plan_object(object_type, after_id, deadline)
            if not finished:
                self._sink.flush()
                return PlanCursor(object_type=object_type, after_id=after_id, next_job=self._sink.next_job)
            if object_type is ObjectType.COMPANIES:
                object_type, after_id = ObjectType.CONTACTS, 0
                continue
            self._sink.flush()
            return PlanCursor(object_type=object_type, after_id=after_id, next_job=self._sink.next_job, done=True)

    def _plan_object(self, object_type: ObjectType, after_id: int, deadline: float) -> tuple[int, bool]:
        buffer: list[Record] = []
        needing: list[int] = []  # positions in the buffer of records whose target needs context
        disallowed = self._config.disallowed(object_type)
        context_triggers = self._context_triggers(object_type)
        pages = self._gateway.iter_pages(
            object_type, dirty_filter(self._config, object_type), [LIFECYCLE_STAGE], after_id
        )
        for page in pages:
            needing += [
                len(buffer) + i
                for i, record in enumerate(page)
                if trigger_of(record.stage, disallowed) in context_triggers
            ]
            buffer.extend(page)
            if len(needing) >= CONTEXT_BUFFER:
                # Decide exactly CONTEXT_BUFFER records needing context (whole bulk reads); the rest waits.
                split = needing[CONTEXT_BUFFER - 1] + 1
                after_id = self._decide_all(object_type, buffer[:split])
                buffer, needing = buffer[split:], [i - split for i in needing[CONTEXT_BUFFER:]]
            elif len(buffer) >= RECORD_BUFFER:
                after_id = self._decide_all(object_type, buffer)
                buffer, needing = [], []
            if self._clock() >= deadline:
                # Decide what was gathered, even with part-filled bulk reads: every invocation makes progress.
                if buffer:
                    after_id = self._decide_all(object_type, buffer)
                return after_id, False
        if buffer:
            after_id = self._decide_all(object_type, buffer)
        return after_id, True

    def _context_triggers(self, object_type: ObjectType) -> frozenset[str | None]:
        """The triggers whose target is decided from associated records (a primary company, or deals)."""
        rules = self._config.rules_for(object_type)
        targets = {MISSING: rules.missing, **rules.disallowed}
        return frozenset(trigger for trigger, target in targets.items() if needs_context(target))

    def _decide_all(self, object_type: ObjectType, records: list[Record]) -> int:
        disallowed = self._config.disallowed(object_type)
        triggered = [(record, trigger) for record in records if (trigger := trigger_of(record.stage, disallowed))]
        if object_type is ObjectType.COMPANIES:
            decisions = self._decide_companies(triggered)
        else:
            decisions = self._decide_contacts(triggered)
        for (record, _), decision in zip(triggered, decisions, strict=True):
            self._sink.add(PlannedChange(object_type, record.id, record.stage, decision.target, decision.rule))
        return int(records[-1].id)

    def _decide_companies(self, triggered: list[tuple[Record, str]]) -> list[Decision]:
        targets = [company_target(self._config, trigger) for _, trigger in triggered]
        deals = self._deals_of(
            [record.id for (record, _), target in zip(triggered, targets, strict=True) if needs_context(target)]
        )
        decisions = []
        for (record, trigger), target in zip(triggered, targets, strict=True):
            decision = decide_company(trigger, target, deals.get(record.id, ()))
            self._cache.planned_company_stages[record.id] = decision.target
            decisions.append(decision)
        return decisions

    def _decide_contacts(self, triggered: list[tuple[Record, str]]) -> list[Decision]:
        targets = [contact_target(self._config, trigger) for _, trigger in triggered]
        company_stage = self._primary_company_stages(
            [record.id for (record, _), target in zip(triggered, targets, strict=True) if needs_context(target)]
        )
        return [
            decide_contact(trigger, target, company_stage.get(record.id))
            for (record, trigger), target in zip(triggered, targets, strict=True)
        ]

    def _deals_of(self, company_ids: Sequence[str]) -> dict[str, list[DealState]]:
        if not company_ids:
            return {}
        links = self._gateway.associations("companies", "deals", company_ids)
        deal_ids = {deal_id for deals in links.values() for deal_id in deals}
        unknown = sorted(deal_ids - self._cache.deal_states.keys(), key=int)
        for deal in self._gateway.read("deals", unknown, DEAL_PROPERTIES).values():
            self._cache.deal_states[deal.id] = DealState.from_properties(deal.properties)
        return {
            company_id: [self._cache.deal_states[deal_id] for deal_id in deals if deal_id in self._cache.deal_states]
            for company_id, deals in links.items()
        }

    def _primary_company_stages(self, contact_ids: Sequence[str]) -> dict[str, str]:
        """Each contact's primary company's stage as it will be after this run (planned target, else current)."""
        if not contact_ids:
            return {}
        primary = primary_companies(self._gateway.associations("contacts", "companies", contact_ids))
        planned, known = self._cache.planned_company_stages, self._cache.company_stages
        unknown = sorted({c for c in primary.values() if c not in planned and c not in known}, key=int)
        for company in self._gateway.read("companies", unknown, [LIFECYCLE_STAGE]).values():
            known[company.id] = company.stage
        stages: dict[str, str] = {}
        for contact_id, company_id in primary.items():
            stage = planned.get(company_id, known.get(company_id))
            if stage is not None:
                stages[contact_id] = stage
        return stages


def planned_company_stages(jobs: Iterable[FixJob]) -> dict[str, str]:
    """Company targets from stored company jobs, for contact planning in a later invocation."""
    return {
        change.object_id: change.target
        for job in jobs
        for change in job.changes
        if job.object_type is ObjectType.COMPANIES
    }
