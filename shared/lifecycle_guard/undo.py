"""Undo: put back the before-values of an earlier run, from its journal, one of its jobs at a time.

A record's net change in a run is its first applied write's ``before`` and its last applied write's ``after``.
Undo restores the ``before`` only where HubSpot still holds that ``after``: a record someone (or something)
changed since is left alone and journaled as skipped, unless ``force``. The restores are planned changes of the
undo run (before: the value HubSpot holds now, target: the original), cut into fix jobs and applied by the fix
workers like a run's (``steps.undo``): clear-then-set for backward moves, read-back, journal under the undo run -
so an undo can itself be undone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby

from pydantic import BaseModel

from lifecycle_guard.audit import AuditSnapshot
from lifecycle_guard.crm import Crm
from lifecycle_guard.jobs import PlannedChange
from lifecycle_guard.journal import JournalEntry, Write, WriteOutcome, utcnow, write_segment
from lifecycle_guard.layout import RunLayout
from lifecycle_guard.objects import LIFECYCLE_STAGE, NO_STAGE, ObjectType
from lifecycle_guard.storage import ObjectStore

EXAMPLES = 20


@dataclass(frozen=True, slots=True)
class NetChange:
    object_type: ObjectType
    object_id: str
    original: str
    final: str


def net_changes(entries: Iterable[JournalEntry]) -> list[NetChange]:
    """Per record, what the run really changed: from its first applied write's before to its last one's after."""
    first: dict[tuple[ObjectType, str], str] = {}
    last: dict[tuple[ObjectType, str], str] = {}
    for entry in entries:
        if entry.outcome is not WriteOutcome.APPLIED or entry.write is Write.NONE:
            continue
        key = (entry.object_type, entry.object_id)
        first.setdefault(key, entry.before)
        last[key] = entry.after
    return [
        NetChange(object_type, object_id, first[(object_type, object_id)], final)
        for (object_type, object_id), final in last.items()
        if first[(object_type, object_id)] != final
    ]


def journal_jobs(entries: Iterable[JournalEntry]) -> Iterator[tuple[str, list[JournalEntry]]]:
    """Entries grouped by the job that wrote them (all attempts), in journal order; a job is undone as a unit."""
    for job_id, group in groupby(entries, key=lambda entry: entry.job_id):
        yield job_id, list(group)


@dataclass(frozen=True)
class UndoPlan:
    restore: list[PlannedChange]  # the writes that put the originals back
    skipped: list[NetChange]  # changed since the run (or deleted): left alone unless forced
    already_restored: list[NetChange]  # at the original already (an earlier, interrupted undo put it back)


def undo_plan(changes: Iterable[NetChange], current: dict[str, str], *, run_id: str, force: bool) -> UndoPlan:
    """Per record: restore the original, leave it alone (changed since the run, or gone), or nothing to do (it
    holds the original already)."""
    plan = UndoPlan([], [], [])
    for change in changes:
        now = current.get(change.object_id)
        if now == change.original:
            plan.already_restored.append(change)
        elif now is None or (now != change.final and not force):
            plan.skipped.append(change)
        else:
            plan.restore.append(
                PlannedChange(change.object_type, change.object_id, now, change.original, f"undo:{run_id}")
            )
    return plan


@dataclass
class UndoCounts:
    """Per object type, what deciding a journaled job found: restores handed on, records left alone, records at
    their original already."""

    to_restore: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    already_restored: Counter[str] = field(default_factory=Counter)


class Undoer:
    """Decides one journaled job at a time: reads current values, journals what changed since as skipped, and hands
    each restore to ``restore`` (the undo's job sink: the fix workers write it)."""

    def __init__(
        self,
        crm: Crm,
        store: ObjectStore,
        layout: RunLayout,
        *,
        undone_run_id: str,
        force: bool,
        restore: Callable[[PlannedChange], None],
    ) -> None:
        self._crm = crm
        self._store = store
        self._layout = layout
        self._undone_run_id = undone_run_id
        self._force = force
        self._restore = restore

    def undo_job(self, job_id: str, entries: Iterable[JournalEntry]) -> UndoCounts:
        counts = UndoCounts()
        changes = net_changes(entries)
        for object_type in ObjectType:
            of_type = [c for c in changes if c.object_type is object_type]
            if not of_type:
                continue
            found = self._crm.read(object_type, [c.object_id for c in of_type], [LIFECYCLE_STAGE])
            current = {object_id: record.stage for object_id, record in found.items()}
            plan = undo_plan(of_type, current, run_id=self._undone_run_id, force=self._force)
            self._journal_skips(f"undo-{job_id}-{object_type.value}", plan.skipped, current)
            counts.skipped[object_type.value] += len(plan.skipped)
            counts.already_restored[object_type.value] += len(plan.already_restored)
            counts.to_restore[object_type.value] += len(plan.restore)
            for change in plan.restore:
                self._restore(change)
        return counts

    def _journal_skips(self, job_id: str, skipped: list[NetChange], current: dict[str, str]) -> None:
        """Under a key of their own, so a retried decision of the same job writes the same segment again."""
        entries = [
            JournalEntry(
                run_id=self._layout.run_id,
                job_id=job_id,
                object_type=change.object_type,
                object_id=change.object_id,
                write=Write.NONE,
                before=current.get(change.object_id, ""),
                after=current.get(change.object_id, ""),
                rule=f"undo:{self._undone_run_id}",
                at=utcnow(),
                outcome=WriteOutcome.SKIPPED,
                detail="changed since the run (or deleted); undo with force to restore it anyway",
            )
            for change in skipped
        ]
        write_segment(self._store, self._layout.journal_segment(f"{job_id}-skipped", 0), entries)


class RestoreCheck(BaseModel):
    """What the records an undo restored hold once it is done and the prevention flows are back on: still the
    restored value, the default stage again (a workflow - ours if it was not paused, or another), or another value
    (someone changed it since). ``complete`` is False when the Lambda's time ran out first (``checked`` says how
    far it got). ``after``: the portal's counts then."""

    checked: int = 0
    held: int = 0
    reset_by_workflow: int = 0
    changed_since: int = 0
    complete: bool = True
    examples: list[str] = []  # "<type> <id>: restored 'x', now 'y'" for the first records that did not hold
    after: AuditSnapshot | None = None


def _restored(entries: Iterable[JournalEntry]) -> dict[tuple[ObjectType, str], str]:
    """Per record, the value the undo's last write stored (a backward restore is a clear, then a set)."""
    last: dict[tuple[ObjectType, str], JournalEntry] = {}
    for entry in entries:
        if entry.write is not Write.NONE:
            last[(entry.object_type, entry.object_id)] = entry
    return {key: entry.after for key, entry in last.items() if entry.outcome is WriteOutcome.APPLIED}


def read_back_restores(
    crm: Crm, entries: Iterable[JournalEntry], default_stage: str, out_of_time: Callable[[], bool]
) -> RestoreCheck:
    """Read back, a journaled job at a time (a job's records are few and one batch read per type), every record
    the undo's journal shows restored."""
    check = RestoreCheck()
    for _, job_entries in journal_jobs(entries):
        if out_of_time():
            return check.model_copy(update={"complete": False})
        restored = _restored(job_entries)
        for object_type in ObjectType:
            ids = [object_id for (kind, object_id) in restored if kind is object_type]
            found = crm.read(object_type, ids, [LIFECYCLE_STAGE]) if ids else {}
            for object_id in ids:
                record = found.get(object_id)
                value, now = restored[(object_type, object_id)], record.stage if record else None
                _tally(check, f"{object_type.value} {object_id}", value, now, default_stage)
    return check


def _tally(check: RestoreCheck, record: str, value: str, now: str | None, default_stage: str) -> None:
    """``now`` is None for a record deleted since."""
    check.checked += 1
    if now == value:
        check.held += 1
        return
    if value == NO_STAGE and now == default_stage:
        check.reset_by_workflow += 1
    else:
        check.changed_since += 1
    if len(check.examples) < EXAMPLES:
        shown = "deleted" if now is None else repr(now or "(no stage)")
        check.examples.append(f"{record}: restored {value or '(no stage)'!r}, now {shown}")
