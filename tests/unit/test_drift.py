"""Drift across runs: the points runs leave, the bounded look-back, and how the report shows the trend."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from lifecycle_guard.drift import LOOKBACK_DAYS, LOOKBACK_RUNS, RunPoint, previous_points, store_point, trend
from lifecycle_guard.jobs import RuleCount
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.offenders import SourceCount
from lifecycle_guard.report_html import render_html
from lifecycle_guard.reporting import RunReport
from lifecycle_guard.sources import ValueSource
from lifecycle_guard.storage import MemoryStore

AT = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
CONTACTS = ObjectType.CONTACTS
LEADSYNC = ValueSource(source_type="INTEGRATION", source_id="2190533")
NEW_IMPORT = ValueSource(source_type="IMPORT", source_id="99", label="New list <2026>.csv")


def point(run_id: str, at: datetime, **by_source: int) -> RunPoint:
    return RunPoint(
        run_id=run_id,
        started_at=at,
        mode="apply",
        fixed=sum(by_source.values()),
        by_rule={"contacts missing:primary_company": sum(by_source.values())},
        by_source={f"contacts {key}": n for key, n in by_source.items()},
    )


def test_the_trend_names_the_sources_new_since_the_last_run_and_the_change_in_records_fixed():
    first = point("r1", AT, **{"INTEGRATION:2190533": 40})
    second = point("r2", AT + timedelta(days=1), **{"INTEGRATION:2190533": 10, "IMPORT:99": 25})
    drift = trend([first], second)
    assert drift.new_sources == ["contacts IMPORT:99"]
    assert drift.fixed_change == -5
    assert drift.rising == 0
    assert trend([second], point("r3", AT + timedelta(days=2), **{"IMPORT:99": 60})).rising == 25
    alone = trend([], first)
    assert (alone.new_sources, alone.fixed_change, alone.rising) == ([], None, 0)


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


def report_with(drift_points: list[RunPoint]) -> RunReport:
    sources = [
        SourceCount(object_type=CONTACTS, source=NEW_IMPORT, missing=25, sample=["901", "902"]),
        SourceCount(object_type=CONTACTS, source=LEADSYNC, missing=10),
    ]
    return RunReport(
        run_id="nightly-3",
        action="run",
        mode="apply",
        source="schedule",
        outcome="succeeded",
        started_at=AT,
        finished_at=AT,
        portal_id=42,
        changes=[RuleCount(object_type=CONTACTS, rule="missing:primary_company", kind="forward", planned=35)],
        sources=sources,
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
    assert "35 records fixed this run, 15 more than the run before" in page
    assert re.search(r"New offenders since the last run</h3><ul><li>import &quot;New list", page)
    assert page.count("<polyline") >= 3  # fixed per run, by rule, by source


def test_the_summary_says_in_one_line_where_the_fixed_records_came_from():
    runs = [point("r1", AT, **{"INTEGRATION:2190533": 50}), point("r3", AT + timedelta(days=1), **{"IMPORT:99": 35})]
    summary = report_with(runs).summary()
    assert summary.where_from == (
        '35 records fixed; 100% from: import "New list <2026>.csv" 25 contacts, integration app 2190533 10 contacts'
    )
    assert summary.fixed_by_source == {"contacts IMPORT:99": 25, "contacts INTEGRATION:2190533": 10}
    assert summary.fixed_change == -15
