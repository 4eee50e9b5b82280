"""The report: a self-contained HTML page and a run summary small enough for any execution output."""

import json
import re
from datetime import UTC, datetime

from lifecycle_guard.audit import AuditSnapshot, StageCounts
from lifecycle_guard.changes import ChangedRecord
from lifecycle_guard.config import GuardConfig, Mode
from lifecycle_guard.contracts import ExecutionInfo, ExecutionState, ProgressStatus, RunContext, UndoCursor
from lifecycle_guard.jobs import RuleCount
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.overrides import Override
from lifecycle_guard.pending import QuarantinedMarker
from lifecycle_guard.rejections import RejectedRecord, RejectedRecords
from lifecycle_guard.report_builder import build_report
from lifecycle_guard.report_html import render_html
from lifecycle_guard.reporting import FixSummary, RunReport
from lifecycle_guard.tracker import RunState
from lifecycle_guard.undo import RestoreCheck
from lifecycle_guard.verification import Check

AT = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
STAGES = [("lead", "Lead"), ("7001", "<Nurture & Co>"), ("customer", "Customer")]


def counts(lead, nurture, customer, missing):
    return StageCounts(
        total=lead + nurture + customer + missing,
        missing=missing,
        by_stage={"lead": lead, "7001": nurture, "customer": customer},
        unrecognised=0,
    )


def report(**changes) -> RunReport:
    fields = {
        "run_id": "nightly-1",
        "action": "run",
        "mode": "apply",
        "source": "schedule",
        "outcome": "succeeded",
        "started_at": AT,
        "finished_at": AT,
        "stages": dict.fromkeys(ObjectType, STAGES),
        "before": AuditSnapshot(taken_at=AT, counts={t: counts(5, 1, 2, 4) for t in ObjectType}),
        "after": AuditSnapshot(taken_at=AT, counts={t: counts(8, 1, 3, 0) for t in ObjectType}),
        "changes": [
            RuleCount(object_type=ObjectType.CONTACTS, rule="missing:primary_company", kind="forward", planned=4)
        ],
        "checks": [Check(name="no contacts missing a stage", status="PASS", expected="0", observed="0")],
    }
    return RunReport(**(fields | changes))


def test_the_page_is_self_contained_and_escapes_portal_text():
    page = render_html(report(portal_id=42))
    # nothing is loaded from anywhere; the only addresses are links into the portal in HubSpot
    assert not re.search(r"<script|<link|@import|url\(|src=", page)
    assert set(re.findall(r"https?://[^/]+", page)) <= {"https://app.hubspot.com"}
    assert page.count("<svg") == 2  # a before/after funnel per object type
    assert "&lt;Nurture &amp; Co&gt;" in page
    assert "<Nurture" not in page
    assert ">8<" in page  # the after-count of lead is drawn


def test_summary_is_small_and_names_why_a_run_failed():
    failures = [f"fix job {n:06d}-contacts-forward failed: {'x' * 200}" for n in range(5000)]
    failed = report(
        outcome="checks_failed",
        failures=failures,
        checks=[Check(name="live prevention test: new contacts get a stage", status="FAIL")],
    )
    summary = failed.summary().model_dump(mode="json")
    assert len(json.dumps(summary)) < 16_000
    assert summary["error"] == "LifecycleGuard.ChecksFailed"
    assert summary["cause"].startswith("fix job 000000-contacts-forward failed")
    assert len(summary["cause"]) <= 1000
    assert summary["checks"] == {"live prevention test: new contacts get a stage": "FAIL"}


def test_a_succeeded_summary_has_no_error():
    summary = report().summary().model_dump(mode="json")
    assert (summary["error"], summary["cause"]) == (None, None)
    assert summary["changes_by_rule"] == {"contacts missing:primary_company": 4}
    assert summary["before"]["contacts"] == {"total": 12, "missing": 4, "unrecognised": 0}


