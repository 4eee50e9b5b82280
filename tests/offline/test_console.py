"""The CLI's terminal output: one final line per phase in a log, the before/after and audit tables, and the lines a
command ends with: its outcome, a failed step's reason and hint, an interrupted run's account."""

import io
from datetime import UTC, datetime
from pathlib import Path

from lifecycle_guard.audit import AuditSnapshot, StageCounts
from lifecycle_guard.config import GuardConfig
from lifecycle_guard.jobs import RuleCount
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.reporting import FixSummary, RunReport
from lifecycle_guard.stages import StageCatalog
from lifecycle_guard.undo import RestoreCheck
from lifecycle_guard.verification import Check
from lifecycle_guard_offline.console import (
    ProgressPrinter,
    audit_table,
    failure_lines,
    interrupted_line,
    outcome_line,
    report_table,
)
from lifecycle_guard_offline.local_run import FlowsResumed, InterruptedRun
from lifecycle_guard_offline.phase_watch import FailedStep, Progress


def test_a_log_gets_one_line_per_phase_with_its_final_figures_not_its_samples():
    # GIVEN a printer writing to a log (not a terminal)
    log = io.StringIO()
    printer = ProgressPrinter(log)
    # WHEN the fix phase is sampled twice, ends, and the run moves on
    printer(Progress("plan", detail="4 fix jobs planned", seconds=1.0, status="done"))
    printer(Progress("fix", 1, 4, "100 records fixed", seconds=2.0))
    printer(Progress("fix", 4, 4, "875 records fixed", seconds=6.1, status="done"))
    printer(Progress("verify", seconds=13.1, status="done"))
    printer(Progress("done"))
    # THEN each phase is printed once, with the figures it ended with
    lines = log.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == ["plan", "fix", "verify"]
    assert lines[0].split() == ["plan", "done", "4", "fix", "jobs", "planned", "1.0s"]
    assert "4/4  875 records fixed    6.1s" in lines[1]
    assert "100 records fixed" not in log.getvalue()
    assert lines[2].split() == ["verify", "done", "13.1s"]


AT = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)


def snapshot(lead: int, customer: int, missing: int) -> AuditSnapshot:
    counts = StageCounts(
        total=lead + customer + missing, missing=missing, by_stage={"lead": lead, "customer": customer}, unrecognised=0
    )
    return AuditSnapshot(taken_at=AT, counts={ObjectType.CONTACTS: counts})


REPORT = RunReport(
    run_id="r",
    action="run",
    mode="apply",
    source="cli",
    outcome="succeeded",
    started_at=AT,
    finished_at=AT,
    stages={ObjectType.CONTACTS: [("lead", "Lead"), ("customer", "Customer")]},
    before=snapshot(5, 2, 3),
    after=snapshot(8, 2, 0),
    changes=[RuleCount(object_type=ObjectType.CONTACTS, rule="missing", kind="forward", planned=3)],
    fix=FixSummary(applied=3),
    checks=[Check(name="no missing", status="PASS"), Check(name="live test", status="PASS")],
)


def test_the_table_lists_the_portal_stages_in_order_with_before_after_and_change():
    rows = [line.split() for line in report_table(REPORT).splitlines() if line]
    assert rows == [
        ["contacts", "before", "after", "change"],
        ["Lead", "5", "8", "+3"],
        ["Customer", "2", "2"],
        ["(no", "stage)", "3", "0", "-3"],
    ]


def test_the_outcome_line_counts_changes_and_checks_or_names_the_first_reason():
    assert outcome_line(REPORT) == "succeeded: 3 of 3 changes applied; 2 of 2 checks passed"
    failed = REPORT.model_copy(
        update={"outcome": "checks_failed", "failures": [], "checks": [Check(name="no missing", status="FAIL")]}
    )
    assert outcome_line(failed) == "checks failed: check failed: no missing"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_line_redraws_in_place_and_each_phase_starts_a_fresh_line():
    # GIVEN a printer writing to a terminal
    terminal = Terminal()
    printer = ProgressPrinter(terminal)
    # WHEN a long fix line is redrawn, then the short prevent phase follows
    printer(Progress("fix", 1, 4, "100 records fixed", seconds=2.0))
    printer(Progress("fix", 4, 4, "875 records fixed", seconds=6.1, status="done"))
    printer(Progress("prevent", seconds=0.1, status="done"))
    printer(Progress("done"))
    # THEN each phase is one terminal line ending on its final figures, redrawn with carriage returns, and a new
    # phase's line carries no padding left over from the longer line before it
    lines = terminal.getvalue().split("\n")
    assert lines[0].split("\r")[-1].startswith("fix      [####")
    assert lines[0].count("\r") == 3  # two redraws, then the final draw before the newline
    assert lines[1].split("\r")[1:] == ["prevent  done    0.1s", "prevent  done    0.1s"]


