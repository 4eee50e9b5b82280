"""The run report as one self-contained HTML page: CSS embedded, charts as inline SVG, every portal string escaped,
so it opens anywhere without a network and a stage label cannot inject markup."""

from __future__ import annotations

import html
from typing import Any

from lifecycle_guard.audit import AuditSnapshot, StageCounts
from lifecycle_guard.changes import ChangedRecord, record_link
from lifecycle_guard.html_parts import Link
from lifecycle_guard.html_parts import table as _table
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.report_config_html import config_section
from lifecycle_guard.report_trend_html import drift_section, sources_section
from lifecycle_guard.reporting import RunReport
from lifecycle_guard.usage import ApiTotals
from lifecycle_guard.verification import Check

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
.problems{border-left:4px solid #b42318;background:#fef3f2;padding:.5rem 1rem;margin:1rem 0}
.note{color:#52606d}
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


def _charts(report: RunReport, after: AuditSnapshot | None) -> str:
    return "".join(
        _funnel_svg(
            object_type.value.capitalize(),
            report.stages.get(object_type, []),
            report.before.counts.get(object_type) if report.before else None,
            after.counts.get(object_type) if after else None,
        )
        for object_type in ObjectType
    )


def _header(report: RunReport) -> str:
    e = html.escape
    portal = f" &middot; portal <b>{report.portal_id}</b>" if report.portal_id is not None else ""
    problems = report.reasons()
    alert = (
        '<div class="problems"><b>Why this run did not succeed</b><ul>'
        + "".join(f"<li>{e(reason)}</li>" for reason in problems)
        + "</ul></div>"
        if problems
        else ""
    )
    return (
        f"<h1>lifecycle-guard run <code>{e(report.run_id)}</code></h1>"
        f'<p><span class="badge {report.outcome}">{e(report.outcome.replace("_", " "))}</span> '
        f"{e(report.action)} &middot; mode <b>{e(report.mode)}</b>{portal} &middot; started by {e(report.source)} "
        f"&middot; {report.started_at:%Y-%m-%d %H:%M:%S} to {report.finished_at:%H:%M:%S} UTC</p>" + alert
    )


def _before_and_after(report: RunReport) -> str:
    preview = report.mode != "apply" and report.planned_after is not None
    after, title = (
        (report.planned_after, "after (planned: dry run, nothing written)")
        if preview
        else (
            report.after,
            "after",
        )
    )
    return (
        "<h2>Before and after</h2>"
        f'<p class="legend"><span style="background:{_BEFORE}"></span>before'
        f'<span style="background:{_AFTER}"></span>{html.escape(title)}</p>'
        f'<div class="charts">{_charts(report, after)}</div>'
    )


def _changed(report: RunReport) -> str:
    dry = report.mode != "apply"
    verb = "would change" if dry else "changed"
    shown = len(report.changed_records)
    note = (
        f'<p class="note">{report.changed_total:,} records {verb}'
        + (f"; the first {shown:,} are listed here, all of them in changes.csv" if shown < report.changed_total else "")
        + ".</p>"
    )
    rows = [_changed_row(report, row) for row in report.changed_records]
    return note + _table(["object", "record", "before", "after", "reason", "outcome"], rows)


def _changed_row(report: RunReport, row: ChangedRecord) -> list[Any]:
    labels = dict(report.stages.get(row.object_type, []))

    def stage(value: str) -> str:
        return labels.get(value, value) if value else "(no stage)"

    reason = next((c.description for c in report.changes if c.rule == row.rule and c.target == row.target), row.rule)
    outcome = f"{row.outcome}: {row.detail}" if row.detail else row.outcome
    record = Link(row.label or row.object_id, record_link(report.portal_id, row.object_type, row.object_id))
    return [row.object_type.value, record, stage(row.before), stage(row.after), reason, outcome]


def _checks(checks: list[Check]) -> str:
    e = html.escape
    tally = {status: sum(1 for c in checks if c.status == status) for status in ("PASS", "FAIL", "SKIPPED")}
    rows = "".join(
        f'<tr><td>{e(c.name)}</td><td class="{c.status}">{e(c.status.lower())}</td><td>{e(c.expected)}</td>'
        f"<td>{e(c.observed)}</td><td>{e(c.detail)}</td></tr>"
        for c in checks
    )
    return (
        f"<p>{tally['PASS']} passed, {tally['FAIL']} failed, {tally['SKIPPED']} skipped</p>"
        "<table><thead><tr><th>check</th><th>result</th><th>expected</th><th>observed</th><th>detail</th></tr>"
        f"</thead><tbody>{rows or '<tr><td>none</td></tr>'}</tbody></table>"
    )


def _live_test(report: RunReport) -> str:
    probe = report.probe
    if probe is None:
        return ""
    if not probe.started:
        return f'<p class="note">The live prevention test did not run: {html.escape(probe.reason)}.</p>'
    made = ", ".join(f"a {p.object_type.value.removesuffix('s')} ({p.object_id})" for p in probe.probes)
    return (
        f'<p class="note">The live prevention test created {html.escape(made)} with no stage in the portal, checked '
        f"them until the prevention workflows had acted ({probe.waited_seconds:g} s of at most "
        f"{probe.wait_seconds} s), and deleted them.</p>"
    )


def _undo_note(report: RunReport) -> str:
    """An undo's account of the prevention flows it paused and of what its restores hold now."""
    if report.action != "undo":
        return ""
    e, parts = html.escape, []
    if report.flows_paused:
        back = "switched back on after it" if report.flows_resumed else "<strong>not switched back on</strong>"
        parts.append(
            f"The prevention workflows {e(', '.join(report.flows_paused))} were switched off while the undo "
            f"restored (so they would not give the restored blanks the default stage again), and {back}."
        )
    restores = report.restores
    if restores and restores.checked:
        parts.append(
            f"Read back after: {restores.held:,} of {restores.checked:,} restored records hold the restored value, "
            f"{restores.reset_by_workflow:,} were given the default stage again by a workflow, "
            f"{restores.changed_since:,} were changed by someone else"
            + ("" if restores.complete else " (the read-back ran out of time before the last records)")
            + "."
        )
    return "".join(f'<p class="note">{part}</p>' for part in parts)


def _flows(report: RunReport) -> str:
    flows = report.prevention.flows if report.prevention else []
    portal = report.portal_id

    def flow_link(name: str, flow_id: str | None) -> Link:
        href = f"https://app.hubspot.com/workflows/{portal}/platform/flow/{flow_id}/edit" if portal and flow_id else ""
        return Link(name, href)

    rows = [[flow_link(f.name, f.flow_id), f.object_type.value, f.action, f.enabled, f.detail] for f in flows]
    return _table(["flow", "object", "action", "enabled", "detail"], rows)


def _api(api: ApiTotals) -> str:
    daily = f", {api.daily_remaining:,} daily requests left" if api.daily_remaining is not None else ""
    return (
        f"<p>{api.total_calls:,} requests, {api.retries:,} retries, {sum(api.throttled.values()):,} rate-limited, "
        f"{api.paced_seconds:,.1f}s paced{daily}</p>"
        + _table(["endpoint", "requests"], [[k, f"{v:,}"] for k, v in sorted(api.calls.items())], {1})
    )


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


def _pending_note(records: int) -> str:
    if not records:
        return ""
    return (
        f'<p class="problems">{records:,} records are in write batches this run left unfinished (a refused token, '
        "HubSpot's daily limit or a crash stopped them): those it had cleared have no stage until recovery finishes "
        "them with their planned targets, at the start of the next apply run.</p>"
    )


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


def _fix_jobs(report: RunReport) -> str:
    """What the fix workers did; a dry run's plan, which none of them ran."""
    fix = report.fix
    if report.mode != "apply" and report.action == "run":
        return f"<p>{fix.jobs_planned:,} fix jobs planned; a dry run runs none of them.</p>"
    columns = ("jobs_total", "jobs_done", "jobs_failed", "applied", "failed", "ignored", "skipped", "recovered")
    return _table(
        ["jobs", "done", "failed", "applied", "failed writes", "ignored", "skipped", "recovered"],
        [[getattr(fix, column) for column in columns]],
        set(range(len(columns))),
    )


def render_html(report: RunReport) -> str:
    fix = report.fix
    sections = [
        _header(report),
        _before_and_after(report),
        "<h2>Changes by rule</h2>",
        _table(
            ["object", "rule", "move", "records"],
            [[r.object_type.value, r.description or r.rule, r.kind, f"{r.planned:,}"] for r in report.changes],
            {3},
        ),
        sources_section(report),
        drift_section(report.drift),
        "<h2>Changed records</h2>" if report.mode == "apply" else "<h2>Records that would change</h2>",
        _changed(report),
        _rejected_section(report),
        "<h2>Checks</h2>",
        _checks(report.checks),
        _live_test(report),
        _undo_note(report),
        "<h2>Prevention workflows</h2>",
        _flows(report),
        "<h2>Fix jobs</h2>",
        _fix_jobs(report),
        _pending_note(fix.pending_recovery),
        "<h2>Records left off target (sample)</h2>",
        _table(["id", "target", "now"], [[r["object_id"], r["target"], r["now"]] for r in fix.residue]),
        "<h2>HubSpot API calls</h2>",
        _api(report.api),
        "<h2>Waits</h2>",
        _table(["phase", "seconds", "waiting for"], [[w.phase, f"{w.seconds:,.1f}", w.why] for w in report.waits], {1}),
        _quarantine_section(report),
        config_section(report),
        "<h2>Files</h2>",
        _table(["file", "S3 key"], [[k, v] for k, v in report.files.items()]),
    ]
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>lifecycle-guard {html.escape(report.run_id)}</title><style>{_CSS}</style></head><body>"
        + "".join(sections)
        + "</body></html>"
    )
