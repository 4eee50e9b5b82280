"""Fixing against the in-memory CRM: the order of writes, read-back, the journal, and never a blank record."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from support.memory_crm import InMemoryCrm
from support.stores import CountingStore

from lifecycle_guard.config import FixOptions
from lifecycle_guard.crm import HubSpotUnavailable, MissingScopes, RequestRejected
from lifecycle_guard.fixing import Fixer, FixMode, recover_pending
from lifecycle_guard.jobs import PlannedChange
from lifecycle_guard.journal import Write, WriteOutcome, read_journal
from lifecycle_guard.layout import PENDING_PREFIX, QUARANTINE_PREFIX, RunLayout
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.pending import marker_body, quarantined_markers, records_pending
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
    assert list(store.keys(PENDING_PREFIX)) == []  # the marker is gone once the batch is journaled


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
    assert list(store.keys(PENDING_PREFIX)) == []
    # ... and the journal holds the interrupted clear (undo restores "other", not the blank)
    cleared = [e for e in read_journal(store, LAYOUT) if e.write is Write.CLEAR]
    assert [(e.object_id, e.before, e.rule) for e in cleared] == [("1", "other", "recovery:run-1:r")]


def refusing_sets_of(stage: str, error: Exception):
    """HubSpot answering every update that sets ``stage`` with ``error`` (for the whole batch)."""

    def refuse(_: str, values: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
        if any(v["lifecyclestage"] == stage for v in values.values()):
            raise error
        return {}

    return refuse


def test_an_exception_from_the_set_after_a_clear_still_gives_blanked_records_their_old_value():
    # GIVEN HubSpot failing every set of lead with server errors, after the clear of a backward batch went through
    crm, store = InMemoryCrm(), MemoryStore()
    crm.add("contacts", "1", "other")
    crm.add("contacts", "2", "evangelist")
    crm.reject = refusing_sets_of("lead", HubSpotUnavailable("HTTP 503 (gave up after 6 attempts)", status=503))
    planned = [change("1", "other", "lead"), change("2", "evangelist", "lead")]
    # WHEN the batch is fixed, THEN the error propagates (the job is retried) ...
    with pytest.raises(HubSpotUnavailable):
        fixer(crm, store).apply("000000-contacts-backward", planned)
    # ... but no record is left blank: the old values were put back on the way out, and journaled
    assert (crm.stage_of("contacts", "1"), crm.stage_of("contacts", "2")) == ("other", "evangelist")
    assert [(o, w, after, outcome) for o, w, _, after, outcome in journal(store) if w is Write.SET] == [
        ("1", Write.SET, "other", WriteOutcome.APPLIED),
        ("2", Write.SET, "evangelist", WriteOutcome.APPLIED),
    ]
    # ... and the marker stays, for whoever retries or recovers the batch
    assert len(list(store.keys(PENDING_PREFIX))) == 1


def test_after_the_token_is_refused_no_restore_is_even_tried():
    crm, store = InMemoryCrm(), MemoryStore()
    crm.add("contacts", "1", "other")
    crm.reject = refusing_sets_of("lead", MissingScopes("HTTP 403 MISSING_SCOPES", status=403))
    with pytest.raises(MissingScopes):
        fixer(crm, store).apply("000000-contacts-backward", [change("1", "other", "lead")])
    # the clear, the refused set, and nothing after it: the marker lets the next run finish the record
    assert [call.values for call in crm.updates()] == [("",), ("lead",)]
    assert crm.stage_of("contacts", "1") == ""
    assert len(list(store.keys(PENDING_PREFIX))) == 1
    # ... and the run's report counts the record as pending recovery (another run's markers are not its own)
    store.put(f"{PENDING_PREFIX}run-0/000000-contacts-backward-0000.json", b"{}")
    assert records_pending(store, LAYOUT.run_id) == 1


def stuck_marker(store: MemoryStore, planned: list[PlannedChange], run_id: str = "run-0") -> str:
    key = RunLayout(run_id, "").pending_marker("000000-contacts-backward", 0)
    store.put(key, marker_body(run_id, "000000-contacts-backward", planned))
    return key


def test_a_marker_whose_replay_hubspot_refuses_no_longer_fails_the_run_that_recovers_it():
    # GIVEN a batch a crashed run cleared and never set, and a validation rule, added since, refusing its target
    crm, store = InMemoryCrm(), MemoryStore()
    crm.add("contacts", "1", "")
    stuck_marker(store, [change("1", "other", "lead")])
    rule = RequestRejected("HTTP 400", status=400, category="VALIDATION_ERROR", hubspot_message="lead not allowed")
    crm.reject = refusing_sets_of("lead", rule)
    # WHEN the next run recovers it
    recovered = recover_pending(store, crm, {CONTACTS: crm.stage_catalog(CONTACTS)}, FixOptions(), LAYOUT)
    # THEN the refusal is journaled, the record gets its old stage back rather than staying blank, the marker is done
    assert crm.stage_of("contacts", "1") == "other"
    assert recovered.failed == 1
    assert ("1", Write.SET, "", "lead", WriteOutcome.FAILED) in journal(store)
    assert list(store.keys(PENDING_PREFIX)) == []


def test_markers_recovery_cannot_trust_or_finish_are_quarantined_and_recovery_goes_on():
    crm, store = InMemoryCrm(), MemoryStore()
    crm.add("contacts", "1", "")
    crm.add("contacts", "2", "")
    # GIVEN four markers: one that is not JSON, one whose body names another run than its key, one whose replay
    # HubSpot refuses outright (its batch read answers 400), and a good one
    store.put(f"{PENDING_PREFIX}run-0/garbled-0000.json", b"{not json")
    store.put(f"{PENDING_PREFIX}run-0/forged-0000.json", marker_body("run-9", "forged", [change("1", "other", "lead")]))
    refused = stuck_marker(store, [change("1", "other", "lead")], run_id="run-5")
    good = stuck_marker(store, [change("2", "other", "lead")], run_id="run-7")
    real_read = crm.read

    def read(object_type, ids, properties):
        if "1" in ids:
            raise RequestRejected("HTTP 400: invalid input", status=400, category="VALIDATION_ERROR")
        return real_read(object_type, ids, properties)

    crm.read = read  # type: ignore[method-assign]
    # WHEN a run recovers them
    recovered = recover_pending(store, crm, {CONTACTS: crm.stage_catalog(CONTACTS)}, FixOptions(), LAYOUT)
    # THEN the good one is finished, the other three are moved aside with their reasons, none is left pending
    assert crm.stage_of("contacts", "2") == "lead"
    assert recovered.applied == 1
    assert list(store.keys(PENDING_PREFIX)) == []
    moved = {marker.marker_key.rsplit("/", 1)[-1]: marker for marker in quarantined_markers(store)}
    assert set(moved) == {"garbled-0000.json", "forged-0000.json", refused.rsplit("/", 1)[-1]}
    assert "not a readable pending marker" in moved["garbled-0000.json"].reason
    assert "names run 'run-9', its key run 'run-0'" in moved["forged-0000.json"].reason
    assert "HubSpot refused its replay" in moved[refused.rsplit("/", 1)[-1]].reason
    assert {marker.quarantined_by for marker in moved.values()} == {LAYOUT.run_id}
    assert all(marker.key.startswith(QUARANTINE_PREFIX) for marker in moved.values())
    # ... keeping each body verbatim, for whoever looks into it
    assert b"{not json" in (store.get(f"{QUARANTINE_PREFIX}run-0/garbled-0000.json") or b"")
    assert good not in set(store.keys(""))


def test_a_job_whose_batches_all_finished_is_read_back_from_one_segment_and_a_half_done_one_from_its_batches():
    crm, store = InMemoryCrm(), CountingStore()
    for n in range(1, 8):
        crm.add("contacts", str(n), "other")
    # GIVEN a job of one batch, a job of three batches that finished, and one whose second batch died
    fixer(crm, store, job_size=3, batch_size=3).apply(
        "000000-contacts-backward", [change(str(n), "other", "lead") for n in range(1, 4)]
    )
    fixer(crm, store, batch_size=1).apply(
        "000001-contacts-backward", [change(str(n), "other", "lead") for n in range(4, 7)]
    )
    crm.reject = refusing_sets_of("customer", HubSpotUnavailable("HTTP 503 (gave up after 6 attempts)", status=503))
    with pytest.raises(HubSpotUnavailable):
        fixer(crm, store, batch_size=1).apply(
            "000002-contacts-mixed", [change("7", "other", "lead"), change("1", "lead", "customer")]
        )
    store.reads.clear()
    # WHEN the journal is read
    entries = journal(store)
    # THEN every entry is there once, in write order: the finished multi-batch job from its one segment, the job of
    # a single batch and the job that died from their batch segments
    assert [(object_id, write) for object_id, write, *_ in entries] == [
        *[(str(n), w) for n in range(1, 4) for w in (Write.CLEAR,)],
        *[(str(n), Write.SET) for n in range(1, 4)],
        *[(str(n), w) for n in range(4, 7) for w in (Write.CLEAR, Write.SET)],
        ("7", Write.CLEAR),
        ("7", Write.SET),
    ]
    read = [key.removeprefix(LAYOUT.journal_segments) for key in store.reads if key != LAYOUT.journal]
    assert read == [
        "000000-contacts-backward-a1-0000.jsonl",
        "000001-contacts-backward-a1.job.jsonl",
        "000002-contacts-mixed-a1-0000.jsonl",
    ]
    assert "000001-contacts-backward-a1-0002.jsonl" in [k.removeprefix(LAYOUT.journal_segments) for k in store.keys("")]
