"""Report: write report.json/.html, the journal and the plan under the run's prefix, update latest/, and release
the lock; the run summary is the execution's output."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping

from lifecycle_guard.changes import ChangedRecord, FinalValue, FinalValues, changed_records, write_changes
from lifecycle_guard.contracts import CatchPayload, ExecutionInfo, ExecutionState, RunContext
from lifecycle_guard.drift import Drift, previous_points, run_point, store_point, trend
from lifecycle_guard.jobs import RuleCount
from lifecycle_guard.journal import compact_journal, utcnow
from lifecycle_guard.layout import LATEST_REPORT_HTML, LATEST_REPORT_JSON, RunLayout, undone_key
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.offenders import SourceCount, SourceTally
from lifecycle_guard.pending import quarantined_markers, records_pending
from lifecycle_guard.plan_store import PlanStore
from lifecycle_guard.rejections import RejectionCollector
from lifecycle_guard.report_builder import build_report, in_words
from lifecycle_guard.report_html import render_html
from lifecycle_guard.reporting import RunSummary
from lifecycle_guard.runtime import Services
from lifecycle_guard.steps.context import RunContextError, stored_run
from lifecycle_guard.storage import ObjectStore

RESIDUE_SAMPLE = 100
HTML = "text/html; charset=utf-8"


def report(execution: ExecutionInfo, state: ExecutionState, services: Services) -> RunSummary:
    """Only what Begin stored for this execution says which run this is: a report never acts on another run's
    lock, files or ``latest/``, and a run that did not get past Begin does not move ``latest/``."""
    try:
        run = stored_run(services.store, execution)
    except RunContextError as exc:
        run = None
        state = state.model_copy(
            update={"failure": state.failure or CatchPayload(Error="RunContextError", Cause=str(exc))}
        )
    layout = run.layout if run else RunLayout.for_run(execution.name, execution.start_time)
    rejected, finals = RejectionCollector(), FinalValues()

    def inspect(segment: bytes) -> None:
        rejected.scan(segment)
        finals.scan(segment)

    compact_journal(services.store, layout, inspect=inspect)
    files = {"report_json": layout.report_json, "report_html": layout.report_html, "journal": layout.journal}
    planned: list[RuleCount] = []
    jobs_planned = 0
    changed: tuple[list[ChangedRecord], int] = ([], 0)
    sources: list[SourceCount] = []
    drift: Drift | None = None
    if run and run.action == "run":
        plans = PlanStore(services.store, layout, hold_jobs=True)
        planned = plans.counts()
        jobs_planned = len(plans.job_ids())
        files["plan"] = plans.export(run.catalogs())
        tally = SourceTally()
        changed = _changed_records(services.store, run, plans, finals.by_record if run.apply else None, tally)
        files["changes_csv"] = layout.changes_csv
        sources = tally.ranked()
        drift = _drift(services.store, run, planned, sources)
    tracker = services.tracker.state(layout.run_id)
    built = build_report(
        execution,
        run,
        state,
        tracker,
        planned=planned,
        jobs_planned=jobs_planned,
        changed=changed,
        residue=_residue(services.store, layout) if tracker.failed or tracker.ignored else [],
        pending_recovery=records_pending(services.store, layout.run_id),
        files=files,
        finished_at=utcnow(),
        rejected=rejected.groups(),
        quarantined=quarantined_markers(services.store),
        sources=sources,
        drift=drift,
    )
    body, page = built.model_dump_json(indent=2).encode(), render_html(built).encode()
    services.store.put(layout.report_json, body)
    services.store.put(layout.report_html, page, HTML)
    if built.drift is not None:
        store_point(services.store, built.drift.runs[-1])  # for the runs after this one, with its outcome
    if run is not None:
        services.store.put(LATEST_REPORT_JSON, body)
        services.store.put(LATEST_REPORT_HTML, page, HTML)
        _mark_undone(services.store, run, state)
    services.tracker.finish_run(layout.run_id, built.outcome)
    services.tracker.release_lock(layout.run_id)
    return built.summary()


def _mark_undone(store: ObjectStore, run: RunContext, state: ExecutionState) -> None:
    """An undo that restored all it could - every journaled job decided, every restore job handed over settled done:
    undoing the same run again needs ``force`` (``steps.begin``). One whose restore jobs failed, never finished or
    were stopped after a failure may simply be run again."""
    progress = state.progress
    settled = progress is not None and progress.done and progress.jobs_done == progress.jobs_total
    if run.action == "undo" and run.apply and run.undo_run_id and state.undo and state.undo.done and settled:
        marker = {"undone_by": run.run_id, "at": utcnow().isoformat()}
        store.put(undone_key(run.undo_run_id), json.dumps(marker).encode())


def _changed_records(
    store: ObjectStore,
    run: RunContext,
    plans: PlanStore,
    finals: Mapping[tuple[ObjectType, str], FinalValue] | None,
    tally: SourceTally,
) -> tuple[list[ChangedRecord], int]:
    """Every planned change with the journal's final word on it (``finals``; None for a dry run: "would change"),
    to changes.csv; ``tally`` counts the fixed ones by source on the way."""

    def counted() -> Iterator[ChangedRecord]:
        for row in changed_records((change for job in plans.jobs() for change in job.changes), finals):
            tally.add(row)
            yield row

    return write_changes(
        store, run.layout, counted(), lambda row: in_words(run, row.object_type, row.rule, row.target), run.portal_id
    )


def _drift(store: ObjectStore, run: RunContext, planned: list[RuleCount], sources: list[SourceCount]) -> Drift:
    """This run's point against the earlier runs' of its mode."""
    disallowed = {object_type: run.config.disallowed(object_type) for object_type in ObjectType}
    point = run_point(run.run_id, run.started_at, run.mode.value, planned, run.before, sources, disallowed)
    return trend(previous_points(store, point), point)


def _residue(store: ObjectStore, layout: RunLayout) -> list[dict[str, str]]:
    """A sample of the records the fix workers left off target, from their job results (read only when the run's
    counters say some were: a clean run's report would read every job's result for nothing)."""
    sample: list[dict[str, str]] = []
    for key in store.keys(layout.results):
        sample.extend(json.loads(store.get(key) or b"{}").get("residue", []))
        if len(sample) >= RESIDUE_SAMPLE:
            break
    return sample[:RESIDUE_SAMPLE]
