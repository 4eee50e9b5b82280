"""The "Across runs" charts: each line its own colour, labels that never sit on top of each other, the before-counts
of both kinds of bad record, every portal string escaped."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from lifecycle_guard.audit import StageCounts
from lifecycle_guard.drift import RunPoint, trend
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.report_trend_html import CHART_LINES, LABEL_GAP, LABEL_LENGTH, drift_section, spread_labels

AT = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
SOURCES = [f"contacts IMPORT:{n}" for n in range(5)]
LONG_NAME = 'import "Legacy CRM migration - companies, all regions.csv"'


def run(day: int, by_source: dict[str, int], **fields: object) -> RunPoint:
    return RunPoint(
        run_id=f"r{day}",
        started_at=AT + timedelta(days=day),
        mode="apply",
        outcome="succeeded",
        fixed=sum(by_source.values()),
        by_rule={"contacts missing:primary_company": sum(by_source.values())},
        by_source=by_source,
        source_names={key: f'import "list <{key.rsplit(":", 1)[1]}>.csv"' for key in by_source},
        **fields,
    )


def chart(page: str, title: str) -> str:
    match = re.search(rf'<svg role="img" aria-label="{title}".*?</svg>', page)
    assert match, f"no chart {title!r}"
    return match.group(0)


def labels(svg: str) -> dict[str, float]:
    """Each line's label (its text, without the value) and the y it is drawn at."""
    return {
        text.rsplit(":", 1)[0]: float(y)
        for y, text in re.findall(r'<text x="660" y="(\d+)" font-size="11">([^<]*)</text>', svg)
    }


def test_lines_ending_at_the_same_value_have_their_own_colour_and_labels_apart():
    # GIVEN five sources that each fixed 7 records in the last run (different numbers before)
    runs = [run(0, {key: n + 1 for n, key in enumerate(SOURCES)}), run(1, dict.fromkeys(SOURCES, 7))]
    # WHEN the trend is drawn
    svg = chart(drift_section(trend(runs[:1], runs[1])), "By source")
    # THEN each line has its own colour
    colours = re.findall(r'<polyline fill="none" stroke="(#[0-9a-f]{6})"', svg)
    assert len(colours) == len(set(colours)) == 5
    # ... and the five labels are at distinct heights, at least a label's height apart, within the chart
    found = labels(svg)
    assert len(found) == 5
    heights = sorted(found.values())
    assert all(lower - upper >= LABEL_GAP for upper, lower in pairwise(heights))
    assert heights[-1] <= 20 + 160 + 4
    # ... the portal's names escaped
    assert "import &quot;list &lt;0&gt;.csv&quot; (contacts)" in found
    assert "<0>" not in svg


def test_labels_stay_near_their_value_and_inside_the_chart_when_they_fit():
    # values apart stay where they are; a cluster at the bottom is lifted above it rather than pushed below
    assert spread_labels([50.0, 120.0], top=20, bottom=184) == [50.0, 120.0]
    placed = spread_labels([184.0, 184.0, 184.0], top=20, bottom=184)
    assert sorted(placed) == [184.0 - 2 * LABEL_GAP, 184.0 - LABEL_GAP, 184.0]
    # more labels than the chart holds run on below it, still apart
    crowded = spread_labels([100.0] * 20, top=20, bottom=184)
    assert len(set(crowded)) == 20
    assert min(crowded) == 100.0


def test_the_before_counts_show_records_without_a_stage_and_at_a_disallowed_stage():
    counts = [StageCounts(total=100, missing=m, by_stage={}, unrecognised=0) for m in (30, 4)]
    runs = [
        run(day, {"contacts IMPORT:1": 3}, before={ObjectType.CONTACTS: c}, before_disallowed={ObjectType.CONTACTS: d})
        for day, (c, d) in enumerate(zip(counts, (12, 9), strict=True))
    ]
    svg = chart(drift_section(trend(runs[:1], runs[1])), "Before each run")
    assert set(labels(svg)) == {"contacts without a stage", "contacts at a disallowed stage"}
    assert re.search(r">contacts without a stage: 4</text>", svg)
    assert re.search(r">contacts at a disallowed stage: 9</text>", svg)


def test_a_chart_draws_the_worst_ten_lines_and_cuts_long_names_but_not_the_object_type():
    # GIVEN twelve sources of companies, one with a long name, fixing 1 to 12 records in the last run
    keys = [f"companies IMPORT:{n:02d}" for n in range(12)]
    last = run(1, {key: n + 1 for n, key in enumerate(keys)})
    last.source_names[keys[-1]] = LONG_NAME
    svg = chart(drift_section(trend([run(0, dict.fromkeys(keys, 1))], last)), "By source")
    # THEN only the ten worst are drawn, the worst's name cut short of its object type
    assert svg.count("<polyline") == CHART_LINES == 10
    found = labels(svg)
    assert len(LONG_NAME) > LABEL_LENGTH
    assert "import &quot;Legacy CRM migration - companie… (companies)" in found
    assert len(found) == 10
    assert not any("&lt;00&gt;" in label or "&lt;01&gt;" in label for label in found)  # the two least: not drawn
