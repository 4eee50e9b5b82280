"""Deterministic dirty portals of any size from a seed.

Contacts and companies get a mix of missing, disallowed (subscriber / other / evangelist), custom (numeric-id) and
normal stages, and a history saying which import, form, integration, workflow or user gave them that stage
(``origins``); contacts get a primary company, a primary plus extra unlabeled companies, only unlabeled links, or
none; companies get 0..n deals spread over the default and custom pipelines, closed-won / closed-lost / open. Company
popularity is skewed (weight ~ 1/sqrt(rank)), so at large sizes some companies have more than 500 contacts and
association paging is exercised. Same spec -> identical portal. Everything is drawn column-wise with
``random.choices`` (C speed) and loaded in bulk, so 1M contacts take seconds, not minutes.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from types import MappingProxyType

from hubspot_sandbox.associations import Link
from hubspot_sandbox.catalog import (
    COMPANIES,
    CONTACTS,
    DEALS,
    DEALSTAGE,
    HS_IS_CLOSED,
    HS_IS_CLOSED_WON,
    LIFECYCLESTAGE,
    PIPELINE,
    ObjectType,
)
from hubspot_sandbox.origins import GENERATED_SOURCES, GenerationManifest, Offender, assign_origins
from hubspot_sandbox.pipelines import DEFAULT_DEAL_PIPELINE, Pipeline, PipelineStage, closed_flags
from hubspot_sandbox.portal import Portal
from hubspot_sandbox.stages import DISALLOWED_STAGES, StageList, StageOption
from hubspot_sandbox.state import PortalState
from hubspot_sandbox.timefmt import iso_from_ms

DAY_MS = 86_400_000
START_MS = 1_609_459_200_000  # 2021-01-01T00:00:00Z: generated data never depends on the wall clock
SPAN_MS = 4 * 365 * DAY_MS

VALID_STAGE_WEIGHTS = {
    "lead": 0.35,
    "marketingqualifiedlead": 0.2,
    "salesqualifiedlead": 0.15,
    "opportunity": 0.15,
    "customer": 0.15,
}

FIRST_NAMES = (
    "Ada",
    "Ben",
    "Chloe",
    "Dmitri",
    "Elena",
    "Farah",
    "Gus",
    "Hana",
    "Ivan",
    "Jade",
    "Kofi",
    "Lena",
    "Mateo",
    "Nia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
    "Uma",
    "Victor",
    "Wen",
    "Yusuf",
)
LAST_NAMES = (
    "Adams",
    "Baker",
    "Chen",
    "Diaz",
    "Evans",
    "Fischer",
    "Garcia",
    "Hughes",
    "Ito",
    "Jensen",
    "Kim",
    "Lopez",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Patel",
    "Rossi",
    "Silva",
    "Tanaka",
    "Usman",
    "Weber",
    "Zhou",
)
COMPANY_WORDS = (
    "Acme",
    "Blue",
    "Cedar",
    "Delta",
    "Ember",
    "Falcon",
    "Granite",
    "Harbor",
    "Iris",
    "Juniper",
    "Kestrel",
    "Lumen",
    "Maple",
    "Nimbus",
    "Orbit",
    "Pine",
    "Quartz",
    "River",
    "Summit",
    "Tidal",
)
COMPANY_SUFFIXES = ("Labs", "Systems", "Partners", "Works", "Group", "Logistics", "Health", "Foods", "Media")


@dataclass(frozen=True, slots=True)
class StageMix:
    """Relative weights of stage categories (normalised; they need not sum to 1)."""

    missing: float = 0.12
    subscriber: float = 0.08
    other: float = 0.04
    evangelist: float = 0.03
    custom: float = 0.05  # spread evenly over the custom stages
    valid: float = 0.68  # lead .. customer, weighted towards lead


@dataclass(frozen=True, slots=True)
class CustomStage:
    value: str  # HubSpot gives custom stages numeric-string ids
    label: str
    after: str  # placed right behind this stage


@dataclass(frozen=True, slots=True)
class DealOutcomeMix:
    won: float = 0.25
    lost: float = 0.2
    open: float = 0.55


@dataclass(frozen=True, slots=True)
class CompanyLinkMix:
    primary_only: float = 0.6
    primary_and_unlabeled: float = 0.1  # plus one or two more companies, unlabeled
    unlabeled_only: float = 0.1  # one or two companies, none primary
    none: float = 0.2


@dataclass(frozen=True, slots=True)
class PortalSpec:
    contacts: int = 1000
    companies: int = 100
    seed: int = 0
    contact_stages: StageMix = StageMix()
    company_stages: StageMix = StageMix(
        missing=0.15, subscriber=0.05, other=0.05, evangelist=0.02, custom=0.03, valid=0.70
    )
    custom_stages: tuple[CustomStage, ...] = (
        CustomStage("52137490", "Product Qualified Lead", after="salesqualifiedlead"),
    )
    removed_stages: tuple[str, ...] = ()  # default stages deleted from the portal (e.g. "evangelist")
    deals_per_company: tuple[float, ...] = (0.3, 0.25, 0.2, 0.15, 0.1)  # weights of 0, 1, 2, ... deals
    custom_pipelines: int = 2  # besides "default"; numeric pipeline and stage ids
    default_pipeline_share: float = 0.5
    deal_outcomes: DealOutcomeMix = DealOutcomeMix()
    company_links: CompanyLinkMix = CompanyLinkMix()

    def __post_init__(self) -> None:
        if self.contacts < 0 or self.companies < 0:
            raise ValueError("record counts must be >= 0")


def _weights(mix: StageMix | DealOutcomeMix | CompanyLinkMix) -> list[float]:
    return [float(getattr(mix, item.name)) for item in fields(mix)]


@dataclass(slots=True)
class _Columns:
    created: list[int]
    updated: list[int]
    values: dict[str, Sequence[str | None]] = field(default_factory=dict)


def _timestamps(rng: random.Random, count: int) -> tuple[list[int], list[int]]:
    """Create dates increasing with the id over four years; last-modified up to 60 days later."""
    created = [START_MS + (index * SPAN_MS) // max(count, 1) for index in range(count)]
    offsets = rng.choices(range(0, 60 * DAY_MS, 3_600_000), k=count)
    return created, [stamp + offset for stamp, offset in zip(created, offsets, strict=True)]


def _stage_column(
    rng: random.Random, mix: StageMix, stages: StageList, custom: Sequence[str], count: int
) -> list[str | None]:
    population: list[str | None] = []
    weights: list[float] = []

    def add(values: Sequence[str | None], share: float, inner: Sequence[float] | None = None) -> None:
        present = [value for value in values if value is None or value in stages]
        if not present or share <= 0:
            return
        inner_weights = inner if inner is not None and len(present) == len(values) else [1.0] * len(present)
        total = sum(inner_weights)
        population.extend(present)
        weights.extend(share * weight / total for weight in inner_weights)

    add([None], mix.missing)
    for value in DISALLOWED_STAGES:
        add([value], getattr(mix, value))
    add(custom, mix.custom)
    add(list(VALID_STAGE_WEIGHTS), mix.valid, list(VALID_STAGE_WEIGHTS.values()))
    if not population:
        return [None] * count
    return rng.choices(population, weights=weights, k=count)


def _contacts(rng: random.Random, spec: PortalSpec, stages: StageList) -> _Columns:
    count = spec.contacts
    created, updated = _timestamps(rng, count)
    first = rng.choices(range(len(FIRST_NAMES)), k=count)
    last = rng.choices(range(len(LAST_NAMES)), k=count)
    lower_first = [name.lower() for name in FIRST_NAMES]
    lower_last = [name.lower() for name in LAST_NAMES]
    emails = [
        f"{lower_first[f]}.{lower_last[surname]}.{index}@example.com"
        for index, (f, surname) in enumerate(zip(first, last, strict=True))
    ]
    custom = [stage.value for stage in spec.custom_stages]
    return _Columns(
        created,
        updated,
        {
            "email": emails,
            "firstname": [FIRST_NAMES[index] for index in first],
            "lastname": [LAST_NAMES[index] for index in last],
            LIFECYCLESTAGE: _stage_column(rng, spec.contact_stages, stages, custom, count),
        },
    )


def _companies(rng: random.Random, spec: PortalSpec, stages: StageList) -> _Columns:
    count = spec.companies
    created, updated = _timestamps(rng, count)
    words = rng.choices(COMPANY_WORDS, k=count)
    suffixes = rng.choices(COMPANY_SUFFIXES, k=count)
    names = [f"{word} {suffix} {index}" for index, (word, suffix) in enumerate(zip(words, suffixes, strict=True))]
    custom = [stage.value for stage in spec.custom_stages]
    return _Columns(
        created,
        updated,
        {
            "name": names,
            "domain": [f"{name.replace(' ', '').lower()}.example.com" for name in names],
            LIFECYCLESTAGE: _stage_column(rng, spec.company_stages, stages, custom, count),
        },
    )


def _custom_pipelines(count: int) -> list[Pipeline]:
    pipelines = []
    for number in range(count):
        base = 750_000_000 + number * 1000
        open_stages = [("Discovery", 0.1), ("Proposal", 0.4), ("Negotiation", 0.7), ("Verbal Yes", 0.9)]
        stages = [
            PipelineStage(str(base + order + 1), label, order, probability, False)
            for order, (label, probability) in enumerate(open_stages)
        ]
        stages.append(PipelineStage(str(base + 10), "Won", len(stages), 1.0, True))
        stages.append(PipelineStage(str(base + 11), "Lost", len(stages), 0.0, True))
        pipelines.append(Pipeline(str(base), f"Pipeline {number + 2}", number + 1, tuple(stages)))
    return pipelines


def _company_picks(rng: random.Random, companies: int, count: int) -> list[int]:
    """``count`` company offsets, skewed: a company's weight falls with 1/sqrt of its (shuffled) rank."""
    ranks = list(range(companies))
    rng.shuffle(ranks)
    cumulative = list(itertools.accumulate((rank + 1) ** -0.5 for rank in ranks))
    return rng.choices(range(companies), cum_weights=cumulative, k=count)


