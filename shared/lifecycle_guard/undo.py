"""Undo: put back the before-values of an earlier run, from its journal, one of its jobs at a time.

A record's net change in a run is its first applied write's ``before`` and its last applied write's ``after``.
Undo restores the ``before`` only where HubSpot still holds that ``after``: a record someone (or something)
changed since is left alone and journaled as skipped, unless ``force``. Restoring goes through the same
``Fixer`` as a run - clear-then-set for backward moves, read-back, journal under the undo run - so an undo can
itself be undone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import groupby

from lifecycle_guard.config import FixOptions
from lifecycle_guard.crm import Crm
from lifecycle_guard.fixing import Fixer, FixOutcome
from lifecycle_guard.jobs import PlannedChange
from lifecycle_guard.journal import JournalEntry, Write, WriteOutcome, utcnow, write_segment
from lifecycle_guard.layout import RunLayout
from lifecycle_guard.objects import LIFECYCLE_STAGE, ObjectType
from lifecycle_guard.stages import StageCatalog
from lifecycle_guard.storage import ObjectStore


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


def undo_plan(
    changes: Iterable[NetChange], current: dict[str, str], *, run_id: str, force: bool
) -> tuple[list[PlannedChange], list[NetChange]]:
    """Changes that restore the originals, and the records skipped because they changed since (or vanished)."""
    restore: list[PlannedChange] = []
    skipped: list[NetChange] = []
    for change in changes:
        now = current.get(change.object_id)
        if now is None or (now != change.final and not force):
            skipped.append(change)
        elif now != change.original:
            restore.append(PlannedChange(change.object_type, change.object_id, now, change.original, f"undo:{run_id}"))
    return restore, skipped


@dataclass
class UndoCounts:
    restored: Counter[str]
    skipped: Counter[str]
    outcome: FixOutcome


class Undoer:
    """Undoes one journaled job at a time: reads current values, skips what changed since, restores the rest."""

    def __init__(
        self,
        crm: Crm,
        catalogs: Mapping[ObjectType, StageCatalog],
        store: ObjectStore,
        options: FixOptions,
        layout: RunLayout,
        *,
        undo_run_id: str,
        force: bool,
        apply: bool,
    ) -> None:
        self._crm = crm
        self._catalogs = catalogs
        self._store = store
        self._options = options
        self._layout = layout
        self._undo_run_id = undo_run_id
        self._force = force
        self._apply = apply

    def undo_job(self, job_id: str, entries: Iterable[JournalEntry]) -> UndoCounts:
        counts = UndoCounts(Counter(), Counter(), FixOutcome())
        changes = net_changes(entries)
        for object_type in ObjectType:
            of_type = [c for c in changes if c.object_type is object_type]
            if not of_type:
                continue
            found = self._crm.read(object_type, [c.object_id for c in of_type], [LIFECYCLE_STAGE])
            current = {object_id: record.stage for object_id, record in found.items()}
            restore, unchanged = undo_plan(of_type, current, run_id=self._undo_run_id, force=self._force)
            undo_job_id = f"undo-{job_id}-{object_type.value}"
            self._journal_skips(undo_job_id, unchanged, current)
            counts.skipped[object_type.value] += len(unchanged)
            if not restore:
                continue
            if self._apply:
                fixer = Fixer(self._crm, self._catalogs[object_type], self._store, self._options, self._layout)
                outcome = fixer.apply(undo_job_id, restore)
                counts.outcome.add(outcome)
                counts.restored[object_type.value] += outcome.applied
            else:
                counts.restored[object_type.value] += len(restore)
        return counts

    def _journal_skips(self, job_id: str, skipped: list[NetChange], current: Mapping[str, str]) -> None:
        entries = [
            JournalEntry(
                run_id=self._layout.run_id,
                job_id=job_id,
                object_type=change.object_type,
                object_id=change.object_id,
                write=Write.NONE,
                before=current.get(change.object_id, ""),
                after=current.get(change.object_id, ""),
                rule=f"undo:{self._undo_run_id}",
                at=utcnow(),
                outcome=WriteOutcome.SKIPPED,
                detail="changed since the run (or deleted); undo with force to restore it anyway",
            )
            for change in skipped
        ]
        write_segment(self._store, self._layout.journal_segment(f"{job_id}-skipped", 0), entries)
