"""Terminal output of the CLI: progress bars on stderr, and the before/after table of a report."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TextIO

from lifecycle_guard.audit import AuditSnapshot, StageCounts
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.reporting import RunReport
from lifecycle_guard_offline.local_run import Progress

BAR_WIDTH = 28


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
        if progress.total:
            filled = round(BAR_WIDTH * progress.done / progress.total)
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            middle = f"[{bar}] {progress.done}/{progress.total}"
        elif progress.ended:
            middle = "done"
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
        rows: list[tuple[str, str | None]] = [(label, value) for value, label in values]
        rows.append(("(no stage)", None))
        width = max(len(label) for label, _ in rows)
        lines.append(f"{object_type.value:<{width}}  {'before':>9}  {after_title:>9}  {'change':>8}")
        for label, stage in rows:
            was = _count(before.counts.get(object_type) if before else None, stage)
            now = _count(after.counts.get(object_type) if after else None, stage)
            change = f"{now - was:+,}" if was is not None and now is not None and now != was else ""
            lines.append(
                f"{label:<{width}}  {'' if was is None else f'{was:,}':>9}  "
                f"{'' if now is None else f'{now:,}':>9}  {change:>8}"
            )
        lines.append("")
    return "\n".join(lines)


def report_table(report: RunReport) -> str:
    """A dry run shows the after-state its plan would leave; a run that wrote, the portal's after-audit."""
    if report.mode != "apply" and report.planned_after is not None:
        return before_after_table(report.stages, report.before, report.planned_after, after_title="planned")
    return before_after_table(report.stages, report.before, report.after)


def outcome_line(report: RunReport) -> str:
    """One line: what happened and, when it did not succeed, why."""
    summary = report.summary()
    if report.outcome == "succeeded" and report.action == "undo":
        verb = "restored" if report.mode == "apply" else "would restore"
        held = f" ({report.restores.held:,} hold the restored value)" if report.restores else ""
        return (
            f"succeeded: {verb} {summary.changes_planned:,} records{held}; {report.fix.skipped:,} left alone "
            "(changed since the run)"
        )
    if report.outcome == "succeeded":
        passed = sum(1 for status in summary.checks.values() if status == "PASS")
        done = (
            f"{summary.changes_applied:,} of {summary.changes_planned:,} changes applied"
            if report.mode == "apply"
            else f"{summary.changes_planned:,} changes planned (dry run)"
        )
        return f"succeeded: {done}; {passed} of {len(report.checks)} checks passed"
    reasons = report.reasons()
    return f"{report.outcome.replace('_', ' ')}: {reasons[0] if reasons else 'see the report'}"
