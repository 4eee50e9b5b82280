"""Terminal output of the CLI: progress bars on stderr, the before/after table of a report, the audit table, and the
few lines that end a command: its outcome, or the failed step, its reason and a hint."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from lifecycle_guard.audit import AuditSnapshot, StageCounts
from lifecycle_guard.config import GuardConfig
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.reporting import RunReport
from lifecycle_guard.stages import StageCatalog
from lifecycle_guard_offline.local_run import FlowsResumed, InterruptedRun
from lifecycle_guard_offline.phase_watch import FailedStep, Progress
from lifecycle_guard_offline.target_check import CHECK_CREDENTIALS

BAR_WIDTH = 28
# What to do about a step's error, by its type, where the error's own message does not say.
HINTS = {
    "ConfigError": "fix the config file; a stage may be named by its value or by its label",
    "AuthenticationFailed": CHECK_CREDENTIALS,
    "HubSpotUnavailable": "HubSpot kept failing; re-run later: what was written is journaled, a re-run finishes it",
    "DailyLimitReached": "re-run once HubSpot's daily limit has reset; what was written is journaled",
}


class ProgressPrinter:
    """One line per phase; on a terminal the line redraws in place with a bar, in a log it is printed once."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._phase = ""
        self._last_line = ""

    def __call__(self, progress: Progress) -> None:
        if progress.phase != self._phase:
            if self._phase:
                self._finish_line()
            self._phase = progress.phase
            if progress.phase == "done":
                return
        line = self._render(progress)
        if self._tty:
            self._stream.write("\r" + line.ljust(len(self._last_line)))
            self._stream.flush()
        self._last_line = line

    def _render(self, progress: Progress) -> str:
        status = f"{progress.status} " if progress.ended and progress.status != "done" else ""
        if progress.total:
            filled = round(BAR_WIDTH * progress.done / progress.total)
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            middle = f"{status}[{bar}] {progress.done}/{progress.total}"
        elif progress.ended:
            middle = progress.status
        else:
            middle = "[" + "|/-\\"[int(time.monotonic() * 4) % 4] + "]"
        detail = f"  {progress.detail}" if progress.detail else ""
        return f"{progress.phase:<8} {middle}{detail}  {progress.seconds:5.1f}s"

    def _finish_line(self) -> None:
        if self._tty:
            self._stream.write("\r" + self._last_line + "\n")
        else:
            self._stream.write(self._last_line + "\n")
        self._stream.flush()
        self._last_line = ""  # the next phase starts on a fresh line: nothing to overwrite


def _count(counts: StageCounts | None, stage: str | None) -> int | None:
    if counts is None:
        return None
    return counts.missing if stage is None else counts.by_stage.get(stage, 0)


def _rows(values: list[tuple[str, str]]) -> list[tuple[str, str | None]]:
    """A table's rows: the portal's stages in funnel order, then the records without one."""
    return [*((label, value) for value, label in values), ("(no stage)", None)]


def before_after_table(
    stages: Mapping[ObjectType, list[tuple[str, str]]],
    before: AuditSnapshot | None,
    after: AuditSnapshot | None,
    *,
    after_title: str = "after",
) -> str:
    """Stage counts per object type before and after the run, in the portal's funnel order."""
    lines: list[str] = []
    for object_type, values in stages.items():
        rows = _rows(values)
        width = max(len(label) for label, _ in rows)
        lines.append(f"{object_type.value:<{width}}  {'before':>9}  {after_title:>9}  {'change':>8}")
        for label, stage in rows:
            was = _count(before.counts.get(object_type) if before else None, stage)
            now = _count(after.counts.get(object_type) if after else None, stage)
            change = f"{now - was:+,}" if was is not None and now is not None and now != was else ""
            lines.append(
                f"{label:<{width}}  {'' if was is None else f'{was:,}':>9}  "
                f"{'' if now is None else f'{now:,}':>9}  {change:>8}".rstrip()
            )
        lines.append("")
    return "\n".join(lines)


def report_table(report: RunReport) -> str:
    """A dry run shows the after-state its plan would leave; a run that wrote, the portal's after-audit."""
    if report.mode != "apply" and report.planned_after is not None:
        return before_after_table(report.stages, report.before, report.planned_after, after_title="planned")
    return before_after_table(report.stages, report.before, report.after)


def audit_table(catalogs: Mapping[ObjectType, StageCatalog], snapshot: AuditSnapshot, rules: GuardConfig) -> str:
    """Records per stage and their share of the object type, and how many a run with ``rules`` would fix: those
    without a stage and those at a disallowed one."""
    lines: list[str] = []
    for object_type, catalog in catalogs.items():
        counts = snapshot.counts[object_type]
        disallowed = set(rules.disallowed(object_type))
        rows = [(label, stage, _count(counts, stage) or 0) for label, stage in _rows(list(_pairs(catalog)))]
        if counts.unrecognised:  # values the portal no longer lists (a deleted custom stage)
            rows.insert(-1, ("(not a stage of this portal)", "", counts.unrecognised))
        width = max(len(label) for label, _, _ in rows)
        lines.append(f"{object_type.value:<{width}}  {'records':>9}  {'share':>6}  {'would fix':>9}")
        would_fix = 0
        for label, stage, count in rows:
            fixed = count if stage is None or stage in disallowed else 0
            would_fix += fixed
            lines.append(_audit_row(label, width, count, counts.total, f"{fixed:,}" if fixed else ""))
        lines.append(_audit_row("total", width, counts.total, counts.total, f"{would_fix:,}"))
        lines.append("")
    return "\n".join(lines)


