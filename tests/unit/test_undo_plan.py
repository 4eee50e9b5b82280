"""Undo restores each record's original value only where the run's value still stands."""

from datetime import UTC, datetime

from support.memory_crm import InMemoryCrm

from lifecycle_guard.journal import JournalEntry, Write, WriteOutcome
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.undo import NetChange, journal_jobs, net_changes, read_back_restores, undo_plan

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
    plan = undo_plan(changes, current, run_id="r", force=False)
    assert [(c.object_id, c.before, c.target) for c in plan.restore] == [("2", "lead", "")]
    assert [c.object_id for c in plan.skipped] == ["1"]
    plan = undo_plan(changes, current, run_id="r", force=True)
    assert [(c.object_id, c.target) for c in plan.restore] == [("1", "other"), ("2", "")]
    assert plan.skipped == []


def test_a_record_back_at_its_original_counts_as_restored_already_not_as_changed_since():
    # GIVEN records an interrupted undo put back already (one to a stage, one to no stage), and one deleted since
    changes = [
        NetChange(ObjectType.CONTACTS, "1", "other", "lead"),
        NetChange(ObjectType.CONTACTS, "2", "", "lead"),
        NetChange(ObjectType.CONTACTS, "3", "subscriber", "lead"),
    ]
    current = {"1": "other", "2": ""}
    for force in (False, True):
        # WHEN the undo is re-run, forced or not
        plan = undo_plan(changes, current, run_id="r", force=force)
        # THEN nothing is written for them, and they are not "left alone (changed since the run)"
        assert plan.restore == []
        assert [c.object_id for c in plan.already_restored] == ["1", "2"]
        assert [c.object_id for c in plan.skipped] == ["3"]


def test_entries_are_grouped_by_job_in_order():
    entries = [
        entry("1", Write.SET, "", "lead", job="a"),
        entry("2", Write.SET, "", "lead", job="a"),
        entry("3", Write.SET, "", "lead", job="b"),
    ]
    assert [(job, len(group)) for job, group in journal_jobs(entries)] == [("a", 2), ("b", 1)]


def test_read_back_tells_held_from_reset_by_a_workflow_from_changed_since():
    crm = InMemoryCrm()
    crm.add("contacts", "1")  # restored to no stage, still none
    crm.add("contacts", "2", "lead")  # restored to no stage, the default stage again: a workflow
    crm.add("contacts", "3", "customer")  # restored to "other", now customer: someone else
    crm.add("contacts", "5", "other")  # backward restore (clear, then set): held
    entries = [
        entry("1", Write.CLEAR, "lead", ""),
        entry("2", Write.CLEAR, "lead", ""),
        entry("3", Write.SET, "lead", "other"),
        entry("4", Write.CLEAR, "lead", ""),  # deleted since
        entry("5", Write.CLEAR, "lead", ""),
        entry("5", Write.SET, "", "other"),
        entry("6", Write.SET, "lead", "other", WriteOutcome.FAILED),  # never restored: not read back
        entry("7", Write.NONE, "customer", "customer", WriteOutcome.SKIPPED),
    ]
    check = read_back_restores(crm, entries, "lead", lambda: False)
    assert (check.checked, check.held, check.reset_by_workflow, check.changed_since) == (5, 2, 1, 2)
    assert check.complete
    assert check.examples == [
        "contacts 2: restored '(no stage)', now 'lead'",
        "contacts 3: restored 'other', now 'customer'",
        "contacts 4: restored '(no stage)', now deleted",
    ]
    # one batch read for the job's restored records
    assert [(c.method, c.ids) for c in crm.calls] == [("read", ("1", "2", "3", "4", "5"))]


def test_read_back_stops_between_jobs_when_time_runs_out():
    crm = InMemoryCrm()
    crm.add("contacts", "1")
    crm.add("contacts", "2")
    entries = [entry("1", Write.CLEAR, "lead", "", job="j1"), entry("2", Write.CLEAR, "lead", "", job="j2")]
    calls = iter([False, True])
    check = read_back_restores(crm, entries, "lead", lambda: next(calls))
    assert (check.checked, check.held, check.complete) == (1, 1, False)