def _contact_links(rng: random.Random, spec: PortalSpec) -> list[list[Link]]:
    if not spec.companies:
        return [[] for _ in range(spec.contacts)]
    kinds = rng.choices(range(4), weights=_weights(spec.company_links), k=spec.contacts)
    extras = rng.choices((1, 2), k=spec.contacts)
    picks = iter(_company_picks(rng, spec.companies, spec.contacts * 3))
    first_company = COMPANIES.first_id
    links: list[list[Link]] = []
    for kind, extra in zip(kinds, extras, strict=True):
        if kind == 3:  # no company
            links.append([])
            continue
        primary = kind in (0, 1)
        chosen = [next(picks)] if primary else []
        if kind != 0:
            chosen += [next(picks) for _ in range(extra)]
        unique = list(dict.fromkeys(chosen))
        links.append(
            [Link(first_company + company, primary and position == 0) for position, company in enumerate(unique)]
        )
    return links


def _deals(
    rng: random.Random, spec: PortalSpec, pipelines: list[Pipeline], company_names: Sequence[str | None]
) -> tuple[_Columns, list[list[Link]]]:
    per_company = rng.choices(range(len(spec.deals_per_company)), weights=spec.deals_per_company, k=spec.companies)
    owners = [company for company, deals in enumerate(per_company) for _ in range(deals)]
    count = len(owners)
    custom_share = (1 - spec.default_pipeline_share) / max(len(pipelines) - 1, 1)
    chosen = rng.choices(
        pipelines, weights=[spec.default_pipeline_share] + [custom_share] * (len(pipelines) - 1), k=count
    )
    outcomes = rng.choices(("won", "lost", "open"), weights=_weights(spec.deal_outcomes), k=count)
    open_picks = rng.choices(range(4), k=count)
    amounts = rng.choices(range(1_000, 200_000, 500), k=count)
    created, updated = _timestamps(rng, count)
    stages: list[PipelineStage] = []
    for pipeline, outcome, pick in zip(chosen, outcomes, open_picks, strict=True):
        if outcome == "open":
            open_stages = [stage for stage in pipeline.stages if not stage.is_closed]
            stages.append(open_stages[pick % len(open_stages)])
        else:
            stages.append(pipeline.first_stage_where(closed=True, won=outcome == "won"))
    flags = [closed_flags(stage) for stage in stages]
    columns = _Columns(
        created,
        updated,
        {
            "dealname": [f"{company_names[owner]} - deal {index}" for index, owner in enumerate(owners)],
            "amount": [str(amount) for amount in amounts],
            "closedate": [iso_from_ms(stamp + 45 * DAY_MS) for stamp in created],
            PIPELINE: [pipeline.id for pipeline in chosen],
            DEALSTAGE: [stage.id for stage in stages],
            HS_IS_CLOSED: [closed for closed, _ in flags],
            HS_IS_CLOSED_WON: [won for _, won in flags],
        },
    )
    links = [[Link(COMPANIES.first_id + owner, True)] for owner in owners]
    return columns, links


