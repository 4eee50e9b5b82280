"""Drift across runs: the points runs leave, the bounded look-back, and how the report shows the trend."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from lifecycle_guard.audit import AuditSnapshot, StageCounts
from lifecycle_guard.drift import (
    LOOKBACK_DAYS,
    LOOKBACK_RUNS,
    RunPoint,
    previous_points,
    run_point,
    store_point,
    trend,
)
from lifecycle_guard.jobs import RuleCount
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.offenders import SourceCount, linked
from lifecycle_guard.report_html import render_html
from lifecycle_guard.reporting import RunOutcome, RunReport
from lifecycle_guard.sources import ValueSource
from lifecycle_guard.storage import MemoryStore

AT = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
CONTACTS = ObjectType.CONTACTS
LEADSYNC = ValueSource(source_type="INTEGRATION", source_id="2190533")
NEW_IMPORT = ValueSource(source_type="IMPORT", source_id="99", label="New list <2026>.csv")


def point(
    run_id: str, at: datetime, mode: str = "apply", outcome: str | None = "succeeded", **by_source: int
) -> RunPoint:
    return RunPoint(
        run_id=run_id,
        started_at=at,
        mode=mode,
        outcome=outcome,
        fixed=sum(by_source.values()),
        by_rule={"contacts missing:primary_company": sum(by_source.values())},
        by_source={f"contacts {key}": n for key, n in by_source.items()},
    )


def test_the_trend_names_the_sources_new_since_the_last_run_and_the_change_in_records_fixed():
    first = point("r1", AT, **{"INTEGRATION:2190533": 40})
    second = point("r2", AT + timedelta(days=1), outcome=None, **{"INTEGRATION:2190533": 10, "IMPORT:99": 25})
    drift = trend([first], second)
    assert (drift.baseline, drift.new_sources) == ("r1", ["contacts IMPORT:99"])
    assert drift.fixed_change == -5
    assert drift.rising == 0
    assert (
        trend([second.model_copy(update={"outcome": "succeeded"})], point("r3", AT, **{"IMPORT:99": 60})).rising == 25
    )
    alone = trend([], first)
    assert (alone.baseline, alone.new_sources, alone.fixed_change, alone.rising) == (None, [], None, 0)


def test_only_a_run_that_succeeded_is_a_baseline():
    # GIVEN a run that succeeded, then one that failed part way (it fixed 3 of its records) and one of an old
    # version (no outcome kept)
    succeeded = point("r1", AT, **{"INTEGRATION:2190533": 40})
    failed = point("r2", AT + timedelta(days=1), outcome="failed", **{"INTEGRATION:2190533": 3})
    unknown = point("r3", AT + timedelta(days=2), outcome=None, **{"INTEGRATION:2190533": 2})
    # WHEN the next run finishes the records the failed run did not
    drift = trend([succeeded, failed, unknown], point("r4", AT + timedelta(days=3), **{"INTEGRATION:2190533": 42}))
    # THEN it is compared with the run that succeeded: 2 more, not 39 (no false alarm), yet all runs are shown
    assert (drift.baseline, drift.fixed_change, drift.rising) == ("r1", 2, 2)
    assert [run.run_id for run in drift.runs] == ["r1", "r2", "r3", "r4"]
    # ... and with none that succeeded there is nothing to compare with
    assert trend([failed], point("r4", AT, **{"IMPORT:99": 42})).fixed_change is None


def test_a_finished_trend_carries_the_runs_outcome_for_the_runs_after_it():
    drift = trend([point("r1", AT, **{"IMPORT:99": 4})], point("r2", AT, outcome=None, **{"IMPORT:99": 5}))
    finished = drift.finished("checks_failed")
    assert [run.outcome for run in finished.runs] == ["succeeded", "checks_failed"]
    assert drift.runs[-1].outcome is None  # a copy


def test_a_point_counts_the_records_at_a_stage_its_runs_rules_disallow():
    counts = StageCounts(total=10, missing=3, by_stage={"subscriber": 2, "other": 1, "lead": 4}, unrecognised=0)
    before = AuditSnapshot(taken_at=AT, counts={CONTACTS: counts})
    made = run_point("r1", AT, "apply", [], before, [], {CONTACTS: ("subscriber", "other", "evangelist")})
    assert made.before_disallowed == {CONTACTS: 3}
    assert run_point("r1", AT, "apply", [], None, [], {CONTACTS: ("other",)}).before_disallowed == {}


def test_the_look_back_reads_only_recent_earlier_runs_and_at_most_its_count():
    store = MemoryStore()
    now = AT + timedelta(days=200)
    store_point(store, point("ancient", now - timedelta(days=LOOKBACK_DAYS + 1)))
    for day in range(LOOKBACK_RUNS + 3):
        store_point(store, point(f"d{day:02d}", now - timedelta(days=LOOKBACK_RUNS + 3 - day)))
    store_point(store, point("later", now + timedelta(hours=1)))  # started after this run: not "previous"
    store.put("runs/summaries/20261125T050000-broken.json", b"{not json")
    current = point("now", now)
    found = [p.run_id for p in previous_points(store, current)]
    assert found == [f"d{day:02d}" for day in range(4, LOOKBACK_RUNS + 3)]  # the newest 11, oldest first
    assert len(found) == LOOKBACK_RUNS - 1
    # ... and of those only the runs of its own mode: a dry run and the apply run after it count the same records
    store_point(store, point("dry", now - timedelta(minutes=5), mode="dry-run"))
    assert "dry" not in [p.run_id for p in previous_points(store, current)]
    assert [p.run_id for p in previous_points(store, point("now", now, mode="dry-run"))] == ["dry"]


def report_with(drift_points: list[RunPoint], outcome: RunOutcome = "succeeded") -> RunReport:
    sources = [
        SourceCount(object_type=CONTACTS, source=NEW_IMPORT, missing=25, sample=["901", "902"]),
        SourceCount(object_type=CONTACTS, source=LEADSYNC, missing=10),
    ]
    return RunReport(
        run_id="nightly-3",
        action="run",
        mode="apply",
        source="schedule",
        outcome=outcome,
        started_at=AT,
        finished_at=AT,
        portal_id=42,
        changes=[RuleCount(object_type=CONTACTS, rule="missing:primary_company", kind="forward", planned=35)],
        sources=linked(sources, 42),
        drift=trend(drift_points[:-1], drift_points[-1]),
    )


def test_the_page_shows_where_records_come_from_and_the_trend_across_runs():
    runs = [
        point("r1", AT, **{"INTEGRATION:2190533": 40}),
        point("r2", AT + timedelta(days=1), **{"INTEGRATION:2190533": 20}),
        point("r3", AT + timedelta(days=2), **{"INTEGRATION:2190533": 10, "IMPORT:99": 25}),
    ]
    runs[-1].source_names["contacts IMPORT:99"] = NEW_IMPORT.describe()
    page = render_html(report_with(runs))
    assert "<h2>Where do they come from</h2>" in page
    assert "&quot;New list &lt;2026&gt;.csv&quot;" in page  # the portal's names are escaped
    assert "<2026>" not in page
    assert 'href="https://app.hubspot.com/contacts/42/record/0-1/901"' in page  # its records, linked
    assert 'href="https://app.hubspot.com/import/42/past-imports"' in page
    assert "<h2>Across runs</h2>" in page
    assert "35 records fixed this run, 15 more than r2, the last apply run before it that succeeded" in page
    assert re.search(r"New offenders since the last successful run</h3><ul><li>import &quot;New list", page)
    assert page.count("<polyline") >= 3  # fixed per run, by rule, by source


def test_report_json_links_each_source_and_its_records_into_the_portal():
    report = json.loads(report_with([point("r1", AT, **{"IMPORT:99": 25})]).model_dump_json())
    new_import = report["sources"][0]
    assert new_import["link"] == "https://app.hubspot.com/import/42/past-imports"
    assert new_import["record_links"] == {
        "901": "https://app.hubspot.com/contacts/42/record/0-1/901",
        "902": "https://app.hubspot.com/contacts/42/record/0-1/902",
    }
    # ... and without a portal id there is nothing to link to
    plain = SourceCount(object_type=CONTACTS, source=NEW_IMPORT, missing=1, sample=["901"])
    (unlinked,) = linked([plain], None)
    assert (unlinked.link, unlinked.record_links) == ("", {})


def test_the_summary_says_in_one_line_where_the_fixed_records_came_from():
    runs = [point("r1", AT, **{"INTEGRATION:2190533": 50}), point("r3", AT + timedelta(days=1), **{"IMPORT:99": 35})]
    summary = report_with(runs).summary()
    assert summary.where_from == (
        '35 records fixed; 100% from: import "New list <2026>.csv" 25 contacts, integration app 2190533 10 contacts'
    )
    assert summary.fixed_by_source == {"contacts IMPORT:99": 25, "contacts INTEGRATION:2190533": 10}
    assert (summary.fixed_change, summary.drift_records) == (-15, 0)


def test_the_drift_metric_is_the_rise_of_a_run_that_succeeded():
    runs = [point("r1", AT, **{"IMPORT:99": 20}), point("r2", AT + timedelta(days=1), **{"IMPORT:99": 35})]
    assert report_with(runs).summary().drift_records == 15
    # a run that failed or whose checks failed raises its own alarm; its count may be partial: no drift from it
    for outcome in ("failed", "checks_failed"):
        summary = report_with(runs, outcome).summary()
        assert (summary.fixed_change, summary.drift_records) == (15, 0)