def test_a_failed_or_interrupted_phase_says_so_on_its_final_line():
    log = io.StringIO()
    printer = ProgressPrinter(log)
    printer(Progress("audit", seconds=0.7, status="failed"))
    printer(Progress("fix", 1, 4, "100 records fixed", seconds=2.0, status="interrupted"))
    printer(Progress("done"))
    assert log.getvalue().splitlines() == [
        "audit    failed    0.7s",
        "fix      interrupted [#######.....................] 1/4  100 records fixed    2.0s",
    ]


def test_a_skipped_check_is_counted_apart_from_passed_and_failed():
    skipped = REPORT.model_copy(
        update={"checks": [Check(name="no missing", status="PASS"), Check(name="live test", status="SKIPPED")]}
    )
    assert outcome_line(skipped) == "succeeded: 3 of 3 changes applied; 1 of 1 checks passed, 1 skipped"


def test_a_failed_step_ends_in_its_reason_and_a_hint_for_its_error():
    failed = REPORT.model_copy(update={"outcome": "failed", "failures": ["ConfigError: bad stage"]})
    log = Path("/out/r/lambda.log")
    assert failure_lines(failed, FailedStep("audit", "ConfigError", "bad stage"), log) == [
        "failed at audit: bad stage",
        "hint: fix the config file; a stage may be named by its value or by its label",
    ]
    # an error without a hint of its own points at the log; a failure no step raised is the report's reason
    assert failure_lines(failed, FailedStep("fix", "CapExceededError", "over the cap"), log)[1] == (
        "hint: details in /out/r/lambda.log"
    )
    assert failure_lines(failed, None, log) == ["failed: ConfigError: bad stage", "details: /out/r/lambda.log"]


COMPANY_STAGES = StageCatalog.from_property(
    ObjectType.COMPANIES,
    {
        "options": [
            {"value": v, "label": v.title(), "displayOrder": i} for i, v in enumerate(["lead", "customer", "other"])
        ]
    },
)


def test_the_audit_table_shows_counts_shares_and_what_the_rules_would_fix_with_totals():
    counts = StageCounts(total=20, missing=4, by_stage={"lead": 10, "customer": 3, "other": 2}, unrecognised=1)
    snapshot = AuditSnapshot(taken_at=AT, counts={ObjectType.COMPANIES: counts})
    assert audit_table({ObjectType.COMPANIES: COMPANY_STAGES}, snapshot, GuardConfig()).splitlines() == [
        "companies                       records   share  would fix",
        "Lead                                 10   50.0%",
        "Customer                              3   15.0%",
        "Other                                 2   10.0%          2",
        "(not a stage of this portal)          1    5.0%",
        "(no stage)                            4   20.0%          4",
        "total                                20  100.0%          6",
    ]


