"""Where generated records come from: the named sources of a dirty portal and the stage story each record tells.

A generated portal's records were created by a few imports, two forms, two integrations, HubSpot's data migration
and three users; some stages were changed later by users, an integration and workflows. Every record gets an
:class:`~hubspot_sandbox.history.Origin` that fits its (already drawn) stage, so the newest entry of its
``lifecyclestage`` history explains the current value, a cleared record's history ends in the clear, and a record
never given a stage shows what created it in its record source (``hs_object_source*``).

The offenders, by design (shares of the dirty records of each kind):

* contacts without a stage: the LeadSync integration creates half of them, a purchased-list import a fifth, a
  re-nurture workflow and a sales user cleared the rest;
* companies without a stage: a target-accounts import and the LeadSync integration create them, a user cleared some;
* ``subscriber``: the newsletter form and the legacy-CRM imports; ``other``: two workflows (churned contacts,
  partner companies) and users; ``evangelist``: the customer-success user.

Clean records come from the contact-us form, the webinar import, the migration and the sales users; the custom
stages are set by the product-usage integration. :meth:`GenerationManifest.offenders` counts, per object type,
how many records each source left dirty — the ground truth a root-cause report must reproduce.

Ids are fixed, in HubSpot's shapes (numeric import, app and workflow ids, form guids, ``userId:<id>``); names are
what an admin sees in HubSpot. Origins are drawn from their own random stream, so adding them changed no stage,
name or link of any seed's portal.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from hubspot_sandbox.catalog import ObjectType, object_type
from hubspot_sandbox.history import (
    ChangeSource,
    Origin,
    PropertyHistory,
    StageStep,
    StepTime,
    automation_source,
    user_source,
)
from hubspot_sandbox.stages import DISALLOWED_STAGES


class NamedSource(NamedTuple):
    source: ChangeSource  # as property history reports it
    name: str  # what an admin sees in HubSpot: the import's, form's, app's, workflow's or user's name


def _import(import_id: str, name: str) -> NamedSource:
    return NamedSource(ChangeSource("IMPORT", import_id, name), name)


def _form(guid: str, name: str) -> NamedSource:
    return NamedSource(ChangeSource("FORM", guid, name), name)


WEBINAR_IMPORT = _import("31405501", "Webinar attendees 2022-09.csv")
LEGACY_CONTACT_IMPORT = _import("31405502", "Legacy CRM migration - contacts.csv")
PURCHASED_LIST_IMPORT = _import("31405503", "Purchased list 2023-04.csv")
LEGACY_COMPANY_IMPORT = _import("31405504", "Legacy CRM migration - companies.csv")
TARGET_ACCOUNTS_IMPORT = _import("31405505", "Target accounts 2024.csv")
NEWSLETTER_FORM = _form("5f3c0a52-8d1e-4d7b-9a43-2c6e1b7f9d10", "Newsletter signup")
CONTACT_US_FORM = _form("a1d4e7b0-3c2f-4e8a-b5d6-9f0e1c2b3a47", "Contact us")
LEADSYNC_APP = NamedSource(ChangeSource("INTEGRATION", "2190533"), "LeadSync for Zoom Webinars")
PRODUCT_USAGE_APP = NamedSource(ChangeSource("INTEGRATION", "3081217"), "Product usage sync")
CHURN_WORKFLOW = NamedSource(automation_source("1487203390"), "Mark churned contacts as Other")
RENURTURE_WORKFLOW = NamedSource(automation_source("1487203391"), "Re-nurture: clear lifecycle stage")
PARTNER_WORKFLOW = NamedSource(automation_source("1487203392"), "Flag partner companies as Other")
MIGRATION = NamedSource(ChangeSource("MIGRATION"), "HubSpot data migration")
SALES_USER = NamedSource(user_source(48211001), "Sam Ortiz (Sales)")
SECOND_SALES_USER = NamedSource(user_source(48211002), "Priya Nair (Sales)")
SUCCESS_USER = NamedSource(user_source(48211003), "Dana Brooks (Customer Success)")

GENERATED_SOURCES: tuple[NamedSource, ...] = (
    WEBINAR_IMPORT,
    LEGACY_CONTACT_IMPORT,
    PURCHASED_LIST_IMPORT,
    LEGACY_COMPANY_IMPORT,
    TARGET_ACCOUNTS_IMPORT,
    NEWSLETTER_FORM,
    CONTACT_US_FORM,
    LEADSYNC_APP,
    PRODUCT_USAGE_APP,
    CHURN_WORKFLOW,
    RENURTURE_WORKFLOW,
    PARTNER_WORKFLOW,
    MIGRATION,
    SALES_USER,
    SECOND_SALES_USER,
    SUCCESS_USER,
)
_NAMES = {named.source: named.name for named in GENERATED_SOURCES}

Stories = tuple[tuple[Origin, float], ...]  # the origins a record at some stage may have, with weights


def _origin(creator: NamedSource, *steps: tuple[str | None, NamedSource, StepTime]) -> Origin:
    return Origin(creator.source, creator.name, tuple(StageStep(value, by.source, at) for value, by, at in steps))


def _set_later(creator: NamedSource, by: NamedSource) -> Origin:
    """Created as a lead; ``by`` set today's stage at the last change."""
    return _origin(creator, ("lead", creator, StepTime.CREATED), (None, by, StepTime.LAST_CHANGE))