def _audit_row(label: str, width: int, count: int, total: int, would_fix: str) -> str:
    share = f"{100 * count / total:.1f}%" if total else ""
    return f"{label:<{width}}  {count:>9,}  {share:>6}  {would_fix:>9}".rstrip()


def _pairs(catalog: StageCatalog) -> list[tuple[str, str]]:
    return [(stage.value, stage.label) for stage in catalog.stages]


def outcome_line(report: RunReport) -> str:
    """One line: what happened and, when it did not succeed, why."""
    summary = report.summary()
    if report.action == "undo" and report.outcome in ("succeeded", "checks_failed"):
        if report.outcome == "succeeded":
            return f"succeeded: {undo_counts(report)}"
        failed = ", ".join(check.name for check in report.checks if check.status == "FAIL")
        return f"checks failed ({failed}): {undo_counts(report)}"
    if report.outcome == "succeeded":
        done = (
            f"{summary.changes_applied:,} of {summary.changes_planned:,} changes applied"
            if report.mode == "apply"
            else f"{summary.changes_planned:,} changes planned (dry run)"
        )
        return f"succeeded: {done}; {checks_passed(report)}"
    reasons = report.reasons()
    return f"{report.outcome.replace('_', ' ')}: {reasons[0] if reasons else 'see the report'}"


def undo_counts(report: RunReport) -> str:
    """What an undo restored (what the fix workers applied; a dry run's plan) and what became of it once the
    prevention flows were back on."""
    if report.mode == "apply":
        verb, restored = "restored", report.fix.applied
    else:
        verb, restored = "would restore", report.summary().changes_planned
    restores = report.restores
    held = ""
    if restores and restores.checked:
        held = f" ({restores.held:,} hold the restored value)"
        if restores.held != restores.checked:
            held = (
                f" ({restores.held:,} hold the restored value, {restores.reset_by_workflow:,} set again by a "
                f"workflow, {restores.changed_since:,} changed by someone else since)"
            )
    already = f"; {report.already_restored:,} restored already" if report.already_restored else ""
    return f"{verb} {restored:,} records{held}{already}; {report.fix.skipped:,} left alone (changed since the run)"


def checks_passed(report: RunReport) -> str:
    """A skipped check did not fail, and did not pass either."""
    statuses = [check.status for check in report.checks]
    ran = [status for status in statuses if status != "SKIPPED"]
    skipped = len(statuses) - len(ran)
    passed = f"{ran.count('PASS')} of {len(ran)} checks passed"
    return f"{passed}, {skipped} skipped" if skipped else passed


def failure_lines(report: RunReport, step: FailedStep | None, log: Path) -> list[str]:
    """Why a failed run failed: the step and its error's message, then what to do (or where the details are)."""
    if step is None:
        return [outcome_line(report), f"details: {log}"]
    return [f"failed at {step.phase}: {step.message}", f"hint: {HINTS.get(step.error, f'details in {log}')}"]


def interrupted_line(stopped: InterruptedRun, *, action: str, apply: bool, undo_command: str | None) -> str:
    """The one line a stopped run ends with: what it wrote, where its journal is, and how to go on from there.
    ``undo_command`` is None for the built-in sandbox, whose portal ends with the process."""
    if not apply:
        return "interrupted: a dry run, nothing was written"
    flows = _flows_clause(stopped.flows_resumed)
    if stopped.journal_path is None and not stopped.batches_abandoned:
        return f"interrupted before it changed any record{flows}"
    written = stopped.records_written
    journal = f"journal at {stopped.journal_path}" if stopped.journal_path else "nothing was journaled"
    abandoned = {0: "", 1: "; the batch in flight was abandoned, the next run finishes it"}.get(
        stopped.batches_abandoned,
        f"; the {stopped.batches_abandoned} batches in flight were abandoned, the next run finishes them",
    )
    if action == "undo":
        return f"interrupted after {written:,} records restored; {journal}{abandoned}{flows}; re-run the undo to finish"
    if undo_command is None:
        return (
            f"interrupted after {written:,} records written to the built-in sandbox, whose portal ends with this "
            f"process; {journal}"
        )
    return f"interrupted after {written:,} records written; {journal}{abandoned}; re-run to finish or `{undo_command}`"


def _flows_clause(resumed: FlowsResumed | None) -> str:
    """What became of the prevention flows an interrupted undo had switched off."""
    if resumed is None:
        return ""
    if resumed.error is not None:
        return f"; its prevention workflows stay off ({resumed.error}): the next undo or run switches them back on"
    return f"; its prevention workflows are back on ({len(resumed.flow_ids)} switched on)"
