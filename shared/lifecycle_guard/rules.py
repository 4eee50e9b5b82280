"""Pure decisions: which stage a record should have and which rule says so. No I/O here.

A rule key is ``"<trigger>:<outcome>"``: the trigger is ``missing`` or the disallowed stage the record sits at;
the outcome names the branch that chose the target (``fixed``, ``closed_won_deal``, ``open_deal``,
``no_open_deal``, ``primary_company``, ``no_qualifying_company``). Reports group changes by it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from lifecycle_guard.config import CompanyTarget, ContactTarget, FromPrimaryCompany, GuardConfig
from lifecycle_guard.objects import NO_STAGE

MISSING = "missing"


@dataclass(frozen=True, slots=True)
class DealState:
    """What a deal contributes to its company's stage, from HubSpot's calculated properties (any pipeline)."""

    closed_won: bool
    closed: bool

    @classmethod
    def from_properties(cls, properties: dict[str, str | None]) -> DealState:
        return cls(
            closed_won=(properties.get("hs_is_closed_won") or "").lower() == "true",
            closed=(properties.get("hs_is_closed") or "").lower() == "true",
        )


@dataclass(frozen=True, slots=True)
class Decision:
    target: str
    rule: str


def trigger_of(stage: str, disallowed: Iterable[str]) -> str | None:
    """The rule trigger for a record at ``stage``: ``missing``, the disallowed stage, or None when it is fine."""
    if stage == NO_STAGE:
        return MISSING
    return stage if stage in disallowed else None


def company_target(config: GuardConfig, trigger: str) -> CompanyTarget:
    rules = config.companies
    return rules.missing if trigger == MISSING else rules.disallowed[trigger]


def contact_target(config: GuardConfig, trigger: str) -> ContactTarget:
    rules = config.contacts
    return rules.missing if trigger == MISSING else rules.disallowed[trigger]


def needs_context(target: ContactTarget | CompanyTarget) -> bool:
    """Whether deciding needs associated records (a primary company, or deals); static targets do not."""
    return not isinstance(target, str)


def decide_company(trigger: str, target: CompanyTarget, deals: Iterable[DealState]) -> Decision:
    if isinstance(target, str):
        return Decision(target, f"{trigger}:fixed")
    deals = list(deals)
    if any(deal.closed_won for deal in deals):
        return Decision(target.closed_won, f"{trigger}:closed_won_deal")
    if any(not deal.closed for deal in deals):
        return Decision(target.open, f"{trigger}:open_deal")
    return Decision(target.otherwise, f"{trigger}:no_open_deal")


def decide_contact(trigger: str, target: ContactTarget, primary_company_stage: str | None) -> Decision:
    """Decide a contact; ``primary_company_stage`` is the company's stage as it will be after this run."""
    if isinstance(target, str):
        return Decision(target, f"{trigger}:fixed")
    if primary_company_stage is not None and primary_company_stage in target.inherit:
        return Decision(primary_company_stage, f"{trigger}:primary_company")
    return Decision(target.otherwise, f"{trigger}:no_qualifying_company")


_OUTCOME_WORDS = {
    "fixed": "",
    "closed_won_deal": "has a closed-won deal",
    "open_deal": "has an open deal",
    "no_open_deal": "has no open deal",
}


def describe(config: GuardConfig, rule: str, target: str, label: Callable[[str], str]) -> str:
    """A rule key in words, e.g. "Evangelist → Lead: primary company is not Customer"; ``label`` names a stage."""
    if rule.startswith("undo:"):
        return f"Undo of run {rule.removeprefix('undo:')}: back to {label(target)}"
    if rule.startswith("recovery:"):
        _, run_id, original = rule.split(":", 2)
        return f"Finished for run {run_id}, interrupted before: {describe(config, original, target, label)}"
    trigger, _, outcome = rule.partition(":")
    move = f"{'No stage' if trigger == MISSING else label(trigger)} → {label(target)}"
    if outcome == "primary_company":
        return f"{move}: primary company is {label(target)}"
    if outcome == "no_qualifying_company":
        rules = config.contacts
        rule_target = rules.missing if trigger == MISSING else rules.disallowed.get(trigger)
        inherit = rule_target.inherit if isinstance(rule_target, FromPrimaryCompany) else ()
        stages = " or ".join(label(stage) for stage in inherit) or "at an inherited stage"
        return f"{move}: primary company (if any) is not {stages}"
    words = _OUTCOME_WORDS.get(outcome, outcome.replace("_", " "))
    return f"{move}: company {words}" if words else move
