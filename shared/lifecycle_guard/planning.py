"""Planning: find every record that needs a stage, gather its context in bulk, and decide its target.

Companies are planned before contacts so that a contact's context is its primary company's stage as it will be
after this run. Records are found with keyset search (only the dirty ones: missing or at a disallowed stage), and
context is read in bulk: association batch reads of up to 1000 records, batch reads of companies and deals of up
to 100, cached for the run. Each planned change carries the source of its bad value (``sources``), from the
record's stage history, batch-read 50 records a request, and its record source, which comes with the search. The
plan is data (``PlannedChange``) cut into fix jobs; dry-run reports it, apply executes it.

Planning is resumable: ``Planner.plan`` stops at a deadline and returns a ``PlanCursor`` (object type, last id,
job sequence) from which the next call continues, so a million-record portal never needs one Lambda over 15 min;
the changes decided but not yet cut into a job stay in the sink (``JobSink.pending``) for the caller to keep. After
every bulk decision the planner reports its cursor (``on_progress``): all records up to it are decided, and the
jobs numbered below its ``next_job`` are stored, so the caller can hand them to the fix workers while planning
goes on (``steps.plan``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field

from pydantic import ConfigDict

from lifecycle_guard.config import GuardConfig
from lifecycle_guard.crm import ASSOCIATION_BATCH_SIZE, Association, Crm, iter_pages
from lifecycle_guard.filters import StageFilter
from lifecycle_guard.jobs import JobCursor, JobSink, PlannedChange
from lifecycle_guard.objects import LIFECYCLE_STAGE, ObjectType, Record
from lifecycle_guard.prefetch import prefetched
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
from lifecycle_guard.sources import RECORD_SOURCE_PROPERTIES, record_creator, source_of_value

PRIMARY_COMPANY_TYPE_ID = 1  # HUBSPOT_DEFINED contact -> company "Primary"
# Records whose target needs context, gathered before the context is read: ten association reads' worth, so the
# bulk reads (associations at 1000, companies and deals at 100) are full but for the last one of each gathering.
CONTEXT_BUFFER = 10 * ASSOCIATION_BATCH_SIZE
# ... but the first gathering of each object type is one association read's worth, then twice the last, up to
# CONTEXT_BUFFER: the first jobs reach the workers after seconds of search, not after fifty pages of it.
FIRST_CONTEXT_BUFFER = ASSOCIATION_BATCH_SIZE
# Records of any kind held at most: a portal whose dirty records need no context is decided in chunks of this size.
RECORD_BUFFER = 50_000
DEAL_PROPERTIES = ("hs_is_closed_won", "hs_is_closed")
# Search pages fetched ahead while records are decided: one context buffer's worth.
PREFETCH_PAGES = CONTEXT_BUFFER // 200


class PlanCursor(JobCursor):
    """Where planning stands; small enough to travel in the state machine's payload."""

    model_config = ConfigDict(frozen=True)

    object_type: ObjectType = ObjectType.COMPANIES
    after_id: int = 0


def primary_companies(links: Mapping[str, Mapping[str, Association]]) -> dict[str, str]:
    """Each contact's primary company (association type 1). Unlabeled links (279) never count: a contact linked
    to several companies, or only through unlabeled links, has no company to take a stage from but its primary."""
    return {
        contact_id: company_id
        for contact_id, companies in links.items()
        for company_id, link in companies.items()
        if PRIMARY_COMPANY_TYPE_ID in link.type_ids
    }


def dirty_filter(config: GuardConfig, object_type: ObjectType) -> StageFilter:
    """Records missing a stage OR at a disallowed one."""
    return StageFilter.missing_or_at(config.disallowed(object_type))


@dataclass
class ContextCache:
    """Context read during one planning invocation; company targets planned earlier in the run come in whole."""

    planned_company_stages: dict[str, str] = field(default_factory=dict)
    company_stages: dict[str, str] = field(default_factory=dict)
    deal_states: dict[str, DealState] = field(default_factory=dict)

    @classmethod
    def planned_before(cls, changes: Iterable[PlannedChange]) -> ContextCache:
        """A cache holding the company targets among ``changes`` (what earlier invocations planned: stored jobs and
        the changes they left pending)."""
        return cls(
            planned_company_stages={
                change.object_id: change.target for change in changes if change.object_type is ObjectType.COMPANIES
            }
        )


