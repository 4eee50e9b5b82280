"""The run report (``report.json``) and the run summary, the small part of it the state machine returns: enough
to see the outcome in the console without opening S3. ``report_html`` renders the same model as a page."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from lifecycle_guard.audit import AuditSnapshot
from lifecycle_guard.changes import ChangedRecord
from lifecycle_guard.drift import Drift
from lifecycle_guard.jobs import RuleCount
from lifecycle_guard.live_test import ProbeState
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.offenders import SourceCount, summary_line
from lifecycle_guard.overrides import Override
from lifecycle_guard.pending import QuarantinedMarker
from lifecycle_guard.rejections import RejectedRecords
from lifecycle_guard.tracker import FixCounts
from lifecycle_guard.undo import RestoreCheck
from lifecycle_guard.usage import ApiTotals
from lifecycle_guard.verification import Check
from lifecycle_guard.waits import Wait
from lifecycle_guard.workflows import PreventionOutcome

RunOutcome = Literal["succeeded", "checks_failed", "failed"]
SUMMARY_FAILURES = 20
SUMMARY_SOURCES = 10
CAUSE_LENGTH = 1000


class FixSummary(FixCounts):
    jobs_planned: int = 0  # the plan's fix jobs: a dry run's preview (none of them runs)
    residue: list[dict[str, str]] = []  # a sample of the records left off target
    # Records in batches the run left unfinished (their pending markers kept, ``pending.records_pending``): those it
    # had cleared are blank until recovery finishes them.
    pending_recovery: int = 0


class ObjectCounts(BaseModel):
    total: int
    missing: int
    unrecognised: int


class RunSummary(BaseModel):
    """The execution's output: small (well under Step Functions' 256 KB), readable at a glance; ``error`` and
    ``cause`` are what the failed execution shows."""

    run_id: str
    action: str
    mode: str
    outcome: RunOutcome
    before: dict[ObjectType, ObjectCounts] | None
    after: dict[ObjectType, ObjectCounts] | None
    changes_by_rule: dict[str, int]
    changes_planned: int
    changes_applied: int
    checks: dict[str, str]
    failures: list[str]
    api_calls: int
    files: dict[str, str]
    error: str | None
    cause: str | None
    where_from: str = ""  # one line: the sources of most records fixed
    fixed_by_source: dict[str, int] = {}  # the worst sources, ``SourceCount.key`` -> records fixed
    fixed_change: int | None = None  # records fixed minus the baseline's (``drift.Drift``; None: no baseline)
    drift_records: int = 0  # the rise the DriftRecords metric publishes: 0 unless this run succeeded and fixed more


class RunReport(BaseModel):
    run_id: str
    action: str
    mode: str
    source: str
    outcome: RunOutcome
    started_at: datetime
    finished_at: datetime
    portal_id: int | None = None  # from the token check, for links into HubSpot
    stages: dict[ObjectType, list[tuple[str, str]]] = {}
    before: AuditSnapshot | None = None
    after: AuditSnapshot | None = None
    planned_after: AuditSnapshot | None = None  # a dry run's preview: the counts the plan would leave
    changes: list[RuleCount] = []
    changed_records: list[ChangedRecord] = []  # the first of them; every one is in changes.csv
    changed_total: int = 0
    sources: list[SourceCount] = []  # where the fixed records' bad values came from, worst first
    drift: Drift | None = None  # this run against the runs before it
    fix: FixSummary = FixSummary()
    prevention: PreventionOutcome | None = None
    probe: ProbeState | None = None
    flows_paused: list[str] = []  # an undo's: the prevention flows it switched off while restoring ...
    flows_resumed: list[str] = []  # ... and switched back on
    restores: RestoreCheck | None = None  # an undo's: what the restored records hold once it is done
    already_restored: int = 0  # an undo's: records at their original already (an interrupted undo restored them)
    checks: list[Check] = []
    waits: list[Wait] = []  # how long the run waited on something other than its own work, and why
    api: ApiTotals = ApiTotals()
    failures: list[str] = []
    rejected: list[RejectedRecords] = []  # records HubSpot refused a write of, by reason
    quarantined: list[QuarantinedMarker] = []  # pending markers recovery moved aside (this run's or earlier ones)
    config: dict[str, Any] = {}
    overrides: list[Override] = []  # what the execution input changed in the deployed config
    files: dict[str, str] = {}

    @property
    def planned_total(self) -> int:
        return sum(rule.planned for rule in self.changes)

    def summary(self) -> RunSummary:
        by_rule: dict[str, int] = {}
        for rule in self.changes:
            key = f"{rule.object_type.value} {rule.rule}"
            by_rule[key] = by_rule.get(key, 0) + rule.planned
        failed = self.outcome != "succeeded"
        return RunSummary(
            run_id=self.run_id,
            action=self.action,
            mode=self.mode,
            outcome=self.outcome,
            before=_object_counts(self.before),
            after=_object_counts(self.after),
            changes_by_rule=by_rule,
            changes_planned=self.planned_total,
            changes_applied=self.fix.applied,
            checks={check.name: check.status for check in self.checks},
            failures=self.failures[:SUMMARY_FAILURES],
            api_calls=self.api.total_calls,
            files=self.files,
            error=f"LifecycleGuard.{_camel(self.outcome)}" if failed else None,
            cause=self._cause() if failed else None,
            where_from=summary_line(self.sources) if self.action == "run" else "",
            fixed_by_source={count.key: count.total for count in self.sources[:SUMMARY_SOURCES]},
            fixed_change=self.drift.fixed_change if self.drift else None,
            drift_records=self.drift.rising if self.drift and self.outcome == "succeeded" else 0,
        )

    def reasons(self) -> list[str]:
        """Why the run did not succeed: its failures, then the checks that failed."""
        return [*self.failures, *(f"check failed: {check.name}" for check in self.checks if check.status == "FAIL")]

    def _cause(self) -> str:
        return "; ".join(self.reasons())[:CAUSE_LENGTH] or "the run did not succeed"


def _object_counts(snapshot: AuditSnapshot | None) -> dict[ObjectType, ObjectCounts] | None:
    if snapshot is None:
        return None
    return {
        object_type: ObjectCounts(total=c.total, missing=c.missing, unrecognised=c.unrecognised)
        for object_type, c in snapshot.counts.items()
    }


def _camel(text: str) -> str:
    return "".join(part.capitalize() for part in text.split("_"))
