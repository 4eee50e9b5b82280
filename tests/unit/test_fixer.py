"""Fixing against the in-memory CRM: the order of writes, read-back, the journal, and never a blank record."""

from __future__ import annotations

from collections.abc import Mapping

from support.memory_crm import InMemoryCrm

from lifecycle_guard.config import FixOptions
from lifecycle_guard.fixing import Fixer, FixMode, recover_pending
from lifecycle_guard.jobs import PlannedChange
from lifecycle_guard.journal import Write, WriteOutcome, read_journal
from lifecycle_guard.layout import RunLayout
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.pending import marker_body, pending_batches
from lifecycle_guard.storage import MemoryStore

CONTACTS = ObjectType.CONTACTS
LAYOUT = RunLayout("run-1", "runs/2026/12/03/run-1/")


def change(object_id: str, before: str, target: str, rule: str = "r") -> PlannedChange:
    return PlannedChange(CONTACTS, object_id, before, target, rule)


def fixer(crm: InMemoryCrm, store: MemoryStore, **options: int) -> Fixer:
    return Fixer(crm, crm.stage_catalog(CONTACTS), store, FixOptions(**options), LAYOUT)


def journal(store: MemoryStore) -> list[tuple[str, str, str, str, str]]:
    return [(e.object_id, e.write, e.before, e.after, e.outcome) for e in read_journal(store, LAYOUT)]


def test_backward_moves_are_cleared_then_set_in_separate_calls_and_read_back():
    crm, store = InMemoryCrm(), MemoryStore()
    crm.add("contacts", "1", "other")
    crm.add("contacts", "2", "subscriber")
    outcome = fixer(crm, store).apply(
        "000000-contacts-mixed", [change("1", "other", "lead"), change("2", "subscriber", "lead")]
    )
    assert (outcome.applied, outcome.ignored, outcome.failed) == (2, 0, 0)
    assert [(call.ids, call.values) for call in crm.updates()] == [
        (("1",), ("",)),  # the backward move is cleared first ...
        (("2", "1"), ("lead", "lead")),  # ... then set with the forward one, in a separate call
    ]
    assert [call.method for call in crm.calls][-1] == "read"  # every write is read back
    assert journal(store) == [
        ("1", Write.CLEAR, "other", "", WriteOutcome.APPLIED),
        ("2", Write.SET, "subscriber", "lead", WriteOutcome.APPLIED),
        ("1", Write.SET, "", "lead", WriteOutcome.APPLIED),
    ]
    assert list(pending_batches(store)) == []  # the marker is gone once the batch is journaled


def test_a_record_we_blanked_whose_set_is_refused_gets_its_old_value_back():
    crm, store = InMemoryCrm(), MemoryStore()
    crm.add("contacts", "1", "other")

    def refuse_lead(_: str, values: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
        return {i: "VALIDATION_ERROR: lead is not allowed" for i, v in values.items() if v["lifecyclestage"] == "lead"}

    crm.reject = refuse_lead
    outcome = fixer(crm, store).apply("000000-contacts-backward", [change("1", "other", "lead")])
    assert crm.stage_of("contacts", "1") == "other"  # not blank
    assert outcome.failed == 1
    assert outcome.residue == [{"object_id": "1", "target": "lead", "now": "other"}]


def test_a_record_changed_by_someone_else_is_left_alone():
    crm, store = InMemoryCrm(), MemoryStore()
    crm.add("contacts", "1", "customer")  # planned from subscriber, but a person has moved it since
    outcome = fixer(crm, store).apply(
        "000000-contacts-forward", [change("1", "subscriber", "lead")], mode=FixMode.RESUME
    )
    assert outcome.skipped == 1
    assert crm.updates() == []
    assert crm.stage_of("contacts", "1") == "customer"


def test_an_interrupted_batch_is_finished_from_its_marker_without_re_planning():
    crm, store = InMemoryCrm(), MemoryStore()
    crm.add("contacts", "1", "other")
    crm.add("contacts", "2", "other")
    # GIVEN a batch whose worker cleared record 1 and died before its set: the pending marker stayed
    planned = [change("1", "other", "lead"), change("2", "other", "lead")]
    store.put(LAYOUT.pending_marker("000000-contacts-backward", 0), marker_body(LAYOUT.run_id, "000000", planned))
    crm.update("contacts", {"1": {"lifecyclestage": ""}})
    # WHEN the next run recovers
    recovered = recover_pending(store, crm, {CONTACTS: crm.stage_catalog(CONTACTS)}, FixOptions(), LAYOUT)
    # THEN the blank record gets its planned target, the untouched one is left to the next plan, the marker is gone
    assert (crm.stage_of("contacts", "1"), crm.stage_of("contacts", "2")) == ("lead", "other")
    assert recovered.applied == 1
    assert list(pending_batches(store)) == []
    # ... and the journal holds the interrupted clear (undo restores "other", not the blank)
    cleared = [e for e in read_journal(store, LAYOUT) if e.write is Write.CLEAR]
    assert [(e.object_id, e.before, e.rule) for e in cleared] == [("1", "other", "recovery:run-1:r")]
