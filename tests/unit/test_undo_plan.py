"""Undo restores each record's original value only where the run's value still stands."""

from datetime import UTC, datetime

from lifecycle_guard.journal import JournalEntry, Write, WriteOutcome
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.undo import NetChange, journal_jobs, net_changes, undo_plan

AT = datetime(2026, 11, 25, tzinfo=UTC)


def entry(object_id, write, before, after, outcome=WriteOutcome.APPLIED, job="j1"):
    return JournalEntry(
        run_id="r",
        job_id=job,
        object_type=ObjectType.CONTACTS,
        object_id=object_id,
        write=write,
        before=before,
        after=after,
        rule="other:fixed",
        at=AT,
        outcome=outcome,
    )


def test_net_change_spans_clear_then_set_and_ignores_failures():
    entries = [
        entry("1", Write.CLEAR, "other", ""),
        entry("1", Write.SET, "", "lead"),
        entry("2", Write.SET, "", "lead", WriteOutcome.IGNORED),
        entry("3", Write.NONE, "customer", "customer", WriteOutcome.SKIPPED),
        entry("4", Write.SET, "subscriber", "lead"),
    ]
    assert net_changes(entries) == [
        NetChange(ObjectType.CONTACTS, "1", "other", "lead"),
        NetChange(ObjectType.CONTACTS, "4", "subscriber", "lead"),
    ]


def test_records_changed_since_are_skipped_unless_forced():
    changes = [NetChange(ObjectType.CONTACTS, "1", "other", "lead"), NetChange(ObjectType.CONTACTS, "2", "", "lead")]
    current = {"1": "customer", "2": "lead"}
    restore, skipped = undo_plan(changes, current, run_id="r", force=False)
    assert [(c.object_id, c.before, c.target) for c in restore] == [("2", "lead", "")]
    assert [c.object_id for c in skipped] == ["1"]
    restore, skipped = undo_plan(changes, current, run_id="r", force=True)
    assert [(c.object_id, c.target) for c in restore] == [("1", "other"), ("2", "")]
    assert skipped == []


def test_entries_are_grouped_by_job_in_order():
    entries = [
        entry("1", Write.SET, "", "lead", job="a"),
        entry("2", Write.SET, "", "lead", job="a"),
        entry("3", Write.SET, "", "lead", job="b"),
    ]
    assert [(job, len(group)) for job, group in journal_jobs(entries)] == [("a", 2), ("b", 1)]
