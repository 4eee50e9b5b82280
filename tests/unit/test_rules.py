"""Planning decisions on hand-built cases: every rule, every tie."""

import pytest

from lifecycle_guard.config import FromPrimaryCompany, GuardConfig, load_config
from lifecycle_guard.crm import Association
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.planning import primary_companies
from lifecycle_guard.rules import (
    MISSING,
    DealState,
    company_target,
    contact_target,
    decide_company,
    decide_contact,
    needs_context,
    trigger_of,
)

SEED = GuardConfig()
WON = DealState(closed_won=True, closed=True)
LOST = DealState(closed_won=False, closed=True)
OPEN = DealState(closed_won=False, closed=False)


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        ("", MISSING),
        ("subscriber", "subscriber"),
        ("other", "other"),
        ("evangelist", "evangelist"),
        ("lead", None),
        ("customer", None),
        ("123456", None),
    ],
)
def test_trigger_is_missing_or_the_disallowed_stage(stage, expected):
    assert trigger_of(stage, SEED.disallowed(ObjectType.CONTACTS)) == expected


@pytest.mark.parametrize(
    ("deals", "target", "rule"),
    [
        ([WON, OPEN, LOST], "customer", "missing:closed_won_deal"),
        ([OPEN, LOST], "opportunity", "missing:open_deal"),
        ([LOST, LOST], "lead", "missing:no_open_deal"),
        ([], "lead", "missing:no_open_deal"),
    ],
)
def test_company_stage_comes_from_its_deals(deals, target, rule):
    # GIVEN a company missing a stage, WHEN its deals are weighed, THEN closed-won beats open beats none
    decision = decide_company(MISSING, company_target(SEED, MISSING), deals)
    assert (decision.target, decision.rule) == (target, rule)


def test_company_at_disallowed_stage_uses_its_deals_too():
    decision = decide_company("evangelist", company_target(SEED, "evangelist"), [OPEN])
    assert (decision.target, decision.rule) == ("opportunity", "evangelist:open_deal")


@pytest.mark.parametrize(
    ("company_stage", "target", "rule"),
    [
        ("customer", "customer", "missing:primary_company"),
        ("opportunity", "opportunity", "missing:primary_company"),
        ("lead", "lead", "missing:no_qualifying_company"),
        ("salesqualifiedlead", "lead", "missing:no_qualifying_company"),
        (None, "lead", "missing:no_qualifying_company"),
    ],
)
def test_missing_contact_takes_primary_company_stage_only_when_customer_or_opportunity(company_stage, target, rule):
    decision = decide_contact(MISSING, contact_target(SEED, MISSING), company_stage)
    assert (decision.target, decision.rule) == (target, rule)


@pytest.mark.parametrize("stage", ["subscriber", "other"])
def test_subscriber_and_other_contacts_go_to_lead_whatever_the_company(stage):
    decision = decide_contact(stage, contact_target(SEED, stage), "customer")
    assert (decision.target, decision.rule) == ("lead", f"{stage}:fixed")
    assert not needs_context(contact_target(SEED, stage))


@pytest.mark.parametrize(
    ("company_stage", "target"), [("customer", "customer"), ("opportunity", "lead"), (None, "lead")]
)
def test_evangelist_stays_customer_only_at_a_customer_company(company_stage, target):
    decision = decide_contact("evangelist", contact_target(SEED, "evangelist"), company_stage)
    assert decision.target == target


def test_custom_stage_can_be_inherited_when_configured():
    # GIVEN a portal-specific rule: contacts missing a stage inherit a custom stage "7001" from their company
    config = load_config(
        {"contacts": {"missing": {"derive": "primary_company", "inherit": ["7001"], "otherwise": "lead"}}}
    )
    target = contact_target(config, MISSING)
    assert isinstance(target, FromPrimaryCompany)
    assert decide_contact(MISSING, target, "7001").target == "7001"
    assert decide_contact(MISSING, target, "customer").target == "lead"


def test_only_the_primary_link_counts_among_several_companies():
    links = {
        "c1": {"10": Association("10", frozenset({279})), "11": Association("11", frozenset({1, 279}))},
        "c2": {"12": Association("12", frozenset({279})), "13": Association("13", frozenset({279}))},
        "c3": {},
    }
    # c1 has a primary among several; c2 has only unlabeled links; c3 has no company at all
    assert primary_companies(links) == {"c1": "11"}
