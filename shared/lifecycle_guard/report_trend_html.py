"""The report's "Where do they come from" and "Across runs" sections: charts as inline SVG and tables, every
portal string escaped (``report_html`` renders the rest of the page)."""

from __future__ import annotations

import html
from collections.abc import Sequence

from lifecycle_guard.drift import LOOKBACK_DAYS, Drift, RunPoint
from lifecycle_guard.html_parts import Link, cell, table
from lifecycle_guard.offenders import SourceCount
from lifecycle_guard.reporting import RunReport

CHART_SOURCES = 10
CHART_LINES = 10  # lines a trend chart draws at most (the table below them has every rule)
LABEL_LENGTH = 52
_MISSING, _DISALLOWED = "#d97706", "#b42318"
# One colour per line (Tableau 10, distinguishable in print and by most colour-blind readers); lines past the tenth
# are dashed.
_SERIES_COLOURS = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
LABEL_GAP = 13  # px between the baselines of two line labels: the 11 px text does not overlap


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
        label = _clipped(count.source.describe(), count.object_type.value)
        parts.append(f'<text x="0" y="{y + bar - 3}" font-size="12">{html.escape(label)}</text>')
        x = left
        for value, colour in ((count.missing, _MISSING), (count.disallowed, _DISALLOWED)):
            length = round(width * value / peak)
            parts.append(f'<rect x="{x}" y="{y}" width="{length}" height="{bar}" fill="{colour}"/>')
            x += length
        parts.append(f'<text x="{x + 4}" y="{y + bar - 3}" font-size="11">{count.total:,}</text>')
        y += bar + gap
    parts.append("</svg>")
    return "".join(parts)


def _clipped(name: str, object_type: str) -> str:
    """``name (object type)`` in at most ``LABEL_LENGTH`` characters: a long name is cut, never the object type
    that tells a source's contacts line from its companies line."""
    room = LABEL_LENGTH - len(object_type) - 3
    return f"{name if len(name) <= room else name[: room - 1] + '…'} ({object_type})"