def test_an_interrupted_run_says_what_it_wrote_where_its_journal_is_and_how_to_undo():
    stopped = InterruptedRun("r1", 1234, Path("/out/r1/journal.jsonl"), [], handler_abandoned=False)
    undo = "lifecycle-guard undo --run-id r1 --hubspot-url http://h --apply"
    assert interrupted_line(stopped, action="run", apply=True, undo_command=undo) == (
        "interrupted after 1,234 records written; journal at /out/r1/journal.jsonl; re-run to finish or "
        "`lifecycle-guard undo --run-id r1 --hubspot-url http://h --apply`"
    )
    assert interrupted_line(stopped, action="run", apply=True, undo_command=None).startswith(
        "interrupted after 1,234 records written to the built-in sandbox, whose portal ends with this process"
    )
    abandoned = InterruptedRun("u1", 0, None, [], handler_abandoned=True, batches_abandoned=1)
    assert interrupted_line(abandoned, action="undo", apply=True, undo_command=undo) == (
        "interrupted after 0 records restored; nothing was journaled; the batch in flight was abandoned, the next "
        "run finishes it; re-run the undo to finish"
    )
    assert interrupted_line(stopped, action="run", apply=False, undo_command=undo) == (
        "interrupted: a dry run, nothing was written"
    )
    early = InterruptedRun("r2", 0, None, [], handler_abandoned=False)
    assert interrupted_line(early, action="run", apply=True, undo_command=undo) == (
        "interrupted before it changed any record"
    )
    # an undo says what became of the prevention flows it had switched off
    resumed = InterruptedRun("u2", 5, None, [], handler_abandoned=False, flows_resumed=FlowsResumed(["1", "2"]))
    assert interrupted_line(resumed, action="undo", apply=True, undo_command=undo) == (
        "interrupted before it changed any record; its prevention workflows are back on (2 switched on)"
    )
    left_off = InterruptedRun(
        "u3", 5, Path("/out/u3/journal.jsonl"), [], handler_abandoned=False, flows_resumed=FlowsResumed([], "HTTP 503")
    )
    assert interrupted_line(left_off, action="undo", apply=True, undo_command=undo) == (
        "interrupted after 5 records restored; journal at /out/u3/journal.jsonl; its prevention workflows stay off "
        "(HTTP 503): the next undo or run switches them back on; re-run the undo to finish"
    )
    # a handler left between two batches abandoned no write
    between = InterruptedRun("r3", 0, None, [], handler_abandoned=True, batches_abandoned=0)
    assert interrupted_line(between, action="run", apply=True, undo_command=undo) == (
        "interrupted before it changed any record"
    )


def test_a_dry_runs_table_shows_the_after_state_its_plan_would_leave():
    dry = REPORT.model_copy(update={"mode": "dry-run", "after": snapshot(5, 2, 3), "planned_after": snapshot(8, 2, 0)})
    rows = [line.split() for line in report_table(dry).splitlines() if line]
    assert rows[0] == ["contacts", "before", "planned", "change"]
    assert rows[1] == ["Lead", "5", "8", "+3"]


def test_an_undos_line_counts_what_the_workers_restored_and_a_dry_run_what_it_would():
    # GIVEN an undo that cut 3 restores into fix jobs, of which the workers applied 2 (the third record changed
    # before its write: left alone, as are 2 the undo found changed since the run)
    undo = REPORT.model_copy(update={"action": "undo", "fix": FixSummary(applied=2, skipped=3)})
    applied = undo.model_copy(update={"restores": RestoreCheck(checked=2, held=2)})
    # THEN its line says what the workers applied, not what was planned, and how many of those hold
    assert outcome_line(applied) == (
        "succeeded: restored 2 records (2 hold the restored value); 3 left alone (changed since the run)"
    )
    # ... and a dry run, whose jobs never run, what it would restore: its plan
    dry = undo.model_copy(update={"mode": "dry-run", "fix": FixSummary(skipped=2), "restores": RestoreCheck()})
    assert outcome_line(dry) == "succeeded: would restore 3 records; 2 left alone (changed since the run)"


def test_an_undo_whose_restores_did_not_all_hold_shows_the_split_beside_the_failed_check():
    # GIVEN an undo whose read-back found restores set again by a workflow and one changed by someone else
    restores = RestoreCheck(checked=5, held=2, reset_by_workflow=2, changed_since=1)
    failed = Check(name="restored values held", status="FAIL", expected="all 5", actual="2 of 5 held")
    undo = REPORT.model_copy(
        update={"action": "undo", "outcome": "checks_failed", "restores": restores, "checks": [failed]}
    )
    # THEN its line names the failed check and the held / set again / changed split, and the records restored
    # already by an interrupted undo
    assert outcome_line(undo.model_copy(update={"already_restored": 4})) == (
        "checks failed (restored values held): restored 3 records (2 hold the restored value, 2 set again by a "
        "workflow, 1 changed by someone else since); 4 restored already; 0 left alone (changed since the run)"
    )