def config_rows(page: str) -> dict[str, tuple[str, str, str]]:
    """The "Config of this run" table: setting -> (this run, deployed, marker)."""
    section = page.split("<h2>Config of this run</h2>", 1)[1].split("<h2>", 1)[0]
    cells = r"<td[^>]*>(.*?)</td>"
    return {row[0]: row[1:] for row in re.findall(f"<tr>{cells}{cells}{cells}{cells}</tr>", section)}


def test_the_page_shows_the_effective_config_and_every_override_loosening_marked():
    # GIVEN a run whose input raised a cap (allowed explicitly) and switched prevention off
    config = GuardConfig.model_validate({"caps": {"max_percent": 90}, "prevention": {"enabled": False}})
    overrides = [
        Override(path="caps.max_percent", deployed=20, effective=90, loosens=True),
        Override(path="prevention.enabled", deployed=True, effective=False, loosens=False),
    ]
    # WHEN its report page is rendered
    page = render_html(report(config=config.model_dump(mode="json"), overrides=overrides))
    rows = config_rows(page)
    # THEN every setting is there with the value the run used ...
    assert rows["budget.daily_watermark"] == ("10000", "", "")
    assert rows["contacts.disallowed"][0].startswith("{&quot;subscriber&quot;: &quot;lead&quot;")
    assert rows["fix.batch_size"] == ("100", "", "")
    # ... the overridden ones with their deployed value, the loosening one marked so it stands out
    assert rows["caps.max_percent"] == ("90", "20", '<span class="FAIL">override: loosens safety</span>')
    assert rows["prevention.enabled"] == ("false", "true", "override")
    assert "2 settings overridden by the execution input, 1 of them loosening safety" in page


def test_the_page_says_when_the_config_is_not_known():
    page = render_html(report(outcome="failed", failures=["Begin failed"]))
    assert "Not known: the run did not get past Begin" in page.split("<h2>Config of this run</h2>", 1)[1]


def test_an_admin_sees_why_first_the_rules_in_words_each_changed_record_and_the_checks_tally():
    failed_check = Check(name="no contacts missing a stage", status="FAIL", observed="3")
    skipped_check = Check(name="live prevention test", status="SKIPPED", detail="dry run")
    changed = ChangedRecord(
        object_type=ObjectType.CONTACTS,
        object_id="101",
        label="Ada <ada@example.com>",
        before="7001",
        after="lead",
        target="lead",
        rule="evangelist:no_qualifying_company",
        outcome="applied",
    )
    rule = RuleCount(
        object_type=ObjectType.CONTACTS,
        rule="evangelist:no_qualifying_company",
        kind="backward",
        planned=6,
        target="lead",
        description="Evangelist → Lead: primary company (if any) is not Customer",
    )
    page = render_html(
        report(
            outcome="checks_failed",
            portal_id=42,
            checks=[failed_check, skipped_check],
            changes=[rule],
            changed_records=[changed],
            changed_total=1,
        )
    )
    # the reason the run did not succeed comes before the charts
    assert page.index("check failed: no contacts missing a stage") < page.index("<svg")
    assert "Evangelist → Lead: primary company (if any) is not Customer</td>" in page
    assert '<a href="https://app.hubspot.com/contacts/42/record/0-1/101">Ada &lt;ada@example.com&gt;</a>' in page
    assert "<td>&lt;Nurture &amp; Co&gt;</td><td>Lead</td>" in page  # before -> after, by the portal's labels
    assert "1 passed, 1 failed, 1 skipped" not in page
    assert "0 passed, 1 failed, 1 skipped" in page
    assert ">True<" not in page


def test_a_dry_run_previews_the_after_state():
    planned = AuditSnapshot(taken_at=AT, counts={t: counts(9, 1, 2, 0) for t in ObjectType})
    page = render_html(report(mode="dry-run", planned_after=planned))  # after: the untouched portal
    assert "after (planned: dry run, nothing written)" in page
    assert ">9<" in page  # the planned lead count is drawn


