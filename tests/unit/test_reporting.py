"""The report: a self-contained HTML page and a run summary small enough for any execution output."""

import json
import re
from datetime import UTC, datetime

from lifecycle_guard.audit import AuditSnapshot, StageCounts
from lifecycle_guard.jobs import RuleCount
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.pending import QuarantinedMarker
from lifecycle_guard.rejections import RejectedRecord, RejectedRecords
from lifecycle_guard.report_html import render_html
from lifecycle_guard.reporting import RunReport
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
    page = render_html(report())
    assert not re.search(r"<script|<link|@import|url\(|src=|https?://", page)
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
