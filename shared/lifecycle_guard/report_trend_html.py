"""The report's "Where do they come from" and "Across runs" sections: charts as inline SVG and tables, every
portal string escaped (``report_html`` renders the rest of the page)."""

from __future__ import annotations

import html

from lifecycle_guard.changes import record_link
from lifecycle_guard.drift import LOOKBACK_DAYS, Drift, RunPoint
from lifecycle_guard.html_parts import Link, table
from lifecycle_guard.offenders import SourceCount, source_link
from lifecycle_guard.reporting import RunReport

CHART_SOURCES = 10
_MISSING, _DISALLOWED, _LINE = "#d97706", "#b42318", "#2f6fb3"


def _bar_chart(counts: list[SourceCount]) -> str:
    """One stacked bar per source, worst first: records it left without a stage, and at a disallowed one."""
    shown = counts[:CHART_SOURCES]
    if not shown:
        return ""
    peak = max(count.total for count in shown)
    bar, gap, left, width = 14, 8, 330, 380
    height = len(shown) * (bar + gap) + 10
    parts = [f'<svg role="img" aria-label="records fixed by source" width="{left + width + 70}" height="{height}">']
    y = 4
    for count in shown:
        label = f"{count.source.describe()} ({count.object_type.value})"
        parts.append(f'<text x="0" y="{y + bar - 3}" font-size="12">{html.escape(label[:52])}</text>')
        x = left
        for value, colour in ((count.missing, _MISSING), (count.disallowed, _DISALLOWED)):
            length = round(width * value / peak)
            parts.append(f'<rect x="{x}" y="{y}" width="{length}" height="{bar}" fill="{colour}"/>')
            x += length
        parts.append(f'<text x="{x + 4}" y="{y + bar - 3}" font-size="11">{count.total:,}</text>')
        y += bar + gap
    parts.append("</svg>")
    return "".join(parts)


def sources_section(report: RunReport) -> str:
    """Records fixed by the source of their bad value, top offenders first, linked to the source and to records."""
    counts = report.sources
    portal = report.portal_id
    rows = [
        [
            Link(count.source.describe(), source_link(portal, count.source)),
            count.object_type.value,
            f"{count.missing:,}",
            f"{count.disallowed:,}",
            f"{count.total:,}",
            ", ".join(count.sample),
        ]
        for count in counts
    ]
    records = "".join(
        f"<li>{html.escape(count.source.describe())}: {_record_links(report, count)}</li>" for count in counts[:5]
    )
    return (
        "<h2>Where do they come from</h2>"
        '<p class="note">What gave each record its bad value, from HubSpot\'s lifecycle stage history: what set a '
        "disallowed stage; what cleared the stage, or created the record without one.</p>"
        f'<p class="legend"><span style="background:{_MISSING}"></span>no stage'
        f'<span style="background:{_DISALLOWED}"></span>disallowed stage</p>'
        + _bar_chart(counts)
        + table(["source", "object", "no stage", "disallowed", "records", "first records"], rows, {2, 3, 4})
        + (f"<p>Records of the worst sources:</p><ul>{records}</ul>" if records else "")
    )


def _record_links(report: RunReport, count: SourceCount) -> str:
    links = [(object_id, record_link(report.portal_id, count.object_type, object_id)) for object_id in count.sample]
    return ", ".join(
        f'<a href="{html.escape(href)}">{html.escape(object_id)}</a>' if href else html.escape(object_id)
        for object_id, href in links
    )


def _line_chart(runs: list[RunPoint], series: dict[str, list[int]], title: str) -> str:
    """Lines over the runs, oldest left; each series labelled at its last point."""
    if len(runs) < 2 or not series:
        return ""
    left, width, top, height = 40, 560, 20, 160
    peak = max([1] + [value for values in series.values() for value in values])
    step = width / (len(runs) - 1)
    parts = [f'<svg role="img" aria-label="{html.escape(title)}" width="{left + width + 220}" height="{height + 50}">']
    parts.append(f'<text x="0" y="12" font-weight="600">{html.escape(title)}</text>')
    for i, run in enumerate(runs):
        parts.append(
            f'<text x="{left + i * step:.0f}" y="{top + height + 16}" font-size="10" text-anchor="middle">'
            f"{run.started_at:%m-%d %H:%M}</text>"
        )
    for name, values in series.items():
        points = " ".join(
            f"{left + i * step:.0f},{top + height - height * value / peak:.0f}" for i, value in enumerate(values)
        )
        parts.append(f'<polyline fill="none" stroke="{_LINE}" stroke-width="2" points="{points}"/>')
        last_y = top + height - height * values[-1] / peak
        parts.append(
            f'<text x="{left + width + 6}" y="{last_y + 4:.0f}" font-size="11">{html.escape(name[:34])}: '
            f"{values[-1]:,}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _before_series(runs: list[RunPoint]) -> dict[str, list[int]]:
    """Records without a stage before each run, per object type."""
    kinds = sorted({t for run in runs if run.before for t in run.before})
    return {
        f"{t.value} without a stage": [run.before[t].missing if run.before and t in run.before else 0 for run in runs]
        for t in kinds
    }


def _source_series(runs: list[RunPoint]) -> dict[str, list[int]]:
    """Records fixed per run by the sources worst in this run."""
    names = {key: name for run in runs for key, name in run.source_names.items()}
    keys = sorted({key for run in runs for key in run.by_source}, key=lambda k: (-runs[-1].by_source.get(k, 0), k))
    return {names.get(k, k): [run.by_source.get(k, 0) for run in runs] for k in keys[:CHART_SOURCES]}


def _new_offenders(drift: Drift) -> str:
    last = drift.runs[-1]
    items = [
        f"{last.source_names.get(key, key)} ({key.split(' ', 1)[0]}): {last.by_source[key]:,} records"
        for key in drift.new_sources
    ]
    listed = "".join(f"<li>{html.escape(item)}</li>" for item in items)
    return "<h3>New offenders since the last run</h3>" + (f"<ul>{listed}</ul>" if listed else "<p>none</p>")


def drift_section(drift: Drift | None) -> str:
    """Records fixed per run by rule and by source, the counts before each run, and the new offenders."""
    if drift is None:
        return ""
    runs = drift.runs
    if len(runs) < 2:
        return '<h2>Across runs</h2><p class="note">The first run in the look-back: the trend starts with the next.</p>'
    rules = sorted({rule for run in runs for rule in run.by_rule})
    change = drift.fixed_change or 0
    headline = (
        f"{runs[-1].fixed:,} records fixed this run, {abs(change):,} {'more' if change >= 0 else 'fewer'} than "
        f"the run before ({len(runs)} runs in the last {LOOKBACK_DAYS} days shown)."
    )
    return (
        "<h2>Across runs</h2>"
        f"<p>{html.escape(headline)}</p>"
        + _line_chart(runs, {"records fixed": [run.fixed for run in runs]}, "Records fixed per run")
        + _line_chart(runs, {rule: [run.by_rule.get(rule, 0) for run in runs] for rule in rules}, "By rule")
        + _line_chart(runs, _source_series(runs), "By source")
        + _line_chart(runs, _before_series(runs), "Before each run")
        + _new_offenders(drift)
        + table(
            ["run", "started", "mode", "fixed", *rules],
            [
                [run.run_id, f"{run.started_at:%Y-%m-%d %H:%M}", run.mode, f"{run.fixed:,}"]
                + [f"{run.by_rule.get(rule, 0):,}" for rule in rules]
                for run in runs
            ],
            set(range(3, 4 + len(rules))),
        )
    )