def sources_section(report: RunReport) -> str:
    """Records fixed by the source of their bad value, top offenders first, linked to the source and to records."""
    counts = report.sources
    rows = [
        [
            Link(count.source.describe(), count.link),
            count.object_type.value,
            f"{count.missing:,}",
            f"{count.disallowed:,}",
            f"{count.total:,}",
            ", ".join(count.sample),
        ]
        for count in counts
    ]
    records = "".join(
        f"<li>{html.escape(count.source.describe())}: {_record_links(count)}</li>" for count in counts[:5]
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


def _record_links(count: SourceCount) -> str:
    return ", ".join(cell(Link(object_id, count.record_links.get(object_id, ""))) for object_id in count.sample)


def spread_labels(wanted: Sequence[float], top: float, bottom: float) -> list[float]:
    """Label baselines as near ``wanted`` as can be, ``LABEL_GAP`` apart: pushed down past the label above, then,
    if that took the lowest past ``bottom``, up again as far as ``top`` allows (too many to fit: they run on below
    ``bottom``)."""
    order = sorted(range(len(wanted)), key=wanted.__getitem__)
    placed = list(wanted)
    floor = top
    for i in order:
        placed[i] = floor = max(wanted[i], floor)
        floor += LABEL_GAP
    if (len(order) - 1) * LABEL_GAP <= bottom - top:
        ceiling = bottom
        for i in reversed(order):
            placed[i] = ceiling = min(placed[i], ceiling)
            ceiling -= LABEL_GAP
    return placed


def _line_chart(runs: list[RunPoint], series: dict[str, list[int]], title: str) -> str:
    """Lines over the runs, oldest left, each its own colour, labelled right of the chart at its last value (labels
    of equal or close values spread apart, each with its line's colour)."""
    if len(runs) < 2 or not series:
        return ""
    left, width, top, height, label_x = 40, 560, 20, 160, 660  # labels clear of the last date
    peak = max([1] + [value for values in series.values() for value in values])
    step = width / (len(runs) - 1)

    def y_of(value: int) -> float:
        return top + height - height * value / peak

    labels = spread_labels([y_of(values[-1]) + 4 for values in series.values()], top, top + height + 4)
    svg_height = max(height + 50, round(max(labels)) + 10)
    parts = [f'<svg role="img" aria-label="{html.escape(title)}" width="{label_x + 340}" height="{svg_height}">']
    parts.append(f'<text x="0" y="12" font-weight="600">{html.escape(title)}</text>')
    for i, run in enumerate(runs):
        parts.append(
            f'<text x="{left + i * step:.0f}" y="{top + height + 16}" font-size="10" text-anchor="middle">'
            f"{run.started_at:%m-%d %H:%M}</text>"
        )
    for index, ((name, values), label_y) in enumerate(zip(series.items(), labels, strict=True)):
        colour = _SERIES_COLOURS[index % len(_SERIES_COLOURS)]
        dash = ' stroke-dasharray="6 3"' if index >= len(_SERIES_COLOURS) else ""
        points = " ".join(f"{left + i * step:.0f},{y_of(value):.0f}" for i, value in enumerate(values))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="{points}"/>')
        parts.append(
            f'<line x1="{label_x - 22}" y1="{label_y - 4:.0f}" x2="{label_x - 4}" y2="{label_y - 4:.0f}" '
            f'stroke="{colour}" stroke-width="3"{dash}/>'
            f'<text x="{label_x}" y="{label_y:.0f}" font-size="11">{html.escape(name)}: {values[-1]:,}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _before_series(runs: list[RunPoint]) -> dict[str, list[int]]:
    """Records without a stage and at a disallowed stage before each run, per object type."""
    kinds = sorted({t for run in runs if run.before for t in run.before})
    series: dict[str, list[int]] = {}
    for t in kinds:
        series[f"{t.value} without a stage"] = [
            run.before[t].missing if run.before and t in run.before else 0 for run in runs
        ]
        series[f"{t.value} at a disallowed stage"] = [run.before_disallowed.get(t, 0) for run in runs]
    return series


def _worst(series: dict[str, list[int]]) -> dict[str, list[int]]:
    """The ``CHART_LINES`` series highest in this run, then at their peak: more lines would be a tangle."""
    ranked = sorted(series.items(), key=lambda item: (-item[1][-1], -max(item[1]), item[0]))
    return dict(ranked[:CHART_LINES])


def _rule_series(runs: list[RunPoint]) -> dict[str, list[int]]:
    rules = {rule for run in runs for rule in run.by_rule}
    return _worst({rule: [run.by_rule.get(rule, 0) for run in runs] for rule in rules})


def _source_series(runs: list[RunPoint]) -> dict[str, list[int]]:
    """Records fixed per run by source; one source may leave contacts and companies: the object type keeps their
    lines apart."""
    names = {key: name for run in runs for key, name in run.source_names.items()}
    keys = {key for run in runs for key in run.by_source}
    return _worst(
        {_clipped(names.get(k, k), k.split(" ", 1)[0]): [run.by_source.get(k, 0) for run in runs] for k in keys}
    )


def _new_offenders(drift: Drift) -> str:
    last = drift.runs[-1]
    items = [
        f"{last.source_names.get(key, key)} ({key.split(' ', 1)[0]}): {last.by_source[key]:,} records"
        for key in drift.new_sources
    ]
    listed = "".join(f"<li>{html.escape(item)}</li>" for item in items)
    return "<h3>New offenders since the last successful run</h3>" + (f"<ul>{listed}</ul>" if listed else "<p>none</p>")


def _headline(drift: Drift) -> str:
    current = drift.runs[-1]
    shown = f"{len(drift.runs)} {current.mode} runs in the last {LOOKBACK_DAYS} days shown"
    if drift.fixed_change is None:
        return (
            f"{current.fixed:,} records fixed this run; no earlier {current.mode} run succeeded to compare with "
            f"({shown})."
        )
    change = drift.fixed_change
    return (
        f"{current.fixed:,} records fixed this run, {abs(change):,} {'more' if change >= 0 else 'fewer'} than "
        f"{drift.baseline}, the last {current.mode} run before it that succeeded ({shown})."
    )


def drift_section(drift: Drift | None) -> str:
    """Records fixed per run by rule and by source, the counts before each run, and the new offenders."""
    if drift is None:
        return ""
    runs = drift.runs
    if len(runs) < 2:
        return (
            f'<h2>Across runs</h2><p class="note">The first {html.escape(runs[-1].mode)} run in the look-back: the '
            "trend starts with the next.</p>"
        )
    rules = sorted({rule for run in runs for rule in run.by_rule})
    return (
        "<h2>Across runs</h2>"
        f"<p>{html.escape(_headline(drift))}</p>"
        + _line_chart(runs, {"records fixed": [run.fixed for run in runs]}, "Records fixed per run")
        + _line_chart(runs, _rule_series(runs), "By rule")
        + _line_chart(runs, _source_series(runs), "By source")
        + _line_chart(runs, _before_series(runs), "Before each run")
        + _new_offenders(drift)
        + table(
            ["run", "started", "outcome", "fixed", *rules],
            [
                [run.run_id, f"{run.started_at:%Y-%m-%d %H:%M}", run.outcome or "-", f"{run.fixed:,}"]
                + [f"{run.by_rule.get(rule, 0):,}" for rule in rules]
                for run in runs
            ],
            set(range(3, 4 + len(rules))),
        )
    )
