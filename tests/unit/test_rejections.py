"""Whole-batch refusals against the in-memory CRM: bisection finds the refused records, their old values come back,
the rest of the batch is written, and what it costs in calls is counted (and bounded: O(k log n))."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Mapping

import pytest
from support.memory_crm import InMemoryCrm

from lifecycle_guard.config import FixOptions
from lifecycle_guard.crm import RequestRejected
from lifecycle_guard.fixing import Fixer
from lifecycle_guard.jobs import PlannedChange
from lifecycle_guard.journal import Write, WriteOutcome, read_journal
from lifecycle_guard.layout import RunLayout
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.rejections import (
    INVALID_OPTION,
    VALIDATION_RULE,
    RejectionCollector,
    refusal_reason,
    update_isolating,
)
from lifecycle_guard.storage import MemoryStore

CONTACTS = ObjectType.CONTACTS
LAYOUT = RunLayout("run-1", "runs/2026/12/03/run-1/")
Updates = Mapping[str, Mapping[str, str]]


def problems_message(error: str, message: str) -> str:
    """HubSpot's whole-batch 400 text (hubspot-facts §1.4)."""
    problem = {"isValid": False, "message": message, "error": error, "name": "lifecyclestage"}
    return f"Property values were not valid: {json.dumps([problem])}"


def rejected(message: str) -> RequestRejected:
    """The gateway's error for that 400."""
    return RequestRejected(f"HTTP 400: {message}", status=400, category="VALIDATION_ERROR", hubspot_message=message)


def rule_refusing(ids: set[str], stage: str = "lead") -> Callable[[str, Updates], dict[str, str]]:
    """A portal validation rule: records ``ids`` cannot be set to ``stage``; one of them refuses the whole batch."""

    def refuse(_: str, values: Updates) -> dict[str, str]:
        if any(i in ids and v["lifecyclestage"] == stage for i, v in values.items()):
            message = problems_message("VALIDATION_RULE_VIOLATED", f"{stage} is not allowed for partner contacts")
            raise rejected(message)
        return {}

    return refuse


def option_deleted(stage: str) -> Callable[[str, Updates], dict[str, str]]:
    def refuse(_: str, values: Updates) -> dict[str, str]:
        if any(v["lifecyclestage"] == stage for v in values.values()):
            message = problems_message("INVALID_OPTION", f"{stage} was not one of the allowed options")
            raise rejected(message)
        return {}

    return refuse


def contacts(crm: InMemoryCrm, count: int, stage: str) -> list[str]:
    return [crm.add("contacts", str(100 + n), stage) for n in range(count)]


def journal(store: MemoryStore) -> list[tuple[str, str, str, str, str]]:
    return [(e.object_id, e.write, e.before, e.after, e.outcome) for e in read_journal(store, LAYOUT)]


def test_records_a_validation_rule_refuses_keep_their_stage_and_the_rest_of_the_batch_is_written():
    # GIVEN a batch of 100 backward moves (other -> lead), 3 of whose records a validation rule keeps from lead
    crm, store = InMemoryCrm(), MemoryStore()
    ids = contacts(crm, 100, "other")
    refused = {ids[7], ids[42], ids[93]}
    crm.reject = rule_refusing(refused)
    # WHEN the batch is fixed
    fixer = Fixer(crm, crm.stage_catalog(CONTACTS), store, FixOptions(), LAYOUT)
    outcome = fixer.apply("000000-contacts-backward", [PlannedChange(CONTACTS, i, "other", "lead", "r") for i in ids])
    # THEN the refused records are back at their old stage (none blank), every other one is at its target
    assert {i: crm.stage_of("contacts", i) for i in refused} == dict.fromkeys(refused, "other")
    assert {crm.stage_of("contacts", i) for i in ids if i not in refused} == {"lead"}
    assert (outcome.applied, outcome.failed, outcome.ignored) == (97, 3, 0)
    # ... the journal holds, per refused record, the clear, the refused set with HubSpot's category and message,
    # and the restore
    entries = [e for e in read_journal(store, LAYOUT) if e.object_id == ids[42]]
    assert [(e.write, e.after, e.outcome) for e in entries] == [
        (Write.CLEAR, "", WriteOutcome.APPLIED),
        (Write.SET, "lead", WriteOutcome.FAILED),
        (Write.SET, "other", WriteOutcome.APPLIED),
    ]
    assert entries[1].detail.startswith("VALIDATION_ERROR: Property values were not valid:")
    assert "partner contacts" in entries[1].detail
    # ... and the calls bisection cost are counted: every set update beyond the first
    sets = [call for call in crm.updates() if set(call.values) == {"lead"}]
    assert outcome.isolating_calls == len(sets) - 1 > 0
    assert outcome.counts()["isolating_calls"] == outcome.isolating_calls