def _cleared(creator: NamedSource, by: NamedSource) -> Origin:
    """Created as a lead; ``by`` cleared the stage at the last change."""
    return _origin(creator, ("lead", creator, StepTime.CREATED), ("", by, StepTime.LAST_CHANGE))


def _after_customer(seller: NamedSource, by: NamedSource) -> Origin:
    """A seller's lead, won as a customer; ``by`` set today's stage afterwards."""
    return _origin(
        seller,
        ("lead", seller, StepTime.CREATED),
        ("customer", seller, StepTime.BETWEEN),
        (None, by, StepTime.LAST_CHANGE),
    )


def _moved_on(creators: tuple[NamedSource, NamedSource]) -> Stories:
    """Leads from either creator that either sales user moved to today's (clean) stage."""
    return tuple(
        (_set_later(creator, seller), 0.25) for creator in creators for seller in (SALES_USER, SECOND_SALES_USER)
    )


# Per object type, the stories of a record by what its stage is: blank, a disallowed stage, a custom stage,
# lead, or a later default stage.
BLANK, CUSTOM, LATER = "blank", "custom", "later"
_STORIES: Mapping[str, Mapping[str, Stories]] = {
    "contacts": {
        BLANK: (
            (_origin(LEADSYNC_APP), 0.5),
            (_origin(PURCHASED_LIST_IMPORT), 0.2),
            (_cleared(CONTACT_US_FORM, RENURTURE_WORKFLOW), 0.18),
            (_cleared(WEBINAR_IMPORT, SALES_USER), 0.12),
        ),
        "subscriber": ((_origin(NEWSLETTER_FORM), 0.65), (_origin(LEGACY_CONTACT_IMPORT), 0.35)),
        "other": (
            (_set_later(WEBINAR_IMPORT, CHURN_WORKFLOW), 0.5),
            (_set_later(CONTACT_US_FORM, CHURN_WORKFLOW), 0.3),
            (_set_later(CONTACT_US_FORM, SECOND_SALES_USER), 0.2),
        ),
        "evangelist": ((_after_customer(SALES_USER, SUCCESS_USER), 1.0),),
        CUSTOM: ((_set_later(CONTACT_US_FORM, PRODUCT_USAGE_APP), 1.0),),
        "lead": ((_origin(CONTACT_US_FORM), 0.4), (_origin(WEBINAR_IMPORT), 0.35), (_origin(MIGRATION), 0.25)),
        LATER: _moved_on((CONTACT_US_FORM, WEBINAR_IMPORT)),
    },
    "companies": {
        BLANK: (
            (_origin(TARGET_ACCOUNTS_IMPORT), 0.45),
            (_origin(LEADSYNC_APP), 0.35),
            (_cleared(LEGACY_COMPANY_IMPORT, SECOND_SALES_USER), 0.2),
        ),
        "subscriber": ((_origin(LEGACY_COMPANY_IMPORT), 1.0),),
        "other": (
            (_set_later(TARGET_ACCOUNTS_IMPORT, PARTNER_WORKFLOW), 0.75),
            (_set_later(SALES_USER, SUCCESS_USER), 0.25),
        ),
        "evangelist": ((_after_customer(SECOND_SALES_USER, SUCCESS_USER), 1.0),),
        CUSTOM: ((_set_later(TARGET_ACCOUNTS_IMPORT, PRODUCT_USAGE_APP), 1.0),),
        "lead": ((_origin(SALES_USER), 0.4), (_origin(TARGET_ACCOUNTS_IMPORT), 0.35), (_origin(MIGRATION), 0.25)),
        LATER: _moved_on((SALES_USER, TARGET_ACCOUNTS_IMPORT)),
    },
}
_DEAL_STORIES: Stories = ((_origin(SALES_USER), 0.5), (_origin(SECOND_SALES_USER), 0.5))


