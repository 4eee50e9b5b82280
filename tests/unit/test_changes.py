"""The changed-records view: each planned change with the journal's final word on it, and a dry run's preview."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from lifecycle_guard.audit import AuditSnapshot, StageCounts
from lifecycle_guard.changes import FinalValue, FinalValues, changed_records, planned_after, write_changes
from lifecycle_guard.jobs import PlannedChange, RuleCount
from lifecycle_guard.journal import JournalEntry, Write, WriteOutcome
from lifecycle_guard.layout import RunLayout
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.sources import ValueSource
from lifecycle_guard.storage import MemoryStore

AT = datetime(2026, 12, 3, tzinfo=UTC)
C = ObjectType.CONTACTS
CHURN_WORKFLOW = ValueSource(source_type="AUTOMATION_PLATFORM", source_id="1487203390")


def entry(object_id: str, write: Write, before: str, after: str, outcome: WriteOutcome, detail: str = ""):
    return JournalEntry(
        run_id="r",
        job_id="j",
        object_type=C,
        object_id=object_id,
        write=write,
        before=before,
        after=after,
        rule="r",
        at=AT,
        outcome=outcome,
        detail=detail,
    )


PLAN = [
    PlannedChange(C, "1", "other", "lead", "other:fixed", "Ada <ada@example.com>", CHURN_WORKFLOW),
    PlannedChange(C, "2", "other", "lead", "other:fixed"),
    PlannedChange(C, "3", "subscriber", "lead", "subscriber:fixed"),
    PlannedChange(C, "4", "subscriber", "lead", "subscriber:fixed"),
]
JOURNAL = [
    # 1: cleared, then set: applied
    entry("1", Write.CLEAR, "other", "", WriteOutcome.APPLIED),
    entry("1", Write.SET, "", "lead", WriteOutcome.APPLIED),
    # 2: cleared, the set refused by a validation rule, the old value put back
    entry("2", Write.CLEAR, "other", "", WriteOutcome.APPLIED),
    entry("2", Write.SET, "", "lead", WriteOutcome.FAILED, "VALIDATION_ERROR: leads need an e-mail"),
    entry("2", Write.SET, "", "other", WriteOutcome.APPLIED),
    # 3: someone moved it meanwhile; 4: HubSpot kept the old value
    entry("3", Write.NONE, "customer", "customer", WriteOutcome.SKIPPED, "changed elsewhere to 'customer'"),
    entry("4", Write.SET, "subscriber", "lead", WriteOutcome.IGNORED),
]


def final_values(entries: list[JournalEntry]) -> dict[tuple[ObjectType, str], FinalValue]:
    """One pass over the whole journal."""
    finals = FinalValues()
    finals.add(entries)
    return finals.by_record


def test_each_record_gets_the_journals_final_word():
    rows = {row.object_id: row for row in changed_records(PLAN, final_values(JOURNAL))}
    assert (rows["1"].after, rows["1"].outcome, rows["1"].label) == ("lead", "applied", "Ada <ada@example.com>")
    assert (rows["2"].after, rows["2"].outcome, rows["2"].detail) == (
        "other",
        "failed",
        "VALIDATION_ERROR: leads need an e-mail",
    )
    assert (rows["3"].outcome, rows["3"].detail) == ("skipped", "changed elsewhere to 'customer'")
    assert (rows["4"].after, rows["4"].outcome) == ("subscriber", "ignored")


def test_a_dry_run_lists_what_would_change():
    rows = list(changed_records(PLAN, None))
    assert [(row.after, row.outcome) for row in rows] == [("lead", "would change")] * 4


def test_every_row_goes_to_the_csv_and_the_report_keeps_the_first(monkeypatch):
    monkeypatch.setattr("lifecycle_guard.changes.REPORT_ROWS", 2)
    store, layout = MemoryStore(), RunLayout("r", "runs/2026/12/03/r/")
    first, total = write_changes(store, layout, changed_records(PLAN, None), lambda row: row.rule, portal_id=42)
    assert ([row.object_id for row in first], total) == (["1", "2"], 4)
    lines = list(csv.DictReader(io.StringIO(store.objects[layout.changes_csv].decode())))
    assert [line["id"] for line in lines] == ["1", "2", "3", "4"]
    assert lines[0]["link"] == "https://app.hubspot.com/contacts/42/record/0-1/1"
    assert lines[0]["name"] == "Ada <ada@example.com>"
    # ... with the source of the bad value in words and as HubSpot names it, for machines to group by
    assert (lines[0]["source"], lines[0]["source_type"], lines[0]["source_id"]) == (
        "workflow 1487203390",
        "AUTOMATION_PLATFORM",
        "1487203390",
    )
    assert (lines[1]["source"], lines[1]["source_type"], lines[1]["source_id"]) == ("", "", "")


def test_the_planned_after_state_moves_each_change_from_its_trigger_to_its_target():
    counts = StageCounts(total=10, missing=3, by_stage={"subscriber": 2, "lead": 4, "customer": 1}, unrecognised=0)
    before = AuditSnapshot(taken_at=AT, counts={C: counts})
    plan = [
        RuleCount(object_type=C, rule="missing:primary_company", kind="forward", planned=1, target="customer"),
        RuleCount(object_type=C, rule="missing:no_qualifying_company", kind="forward", planned=2, target="lead"),
        RuleCount(object_type=C, rule="subscriber:fixed", kind="forward", planned=2, target="lead"),
    ]
    after = planned_after(before, plan).counts[C]
    assert (after.missing, after.by_stage) == (0, {"subscriber": 0, "lead": 8, "customer": 2})
    assert before.counts[C].missing == 3  # the before-audit is left as it was


def test_final_values_gathered_segment_by_segment_match_one_pass_over_the_journal():
    # GIVEN the journal cut into segments between a record's writes (a retried job's, a recovery's)
    segments = [JOURNAL[:1], JOURNAL[1:3], JOURNAL[3:]]
    finals = FinalValues()
    # WHEN the report's compaction hands each segment over as it streams past
    for segment in segments:
        finals.scan(b"".join(e.model_dump_json().encode() + b"\n" for e in segment))
    # THEN each record's final word is the one a single pass over the whole journal gives
    assert finals.by_record == final_values(JOURNAL)
    assert finals.by_record[(C, "2")].value == "other"
    assert finals.by_record[(C, "2")].reason == ("failed", "VALIDATION_ERROR: leads need an e-mail")
