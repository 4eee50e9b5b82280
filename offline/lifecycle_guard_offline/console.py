"""Terminal output of the CLI: progress bars on stderr, and the before/after table of a report."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, TextIO

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


def _count(counts: Mapping[str, Any] | None, stage: str | None) -> int | None:
    if not counts:
        return None
    if stage is None:
        return int(counts.get("missing", 0))
    return int(counts.get("by_stage", {}).get(stage, 0))


def before_after_table(report: Mapping[str, Any]) -> str:
    """Stage counts per object type before and after the run, in the portal's funnel order."""
    lines: list[str] = []
    before = (report.get("before") or {}).get("counts", {})
    after = (report.get("after") or {}).get("counts", {})
    for object_type, stages in (report.get("stages") or {}).items():
        rows: list[tuple[str, str | None]] = [(label, value) for value, label in stages]
        rows.append(("(no stage)", None))
        width = max(len(label) for label, _ in rows)
        lines.append(f"{object_type:<{width}}  {'before':>9}  {'after':>9}  {'change':>8}")
        for label, stage in rows:
            was = _count(before.get(object_type), stage)
            now = _count(after.get(object_type), stage)
            change = f"{now - was:+,}" if was is not None and now is not None and now != was else ""
            lines.append(
                f"{label:<{width}}  {'' if was is None else f'{was:,}':>9}  "
                f"{'' if now is None else f'{now:,}':>9}  {change:>8}"
            )
        lines.append("")
    return "\n".join(lines)


def outcome_line(report: Mapping[str, Any]) -> str:
    """One line: what happened and, when it did not succeed, why."""
    outcome = report.get("outcome", "failed")
    planned = sum(int(rule.get("planned", 0)) for rule in report.get("changes", []))
    applied = int((report.get("fix") or {}).get("applied", 0))
    if outcome == "succeeded" and report.get("action") == "undo":
        skipped = int((report.get("fix") or {}).get("skipped", 0))
        verb = "restored" if report.get("mode") == "apply" else "would restore"
        return f"succeeded: {verb} {planned:,} records; {skipped:,} left alone (changed since the run)"
    if outcome == "succeeded":
        checks = report.get("checks", [])
        passed = sum(1 for check in checks if check.get("status") == "PASS")
        done = (
            f"{applied:,} of {planned:,} changes applied"
            if report.get("mode") == "apply"
            else f"{planned:,} changes planned (dry run)"
        )
        return f"succeeded: {done}; {passed} of {len(checks)} checks passed"
    failures = list(report.get("failures", []))
    failed_checks = [check["name"] for check in report.get("checks", []) if check.get("status") == "FAIL"]
    reasons = failures + [f"check failed: {name}" for name in failed_checks]
    return f"{outcome.replace('_', ' ')}: {reasons[0] if reasons else 'see the report'}"