def test_a_dry_run_shows_the_fix_jobs_it_planned_and_an_applied_run_what_its_jobs_did():
    dry = render_html(report(mode="dry-run", fix=FixSummary(jobs_planned=3)))
    assert "<p>3 fix jobs planned; a dry run runs none of them.</p>" in dry
    applied = render_html(report(fix=FixSummary(jobs_planned=3, jobs_total=3, jobs_done=3, applied=30)))
    assert "fix jobs planned" not in applied
    assert '<th class="n">failed writes</th>' in applied


def test_the_page_lists_refused_records_by_reason_and_the_quarantined_markers():
    refused = RejectedRecords(
        reason="validation rule",
        count=2,
        records=[
            RejectedRecord(
                object_type="contacts", object_id="101", value="lead", detail="VALIDATION_ERROR: <b>no</b> leads"
            )
        ],
    )
    marker = QuarantinedMarker(
        key="work/quarantine/old/000001-contacts-backward-0000.json",
        marker_key="work/pending/old/000001-contacts-backward-0000.json",
        reason="its body names run 'other', its key run 'old'",
        quarantined_by="nightly-1",
        quarantined_at=AT,
    )
    page = render_html(report(rejected=[refused], quarantined=[marker]))
    assert "validation rule: 2 (the first 1 listed; the journal has all)" in page
    assert ">101<" in page
    assert "&lt;b&gt;no&lt;/b&gt; leads" in page
    assert "work/quarantine/old/000001-contacts-backward-0000.json" in page
    assert "its body names run &#x27;other&#x27;" in page


def test_the_page_warns_of_records_left_pending_recovery_and_only_then():
    stopped = render_html(report(outcome="failed", fix=FixSummary(pending_recovery=14)))
    assert "14 records are in write batches this run left unfinished" in stopped
    assert "left unfinished" not in render_html(report())


def undo_report(state: ExecutionState, tracker: RunState) -> RunReport:
    run = RunContext(
        run_id="undo-nightly-1",
        action="undo",
        mode=Mode.APPLY,
        source="console",
        started_at=AT,
        prefix="runs/2026/11/25/undo-nightly-1/",
        config=GuardConfig(),
        stages=dict.fromkeys(ObjectType, STAGES),
        undo_run_id="nightly-1",
        undo_prefix="runs/2026/11/25/nightly-1/",
    )
    execution = ExecutionInfo(id="arn:execution:undo-nightly-1", name="undo-nightly-1", start_time=AT)
    return build_report(execution, run, state, tracker, planned=[], residue=[], files={}, finished_at=AT)


def test_an_undos_report_counts_what_its_workers_restored_and_every_record_left_alone():
    # GIVEN an undo that cut 5 restores into fix jobs and left 2 records alone (changed since the run), whose workers
    # applied 4 restores and found 1 record changed before they wrote it; read back with the flows on again
    after = AuditSnapshot(taken_at=AT, counts={t: counts(6, 1, 2, 3) for t in ObjectType})
    state = ExecutionState(
        undo=UndoCursor(done=True, next_job=1, to_restore={"contacts": 5}, skipped={"contacts": 2}),
        progress=ProgressStatus(jobs_total=1, jobs_done=1, done=True),
        restores=RestoreCheck(checked=4, held=4, after=after),
    )
    tracker = RunState(status="running", jobs_total=1, jobs_done=1, applied=4, skipped=1)
    # WHEN its report is built
    built = undo_report(state, tracker)
    # THEN it planned 5 restores and applied the 4 the workers did, left 3 alone, and its after-counts are the ones
    # read with the restores
    summary = built.summary()
    assert (summary.changes_planned, summary.changes_applied) == (5, 4)
    assert built.fix.skipped == 3
    assert built.after == after
    assert built.outcome == "succeeded"
