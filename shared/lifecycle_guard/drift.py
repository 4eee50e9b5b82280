"""Drift across runs: is the portal getting cleaner? Each run stores a small point (what it found and fixed, by
rule and by source) under ``runs/summaries/``; its report reads the points of the runs before it, under a bounded
look-back, and shows the trend and the sources new since the last run.

The look-back is bounded twice: a listing from ``LOOKBACK_DAYS`` ago (S3's ``StartAfter``, so an old bucket costs
no more) and at most ``LOOKBACK_RUNS`` points read. Only runs that plan fixes (``action`` "run") make points; a dry
run's point counts what it would fix, so a scheduled dry run shows drift too.

A trend is of one mode: a dry run and the apply run after it count the same records, so mixing them would double
count. The change in records fixed and the new sources are against the *baseline*, the last run before of the same
mode that succeeded: a failed run may have stopped part way, and measured against it the next run would look like a
rise (and raise the drift alarm) for records it merely finished.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel, ValidationError

from lifecycle_guard.audit import AuditSnapshot, StageCounts
from lifecycle_guard.jobs import RuleCount
from lifecycle_guard.layout import SUMMARY_PREFIX, summaries_since, summary_key
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.offenders import SourceCount
from lifecycle_guard.storage import ObjectStore

LOOKBACK_DAYS = 90
LOOKBACK_RUNS = 12  # this run and the 11 before it: a quarter of weekly runs, or the last fortnight of nightly ones
POINT_SOURCES = 50  # sources a point keeps (the worst): bounds a point's size whatever the portal


class RunPoint(BaseModel):
    """One run in the trend."""

    run_id: str
    started_at: datetime
    mode: str
    fixed: int  # records the run fixed (a dry run: would fix)
    by_rule: dict[str, int]  # "<object type> <rule>" -> records planned
    by_source: dict[str, int]  # ``SourceCount.key`` -> records fixed
    source_names: dict[str, str] = {}  # ``SourceCount.key`` -> the source in words
    before: dict[ObjectType, StageCounts] | None = None  # the audit before the run
    before_disallowed: dict[ObjectType, int] = {}  # of it, the records at a stage the run's rules disallow
    outcome: str | None = None  # the run's outcome (None while its report is being built)


SUCCEEDED = "succeeded"


class Drift(BaseModel):
    runs: list[RunPoint]  # oldest first, all of this run's mode; the last is this run
    baseline: str | None = None  # the run compared with: the last one before of this mode that succeeded
    new_sources: list[str]  # sources this run fixed records of that the baseline did not
    fixed_change: int | None  # this run's fixed records minus the baseline's (None: no baseline)

    @property
    def rising(self) -> int:
        """Records more than the baseline (0 when fewer or no baseline)."""
        return max(self.fixed_change or 0, 0)

    def finished(self, outcome: str) -> Drift:
        """With this run's outcome, once the report knows it: a later run takes it as a baseline only if it
        succeeded."""
        current = self.runs[-1].model_copy(update={"outcome": outcome})
        return self.model_copy(update={"runs": [*self.runs[:-1], current]})


def run_point(
    run_id: str,
    started_at: datetime,
    mode: str,
    changes: Sequence[RuleCount],
    before: AuditSnapshot | None,
    sources: Sequence[SourceCount],
    disallowed: Mapping[ObjectType, Sequence[str]],
) -> RunPoint:
    """``disallowed``: the stages the run's rules disallow, per object type."""
    by_rule: dict[str, int] = {}
    for rule in changes:
        key = f"{rule.object_type.value} {rule.rule}"
        by_rule[key] = by_rule.get(key, 0) + rule.planned
    kept = sources[:POINT_SOURCES]
    return RunPoint(
        run_id=run_id,
        started_at=started_at,
        mode=mode,
        fixed=sum(count.total for count in sources),
        by_rule=by_rule,
        by_source={count.key: count.total for count in kept},
        source_names={count.key: count.source.describe() for count in kept},
        before=before.counts if before else None,
        before_disallowed={
            t: sum(counts.by_stage.get(stage, 0) for stage in disallowed.get(t, ()))
            for t, counts in (before.counts.items() if before else ())
        },
    )


def trend(previous: Sequence[RunPoint], current: RunPoint) -> Drift:
    """``previous`` oldest first, of ``current``'s mode."""
    baseline = next((point for point in reversed(previous) if point.outcome == SUCCEEDED), None)
    if baseline is None:
        return Drift(runs=[*previous, current], new_sources=[], fixed_change=None)
    return Drift(
        runs=[*previous, current],
        baseline=baseline.run_id,
        new_sources=[key for key in current.by_source if key not in baseline.by_source],
        fixed_change=current.fixed - baseline.fixed,
    )


def previous_points(store: ObjectStore, current: RunPoint) -> list[RunPoint]:
    """The points of the runs before ``current`` within the look-back that are of its mode, oldest first. A point
    that does not parse (written by another version) is left out rather than failing the report."""
    since = summaries_since(current.started_at - timedelta(days=LOOKBACK_DAYS))
    own = summary_key(current.run_id, current.started_at)
    keys = [key for key in store.keys(SUMMARY_PREFIX, start_after=since) if key < own]
    points = []
    for key in keys[-(LOOKBACK_RUNS - 1) :]:
        try:
            point = RunPoint.model_validate_json(store.get(key) or b"")
        except ValidationError:
            continue
        if point.mode == current.mode:
            points.append(point)
    return points


def store_point(store: ObjectStore, point: RunPoint) -> None:
    store.put(summary_key(point.run_id, point.started_at), point.model_dump_json().encode())