def _load(
    state: PortalState, object_type: ObjectType, columns: _Columns, origins: random.Random, custom: frozenset[str]
) -> tuple[Offender, ...]:
    """Store the records, index them, give them origins; returns their offenders."""
    state.store(object_type).bulk_append(columns.created, columns.updated, columns.values)
    ids = list(range(object_type.first_id, object_type.first_id + len(columns.created)))
    state.index(object_type).bulk_load(ids, columns.values)
    stages = columns.values.get(LIFECYCLESTAGE) or [None] * len(columns.created)
    return assign_origins(
        origins, state.history[object_type.name], object_type, stages, columns.created, columns.updated, custom
    )


def generate_portal(spec: PortalSpec | None = None) -> Portal:
    """A portal as described by ``spec`` (defaults: 1000 contacts, 100 companies, seed 0); its ``generation``
    manifest names the sources of its records and the offenders among them."""
    spec = spec or PortalSpec()
    rng = random.Random(spec.seed)  # noqa: S311 - reproducible test data, not crypto
    origins = random.Random(f"origins-{spec.seed}")  # noqa: S311 - its own stream: stages stay as they were
    custom_values = frozenset(stage.value for stage in spec.custom_stages)
    state = PortalState.empty()
    stages = StageList.default()
    for custom in spec.custom_stages:
        stages = stages.with_stage(StageOption(custom.value, custom.label, 0), after=custom.after)
    for removed in spec.removed_stages:
        stages = stages.without(removed)
    state.lifecycle = {CONTACTS.name: stages, COMPANIES.name: stages}
    pipelines = [DEFAULT_DEAL_PIPELINE, *_custom_pipelines(spec.custom_pipelines)]
    state.pipelines = {pipeline.id: pipeline for pipeline in pipelines}

    contacts = _contacts(rng, spec, stages)
    companies = _companies(rng, spec, stages)
    offenders = {
        CONTACTS.name: _load(state, CONTACTS, contacts, origins, custom_values),
        COMPANIES.name: _load(state, COMPANIES, companies, origins, custom_values),
    }
    state.graph.bulk_load(CONTACTS.name, COMPANIES.name, _contact_links(rng, spec), CONTACTS.first_id)
    deals, deal_links = _deals(rng, spec, pipelines, companies.values["name"])
    _load(state, DEALS, deals, origins, custom_values)
    state.graph.bulk_load(DEALS.name, COMPANIES.name, deal_links, DEALS.first_id)
    return Portal(state, generation=GenerationManifest(GENERATED_SOURCES, MappingProxyType(offenders)))