class Planner:
    def __init__(
        self,
        crm: Crm,
        config: GuardConfig,
        sink: JobSink,
        cache: ContextCache,
        clock: Callable[[], float] = time.monotonic,
        on_progress: Callable[[PlanCursor], None] = lambda _cursor: None,
        search_crm: Crm | None = None,
    ) -> None:
        """``search_crm``: a second connection for the searches, which then run ahead on a thread of their own
        (``prefetch``) while ``crm`` reads the context of the records found."""
        self._crm = crm
        self._search_crm = search_crm
        self._config = config
        self._sink = sink
        self._cache = cache
        self._clock = clock
        self._on_progress = on_progress

    def plan(self, cursor: PlanCursor, deadline: float) -> PlanCursor:
        """Plan from ``cursor`` until everything is planned or ``deadline`` (a ``clock()`` value) passes."""
        object_type, after_id = cursor.object_type, cursor.after_id
        while True:
            after_id, finished = self._plan_object(object_type, after_id, deadline)
            if not finished:
                return self._cursor(object_type, after_id)
            if object_type is ObjectType.COMPANIES:
                # Every company is decided before the first contact: cut the companies' last jobs now, so the
                # contacts' planned company stages are all in stored jobs.
                self._sink.flush()
                object_type, after_id = ObjectType.CONTACTS, 0
                self._on_progress(self._cursor(object_type, after_id))
                continue
            self._sink.flush()
            return self._cursor(object_type, after_id, done=True)

    def _cursor(self, object_type: ObjectType, after_id: int, *, done: bool = False) -> PlanCursor:
        return PlanCursor(object_type=object_type, after_id=after_id, next_job=self._sink.next_job, done=done)

    def _decide(self, object_type: ObjectType, records: list[Record]) -> int:
        after_id = self._decide_all(object_type, records)
        self._on_progress(self._cursor(object_type, after_id))
        return after_id

    def _plan_object(self, object_type: ObjectType, after_id: int, deadline: float) -> tuple[int, bool]:
        # The record source comes with the search at no extra request: it names the creator of a record that never
        # had a stage, which its history cannot (there is none).
        properties = [LIFECYCLE_STAGE, *object_type.display_properties, *RECORD_SOURCE_PROPERTIES]
        where = dirty_filter(self._config, object_type)
        if self._search_crm is None:
            found = iter_pages(self._crm, object_type, where, properties, after_id)
        else:
            found = prefetched(iter_pages(self._search_crm, object_type, where, properties, after_id), PREFETCH_PAGES)
        with closing(found) as pages:
            return self._gather_and_decide(object_type, pages, after_id, deadline)

    def _gather_and_decide(
        self, object_type: ObjectType, pages: Iterable[list[Record]], after_id: int, deadline: float
    ) -> tuple[int, bool]:
        buffer: list[Record] = []
        needing: list[int] = []  # positions in the buffer of records whose target needs context
        disallowed = self._config.disallowed(object_type)
        context_triggers = self._context_triggers(object_type)
        gather = FIRST_CONTEXT_BUFFER
        for page in pages:
            needing += [
                len(buffer) + i
                for i, record in enumerate(page)
                if trigger_of(record.stage, disallowed) in context_triggers
            ]
            buffer.extend(page)
            if len(needing) >= gather:
                # Decide exactly ``gather`` records needing context (whole bulk reads); the rest waits.
                split = needing[gather - 1] + 1
                after_id = self._decide(object_type, buffer[:split])
                buffer, needing = buffer[split:], [i - split for i in needing[gather:]]
                gather = min(CONTEXT_BUFFER, 2 * gather)
            elif len(buffer) >= RECORD_BUFFER:
                after_id = self._decide(object_type, buffer)
                buffer, needing = [], []
            if self._clock() >= deadline:
                # Decide what was gathered, even with part-filled bulk reads: every invocation makes progress.
                if buffer:
                    after_id = self._decide(object_type, buffer)
                return after_id, False
        if buffer:
            after_id = self._decide(object_type, buffer)
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
        # The root cause of every planned change: its records' stage histories, 50 a request (HubSpot's limit).
        histories = self._crm.stage_history(object_type.value, [record.id for record, _ in triggered])
        for (record, _), decision in zip(triggered, decisions, strict=True):
            source = source_of_value(record.stage, histories.get(record.id, []), record_creator(record.properties))
            change = PlannedChange(
                object_type, record.id, record.stage, decision.target, decision.rule, record.label(object_type), source
            )
            self._sink.add(change)
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
        links = self._crm.associations("companies", "deals", company_ids)
        deal_ids = {deal_id for deals in links.values() for deal_id in deals}
        unknown = sorted(deal_ids - self._cache.deal_states.keys(), key=int)
        for deal in self._crm.read("deals", unknown, DEAL_PROPERTIES).values():
            self._cache.deal_states[deal.id] = DealState.from_properties(deal.properties)
        return {
            company_id: [self._cache.deal_states[deal_id] for deal_id in deals if deal_id in self._cache.deal_states]
            for company_id, deals in links.items()
        }

    def _primary_company_stages(self, contact_ids: Sequence[str]) -> dict[str, str]:
        """Each contact's primary company's stage as it will be after this run (planned target, else current)."""
        if not contact_ids:
            return {}
        primary = primary_companies(self._crm.associations("contacts", "companies", contact_ids))
        planned, known = self._cache.planned_company_stages, self._cache.company_stages
        unknown = sorted({c for c in primary.values() if c not in planned and c not in known}, key=int)
        for company in self._crm.read("companies", unknown, [LIFECYCLE_STAGE]).values():
            known[company.id] = company.stage
        stages: dict[str, str] = {}
        for contact_id, company_id in primary.items():
            stage = planned.get(company_id, known.get(company_id))
            if stage is not None:
                stages[contact_id] = stage
        return stages