@pytest.mark.parametrize("refused_count", [1, 2, 5, 10, 25])
def test_bisection_costs_at_most_2k_times_log2_n_over_k_plus_1_extra_calls(refused_count):
    # GIVEN a batch of 100 in which k records, drawn at random, are refused
    crm = InMemoryCrm()
    ids = contacts(crm, 100, "subscriber")
    refused = set(random.Random(refused_count).sample(ids, refused_count))
    crm.reject = rule_refusing(refused)
    # WHEN it is written
    write = update_isolating(crm, "contacts", dict.fromkeys(ids, "lead"), {})
    # THEN exactly the refused records failed, the rest was written, in O(k log n) calls
    assert set(write.result.failed) == refused
    assert set(write.result.records) == set(ids) - refused
    assert write.calls == len(crm.updates())
    assert write.isolating_calls <= 2 * refused_count * (math.log2(len(ids) / refused_count) + 1)


def test_a_deleted_option_is_learned_from_one_record_and_not_sent_again():
    # GIVEN the customer option deleted: a batch with 50 moves to customer and 50 to lead, then a second batch
    crm = InMemoryCrm()
    ids = contacts(crm, 200, "subscriber")
    crm.reject = option_deleted("customer")
    stages = {i: ("customer" if n % 2 else "lead") for n, i in enumerate(ids[:100])}
    invalid: dict[str, str] = {}
    first = update_isolating(crm, "contacts", stages, invalid)
    # THEN each move to customer failed as an invalid option, each move to lead went through
    assert {refusal_reason(detail) for detail in first.result.failed.values()} == {INVALID_OPTION}
    assert set(first.result.failed) == {i for i, stage in stages.items() if stage == "customer"}
    assert set(first.result.records) == {i for i, stage in stages.items() if stage == "lead"}
    # ... at a cost far from a call per refused record: after the first, the option was known to be gone
    assert first.calls < 25
    assert set(invalid) == {"customer"}
    # AND a later batch sends no move to customer at all
    calls_before = len(crm.updates())
    second = update_isolating(crm, "contacts", dict.fromkeys(ids[100:], "customer"), invalid)
    assert len(crm.updates()) == calls_before
    assert (second.calls, len(second.result.failed)) == (0, 100)


def test_the_report_lists_refused_records_by_reason_once_each():
    crm, store = InMemoryCrm(), MemoryStore()
    ruled = contacts(crm, 4, "other")
    crm.reject = rule_refusing({ruled[1]})
    fixer = Fixer(crm, crm.stage_catalog(CONTACTS), store, FixOptions(), LAYOUT)
    fixer.apply("000000-contacts-backward", [PlannedChange(CONTACTS, i, "other", "lead", "r") for i in ruled])
    crm.reject = option_deleted("customer")
    crm.add("contacts", "900", "lead")
    fixer.apply("000001-contacts-forward", [PlannedChange(CONTACTS, "900", "lead", "customer", "r")])
    # a record deleted since it was planned: HubSpot's 207 says so, which is no refusal
    fixer.apply("000002-contacts-forward", [PlannedChange(CONTACTS, "901", "subscriber", "lead", "r")])
    collector = RejectionCollector()
    for key in sorted(store.keys(LAYOUT.journal_segments)):
        collector.scan(store.get(key) or b"")
    groups = {group.reason: group for group in collector.groups()}
    assert set(groups) == {VALIDATION_RULE, INVALID_OPTION}
    assert [(r.object_id, r.value) for r in groups[VALIDATION_RULE].records] == [(ruled[1], "lead")]
    assert [(r.object_id, r.value) for r in groups[INVALID_OPTION].records] == [("900", "customer")]
    assert groups[INVALID_OPTION].count == 1


@pytest.mark.parametrize(
    ("detail", "reason"),
    [
        (f"VALIDATION_ERROR: {problems_message('INVALID_OPTION', 'x')}", INVALID_OPTION),
        (f"VALIDATION_ERROR: {problems_message('INVALID_ALPHA', 'Enter only letters')}", VALIDATION_RULE),
        (f"VALIDATION_ERROR: {problems_message('READ_ONLY_VALUE', 'read only')}", "VALIDATION_ERROR"),
        ("VALIDATION_ERROR: something else entirely", "VALIDATION_ERROR"),
        ("CONFLICT: the record is being merged", "CONFLICT"),
    ],
)
def test_refusal_reasons_follow_hubspots_problem_codes(detail, reason):
    assert refusal_reason(detail) == reason