def _stories(kind: ObjectType, stage: str | None, is_custom: bool) -> Stories:
    by_stage = _STORIES.get(kind.name)
    if by_stage is None:
        return _DEAL_STORIES
    if stage is None:
        return by_stage[BLANK]
    if is_custom:
        return by_stage[CUSTOM]
    return by_stage.get(stage) or by_stage[LATER]


def responsible_source(origin: Origin) -> ChangeSource:
    """Who gave a record its stage: the last stage step, or its creator if none came after."""
    return origin.stage_steps[-1].source if origin.stage_steps else origin.created_by


@dataclass(frozen=True, slots=True)
class Offender:
    """A source and how many records of one object type it left dirty."""

    source: ChangeSource
    name: str
    missing: int  # records without a stage: it created them blank, or it made the last (clearing) change
    disallowed: int  # records at a disallowed stage it set

    @property
    def total(self) -> int:
        return self.missing + self.disallowed

    def as_json(self) -> dict[str, Any]:
        return {**self.source.as_wire(), "name": self.name, "missing": self.missing, "disallowed": self.disallowed}


def _ranked(missing: Counter[ChangeSource], disallowed: Counter[ChangeSource]) -> tuple[Offender, ...]:
    offenders = [
        Offender(source, _NAMES[source], missing[source], disallowed[source]) for source in {**missing, **disallowed}
    ]
    return tuple(
        sorted(offenders, key=lambda item: (-item.total, item.source.source_type, item.source.source_id or ""))
    )


def assign_origins(
    rng: random.Random,
    history: PropertyHistory,
    kind: ObjectType,
    stages: Sequence[str | None],
    created_ms: Sequence[int],
    updated_ms: Sequence[int],
    custom_stages: frozenset[str],
) -> tuple[Offender, ...]:
    """Give the records just loaded (one per ``stages`` entry) origins fitting their stages; their last stage step
    happened at their last-modified date. Returns the offenders, worst first (none for types without a stage)."""
    by_stage: dict[str | None, list[int]] = {}
    for slot, stage in enumerate(stages):
        by_stage.setdefault(stage, []).append(slot)
    origin_of = [0] * len(stages)
    missing: Counter[ChangeSource] = Counter()
    disallowed: Counter[ChangeSource] = Counter()
    for stage, slots in by_stage.items():  # first-seen order: deterministic for a given stage column
        stories = _stories(kind, stage, stage in custom_stages)
        ids = [history.intern(origin) for origin, _ in stories]
        origin_of_id = {origin_id: origin for origin_id, (origin, _) in zip(ids, stories, strict=True)}
        picks = rng.choices(ids, weights=[weight for _, weight in stories], k=len(slots))
        for slot, pick in zip(slots, picks, strict=True):
            origin_of[slot] = pick
        if kind.has_lifecycle and (stage is None or stage in DISALLOWED_STAGES):
            tally = missing if stage is None else disallowed
            for pick, count in Counter(picks).items():
                tally[responsible_source(origin_of_id[pick])] += count
    history.bulk_created(
        origin_of, [(updated - created) // 1000 for created, updated in zip(created_ms, updated_ms, strict=True)]
    )
    return _ranked(missing, disallowed) if kind.has_lifecycle else ()


@dataclass(frozen=True, slots=True)
class GenerationManifest:
    """What the generator made a portal from: its named sources and, per object type with a lifecycle stage, the
    offenders at generation time (records created or changed later are not counted)."""

    sources: tuple[NamedSource, ...]
    offenders_by_type: Mapping[str, tuple[Offender, ...]]

    def offenders(self, object_type_name: str) -> tuple[Offender, ...]:
        """Sources that left records of this type dirty, most records first."""
        return self.offenders_by_type[object_type(object_type_name).name]

    def as_json(self) -> dict[str, Any]:
        return {
            "sources": [{**named.source.as_wire(), "name": named.name} for named in self.sources],
            "offenders": {
                name: [offender.as_json() for offender in offenders]
                for name, offenders in self.offenders_by_type.items()
            },
        }
