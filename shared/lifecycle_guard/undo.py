"""Undo: put back the before-values of an earlier run, from its journal, one of its jobs at a time.

A record's net change in a run is its first applied write's ``before`` and its last applied write's ``after``.
Undo restores the ``before`` only where HubSpot still holds that ``after``: a record someone (or something)
changed since is left alone and journaled as skipped, unless ``force``. Restoring goes through the same
``Fixer`` as a run - clear-then-set for backward moves, read-back, journal under the undo run - so an undo can
itself be undone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import groupby

from lifecycle_guard.journal import JournalEntry, Outcome, Write
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.planning import PlannedChange


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
        if entry.outcome is not Outcome.APPLIED or entry.write is Write.NONE:
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
