"""The run report as one self-contained HTML page: CSS embedded, charts as inline SVG, every portal string escaped,
so it opens anywhere without a network and a stage label cannot inject markup."""

from __future__ import annotations

import html
from typing import Any

from lifecycle_guard.audit import StageCounts
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.reporting import RunReport

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#1f2933}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d9e2ec;padding-bottom:.3rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{text-align:left;padding:.3rem .5rem;
border-bottom:1px solid #e4e7eb}th{background:#f5f7fa}.n{text-align:right;font-variant-numeric:tabular-nums}
.PASS{color:#0e7c3a;font-weight:600}.FAIL{color:#b42318;font-weight:600}.SKIPPED{color:#7b8794}
.badge{display:inline-block;padding:.15rem .6rem;border-radius:1rem;color:#fff;font-weight:600}
.succeeded{background:#0e7c3a}.checks_failed{background:#b54708}.failed{background:#b42318}
.charts{display:flex;flex-wrap:wrap;gap:2rem}
.legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 1rem}
code{background:#f5f7fa;padding:0 .2rem}
"""
_BEFORE, _AFTER = "#9fb3c8", "#2f6fb3"


def _funnel_svg(
    title: str, labels: list[tuple[str, str]], before: StageCounts | None, after: StageCounts | None
) -> str:
    """Horizontal bars per stage in funnel order, before (light) and after (dark), plus 'no stage'."""
    rows = [(label, value) for value, label in labels] + [("(no stage)", "")]

    def value_of(counts: StageCounts | None, stage: str) -> int:
        if counts is None:
            return 0
        return counts.missing if stage == "" else counts.by_stage.get(stage, 0)

    peak = max([1] + [value_of(c, stage) for _, stage in rows for c in (before, after)])
    bar, gap, left, width = 11, 10, 190, 330
    height = len(rows) * (2 * bar + gap) + 30
    parts = [f'<svg role="img" aria-label="{html.escape(title)}" width="{left + width + 90}" height="{height}">']
    parts.append(f'<text x="0" y="14" font-weight="600">{html.escape(title)}</text>')
    y = 26
    for label, stage in rows:
        parts.append(f'<text x="0" y="{y + bar + 4}" font-size="12">{html.escape(label)}</text>')
        for counts, colour in ((before, _BEFORE), (after, _AFTER)):
            value = value_of(counts, stage)
            length = 0 if counts is None else max(1, round(width * value / peak)) if value else 0
            parts.append(f'<rect x="{left}" y="{y}" width="{length}" height="{bar}" fill="{colour}"/>')
            shown = "-" if counts is None else f"{value:,}"
            parts.append(f'<text x="{left + length + 4}" y="{y + bar - 2}" font-size="11">{shown}</text>')
            y += bar
        y += gap
    parts.append("</svg>")
    return "".join(parts)


def _table(headers: list[str], rows: list[list[Any]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f'<th class="{"n" if i in numeric else ""}">{html.escape(h)}</th>' for i, h in enumerate(headers))
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"n" if i in numeric else ""}">{html.escape(str(cell))}</td>' for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body or '<tr><td>none</td></tr>'}</tbody></table>"


def _rejected_section(report: RunReport) -> str:
    """The records HubSpot refused (a validation rule, a deleted option ...), by reason, with their ids."""
    total = sum(group.count for group in report.rejected)
    parts = [
        "<h2>Records HubSpot refused</h2>",
        f"<p>{total:,} records, each left at the stage it had (or given it back, if it had been cleared); finding "
        f"them in batches HubSpot refused as a whole took {report.fix.isolating_calls:,} extra requests.</p>",
    ]
    for group in report.rejected:
        listed = len(group.records)
        more = f" (the first {listed:,} listed; the journal has all)" if listed < group.count else ""
        parts.append(f"<h3>{html.escape(group.reason)}: {group.count:,}{more}</h3>")
        parts.append(
            _table(
                ["object", "id", "refused stage", "HubSpot said"],
                [[r.object_type, r.object_id, r.value, r.detail[:300]] for r in group.records],
            )
        )
    return "".join(parts)


def _quarantine_section(report: RunReport) -> str:
    """Pending markers recovery set aside; they stay listed until someone deletes them from the bucket."""
    return "<h2>Quarantined pending markers</h2>" + _table(
        ["S3 key", "was", "why", "by run", "at"],
        [
            [
                m.key,
                m.marker_key,
                m.reason,
                m.quarantined_by,
                f"{m.quarantined_at:%Y-%m-%d %H:%M:%S}" if m.quarantined_at else "",
            ]
            for m in report.quarantined
        ],
    )


def render_html(report: RunReport) -> str:
    e = html.escape
    charts = "".join(
        _funnel_svg(
            object_type.value.capitalize(),
            report.stages.get(object_type, []),
            report.before.counts.get(object_type) if report.before else None,
            report.after.counts.get(object_type) if report.after else None,
        )
        for object_type in ObjectType
    )
    checks = "".join(
        f'<tr><td>{e(c.name)}</td><td class="{c.status}">{c.status}</td><td>{e(c.expected)}</td>'
        f"<td>{e(c.observed)}</td><td>{e(c.detail)}</td></tr>"
        for c in report.checks
    )
    fix = report.fix
    flows = report.prevention.flows if report.prevention else []
    sections = [
        f"<h1>lifecycle-guard run <code>{e(report.run_id)}</code></h1>",
        f'<p><span class="badge {report.outcome}">{e(report.outcome.replace("_", " "))}</span> '
        f"{e(report.action)} &middot; mode <b>{e(report.mode)}</b> &middot; started by {e(report.source)} &middot; "
        f"{report.started_at:%Y-%m-%d %H:%M:%S} to {report.finished_at:%H:%M:%S} UTC</p>",
        "<h2>Before and after</h2>",
        f'<p class="legend"><span style="background:{_BEFORE}"></span>before'
        f'<span style="background:{_AFTER}"></span>after</p>',
        f'<div class="charts">{charts}</div>',
        "<h2>Changes by rule</h2>",
        _table(
            ["object", "rule", "move", "planned"],
            [[r.object_type.value, r.rule, r.kind, f"{r.planned:,}"] for r in report.changes],
            {3},
        ),
        "<h2>Fix jobs</h2>",
        _table(
            ["jobs", "done", "failed", "applied", "failed writes", "ignored", "skipped", "recovered"],
            [
                [
                    fix.jobs_total,
                    fix.jobs_done,
                    fix.jobs_failed,
                    fix.applied,
                    fix.failed,
                    fix.ignored,
                    fix.skipped,
                    fix.recovered,
                ]
            ],
            set(range(8)),
        ),
        "<h2>Checks</h2>",
        "<table><thead><tr><th>check</th><th>result</th><th>expected</th><th>observed</th><th>detail</th></tr>"
        f"</thead><tbody>{checks or '<tr><td>none</td></tr>'}</tbody></table>",
        "<h2>Prevention workflows</h2>",
        _table(
            ["flow", "object", "action", "enabled", "detail"],
            [[f.name, f.object_type.value, f.action, f.enabled, f.detail] for f in flows],
        ),
        "<h2>Failures</h2>",
        _table(["failure"], [[failure] for failure in report.failures]),
        _rejected_section(report),
        _quarantine_section(report),
        "<h2>Records left off target (sample)</h2>",
        _table(["id", "target", "now"], [[r["object_id"], r["target"], r["now"]] for r in fix.residue]),
        "<h2>HubSpot API calls</h2>",
        f"<p>{report.api.total_calls:,} requests, {report.api.retries:,} retries, "
        f"{sum(report.api.throttled.values()):,} rate-limited, {report.api.paced_seconds:,.1f}s paced"
        + (f", {report.api.daily_remaining:,} daily requests left" if report.api.daily_remaining is not None else "")
        + "</p>",
        _table(["endpoint", "requests"], [[k, f"{v:,}"] for k, v in sorted(report.api.calls.items())], {1}),
        "<h2>Files</h2>",
        _table(["file", "S3 key"], [[k, v] for k, v in report.files.items()]),
    ]
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>lifecycle-guard {e(report.run_id)}</title><style>{_CSS}</style></head><body>"
        + "".join(sections)
        + "</body></html>"
    )
