"""Fixing: apply planned changes in batches of 100, read every write back, journal it, and never leave a blank.

For each batch:

1. a *pending marker* (the batch's planned changes) is stored before the first write;
2. backward moves, which HubSpot silently ignores, are first cleared (``""``) in one batch update; then a
   separate batch update sets the targets of the forward moves and of the ids whose clear took;
3. every written record is read back; a record that is not at its target is written again (at most
   ``max_write_attempts`` rounds) unless someone else changed it since, which we never fight;
4. a record we blanked but could not set gets its old value back - whatever ended the batch: a record HubSpot
   refused, or an exception after the clear (except one that says no write can succeed now: a refused token or
   the daily limit; the marker then stays and recovery finishes the record once writing works again);
5. the batch's journal segment is stored (also when the batch fails half-way), then the marker is deleted; once
   every batch of the job is done, their entries are stored again as one segment (``journal.segment_keys``).

HubSpot refuses a whole batch for one bad input (a validation rule, a deleted option); ``rejections`` splits such a
batch until the refused records stand alone: they are journaled ``failed`` with HubSpot's message, and the rest of
the batch is written as usual.

A crash between steps leaves the marker. Whoever finds it - the job's own retry, the verify step of the same run,
or the start of the next run - resumes or recovers it: records that the crash left blank are finished with their
planned target (not re-planned as "missing"), and writes that reached HubSpot are journaled as applied. A marker
whose replay HubSpot refuses outright is quarantined (``pending``), never a reason for a later run to fail.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum

from lifecycle_guard.config import FixOptions
from lifecycle_guard.crm import REFUSALS, WRITING_BLOCKED, Crm, HubSpotError
from lifecycle_guard.jobs import PlannedChange
from lifecycle_guard.journal import JournalEntry, Write, WriteOutcome, utcnow, write_segment
from lifecycle_guard.layout import RunLayout, key_name
from lifecycle_guard.objects import LIFECYCLE_STAGE, NO_STAGE, ObjectType
from lifecycle_guard.pending import marker_body, pending_batches, quarantine
from lifecycle_guard.rejections import NOT_FOUND, update_isolating
from lifecycle_guard.stages import StageCatalog
from lifecycle_guard.storage import ObjectStore

RESIDUE_SAMPLE = 100
INTERRUPTED = "cleared by an interrupted attempt"


class FixMode(Enum):
    FRESH = "fresh"  # first attempt: records hold their planned before-value
    RESUME = "resume"  # a retried job: read current values first, then carry on with everything left
    RECOVER = "recover"  # an abandoned batch: only finish the records we blanked, and journal what was done


@dataclass
class FixOutcome:
    """Counts of the final outcome of each planned change, plus a sample of those left off target."""

    applied: int = 0
    failed: int = 0
    ignored: int = 0
    skipped: int = 0
    isolating_calls: int = 0  # batch updates spent finding the records HubSpot refused in whole-batch refusals
    residue: list[dict[str, str]] = field(default_factory=list)

    def add(self, other: FixOutcome) -> None:
        self.applied += other.applied
        self.failed += other.failed
        self.ignored += other.ignored
        self.skipped += other.skipped
        self.isolating_calls += other.isolating_calls
        self.residue.extend(other.residue[: max(0, RESIDUE_SAMPLE - len(self.residue))])

    def count(self, outcome: WriteOutcome) -> None:
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)

    def counts(self) -> dict[str, int]:
        """Records per final outcome and the isolating calls, as the run's counters add them up."""
        return {outcome.value: getattr(self, outcome.value) for outcome in WriteOutcome} | {
            "isolating_calls": self.isolating_calls
        }


@dataclass
class _Batch:
    """One batch in flight: the plan, what each record holds now, the journal so far, and settled records."""

    job_id: str
    changes: dict[str, PlannedChange]
    current: dict[str, str]
    entries: list[JournalEntry] = field(default_factory=list)
    settled: dict[str, WriteOutcome] = field(default_factory=dict)
    isolating_calls: int = 0

    @property
    def object_type(self) -> ObjectType:
        return next(iter(self.changes.values())).object_type

    def open_ids(self) -> list[str]:
        return [object_id for object_id in self.changes if object_id not in self.settled]


class Fixer:
    """Writes planned changes of one object type to HubSpot and journals every write."""

    def __init__(
        self,
        crm: Crm,
        catalog: StageCatalog,
        store: ObjectStore,
        options: FixOptions,
        layout: RunLayout,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._crm = crm
        self._catalog = catalog
        self._store = store
        self._options = options
        self._layout = layout
        self._clock = clock
        # Stages HubSpot called an invalid option (deleted mid-run): later writes of them fail without a call.
        self._invalid_options: dict[str, str] = {}

    def apply(
        self, job_id: str, changes: Sequence[PlannedChange], *, mode: FixMode = FixMode.FRESH, attempt: int = 1
    ) -> FixOutcome:
        outcome = FixOutcome()
        size = self._options.batch_size
        journaled: list[JournalEntry] = []
        attempt_id = f"{job_id}-a{attempt}"
        for number, start in enumerate(range(0, len(changes), size)):
            batch = list(changes[start : start + size])
            marker = self._layout.pending_marker(job_id, number)
            if mode is not FixMode.RECOVER:
                # Below the daily watermark, stop between batches; a batch begun (or a recovery) is finished.
                self._crm.check_daily_watermark()
                self._store.put(marker, marker_body(self._layout.run_id, job_id, batch))
            with self._crm.finishing():
                segment = self._layout.journal_segment(attempt_id, number)
                outcome.add(self._apply_batch(job_id, batch, mode, segment, journaled))
            if mode is not FixMode.RECOVER:
                self._store.delete(marker)
        if len(changes) > size:
            # Every batch finished: their entries once more as one segment, which the report reads instead.
            write_segment(self._store, self._layout.job_journal_segment(attempt_id), journaled)
        return outcome

    def _apply_batch(
        self, job_id: str, changes: list[PlannedChange], mode: FixMode, segment: str, journaled: list[JournalEntry]
    ) -> FixOutcome:
        batch = _Batch(job_id, {c.object_id: c for c in changes}, {c.object_id: c.before for c in changes})
        try:
            if mode is not FixMode.FRESH:
                self._reconcile(batch, blanks_only=mode is FixMode.RECOVER)
            for _ in range(self._options.max_write_attempts):
                todo = batch.open_ids()
                if not todo:
                    break
                self._write_round(batch, todo)
        except WRITING_BLOCKED:
            raise  # no write can succeed now, a restore included
        except Exception:
            # A blank is worse than a wrong stage, on this path too; if HubSpot refuses the restore as well, the
            # original error is the one to tell, and the marker (kept: this raises) lets recovery finish the rest.
            with suppress(HubSpotError):
                self._restore_blanks(batch)
            raise
        else:
            self._restore_blanks(batch)
        finally:
            # Even a batch that fails half-way journals the writes it made.
            write_segment(self._store, segment, batch.entries)
            journaled.extend(batch.entries)
        return self._outcome(batch)

    def _reconcile(self, batch: _Batch, *, blanks_only: bool) -> None:
        """Read current values: settle what is done, deleted or changed elsewhere; note blanks a crash left."""
        found = self._crm.read(batch.object_type, list(batch.changes), [LIFECYCLE_STAGE])
        for object_id, change in list(batch.changes.items()):
            record = found.get(object_id)
            now = record.stage if record else NO_STAGE
            batch.current[object_id] = now
            if record is None:
                self._settle(batch, change, WriteOutcome.SKIPPED, "record no longer exists")
            elif now == change.target:
                self._journal(batch, change, Write.SET, change.before, WriteOutcome.APPLIED, "confirmed after restart")
                batch.settled[object_id] = WriteOutcome.APPLIED
            elif now not in (change.before, NO_STAGE):
                self._settle(batch, change, WriteOutcome.SKIPPED, f"changed elsewhere to {now!r}")
            elif now == NO_STAGE and change.before != NO_STAGE:
                # The interrupted attempt's clear reached HubSpot; it may have died before journaling it, and the
                # journal must hold it (an undo restores the first journaled before-value, not the blank).
                self._journal(
                    batch, change, Write.CLEAR, change.before, WriteOutcome.APPLIED, INTERRUPTED, after=NO_STAGE
                )
            elif blanks_only:
                del batch.changes[object_id]  # never written: the next plan decides its fate

    def _write_round(self, batch: _Batch, todo: list[str]) -> None:
        to_clear = [i for i in todo if self._catalog.needs_clear_first(batch.current[i], batch.changes[i].target)]
        clearing = set(to_clear)
        to_set = [i for i in todo if i not in clearing]
        if to_clear:
            to_set += self._update(batch, dict.fromkeys(to_clear, NO_STAGE), Write.CLEAR)
        if to_set:
            written = self._update(batch, {i: batch.changes[i].target for i in to_set}, Write.SET)
            self._read_back(batch, written)

    def _update(self, batch: _Batch, values: Mapping[str, str], write: Write) -> list[str]:
        """One batch update (split while HubSpot refuses it whole); journals each record and returns the ids whose
        write HubSpot accepted."""
        isolated = update_isolating(self._crm, batch.object_type, values, self._invalid_options)
        batch.isolating_calls += isolated.isolating_calls
        result = isolated.result
        accepted = []
        for object_id, value in values.items():
            change = batch.changes[object_id]
            before = batch.current[object_id]
            reason = result.failed.get(object_id)
            if reason is not None:
                self._journal(batch, change, write, before, WriteOutcome.FAILED, reason, after=value)
                batch.settled[object_id] = WriteOutcome.SKIPPED if reason.startswith(NOT_FOUND) else WriteOutcome.FAILED
            elif write is Write.CLEAR:
                echoed = result.records.get(object_id)
                took = echoed is None or echoed.stage == NO_STAGE
                self._journal(
                    batch, change, write, before, WriteOutcome.APPLIED if took else WriteOutcome.IGNORED, after=value
                )
                if took:
                    batch.current[object_id] = NO_STAGE
                    accepted.append(object_id)
            else:
                # A set's outcome is only known from the read-back; until then it stands as ignored.
                self._journal(batch, change, write, before, WriteOutcome.IGNORED, after=value)
                accepted.append(object_id)
        return accepted

    def _read_back(self, batch: _Batch, written: list[str]) -> None:
        if not written:
            return
        found = self._crm.read(batch.object_type, written, [LIFECYCLE_STAGE])
        last_set = {entry.object_id: index for index, entry in enumerate(batch.entries) if entry.write is Write.SET}
        for object_id in written:
            change = batch.changes[object_id]
            record = found.get(object_id)
            if record is None:
                self._settle(batch, change, WriteOutcome.SKIPPED, "record no longer exists")
                continue
            expected = batch.entries[last_set[object_id]].after
            previous, now = batch.current[object_id], record.stage
            batch.current[object_id] = now
            if now == expected:
                index = last_set[object_id]
                batch.entries[index] = batch.entries[index].model_copy(update={"outcome": WriteOutcome.APPLIED})
                if now == change.target:
                    batch.settled[object_id] = WriteOutcome.APPLIED
            elif now not in (previous, change.before, NO_STAGE):
                self._settle(batch, change, WriteOutcome.SKIPPED, f"changed elsewhere to {now!r}")

    def _restore_blanks(self, batch: _Batch) -> None:
        """Records we blanked whose target never took get their old value back: a blank is worse than a wrong stage.
        That includes records whose set HubSpot refused (settled as failed): the refusal left them blank too."""
        blanked = {
            i: change.before
            for i, change in batch.changes.items()
            if batch.current[i] == NO_STAGE
            and change.before != NO_STAGE
            and batch.settled.get(i) in (None, WriteOutcome.FAILED)
        }
        if blanked:
            restored = self._update(batch, blanked, Write.SET)
            self._read_back(batch, restored)

    def _journal(
        self,
        batch: _Batch,
        change: PlannedChange,
        write: Write,
        before: str,
        outcome: WriteOutcome,
        detail: str = "",
        *,
        after: str | None = None,
    ) -> None:
        batch.entries.append(
            JournalEntry(
                run_id=self._layout.run_id,
                job_id=batch.job_id,
                object_type=change.object_type,
                object_id=change.object_id,
                write=write,
                before=before,
                after=change.target if after is None else after,
                rule=change.rule,
                at=self._clock(),
                outcome=outcome,
                detail=detail,
                source=change.source,
            )
        )

    def _settle(self, batch: _Batch, change: PlannedChange, outcome: WriteOutcome, detail: str) -> None:
        now = batch.current[change.object_id]
        self._journal(batch, change, Write.NONE, now, outcome, detail, after=now)
        batch.settled[change.object_id] = outcome

    @staticmethod
    def _outcome(batch: _Batch) -> FixOutcome:
        outcome = FixOutcome(isolating_calls=batch.isolating_calls)
        for object_id, change in batch.changes.items():
            final = batch.settled.get(object_id, WriteOutcome.IGNORED)  # still off target after every round
            outcome.count(final)
            if final in (WriteOutcome.IGNORED, WriteOutcome.FAILED) and len(outcome.residue) < RESIDUE_SAMPLE:
                outcome.residue.append(
                    {"object_id": object_id, "target": change.target, "now": batch.current[object_id]}
                )
        return outcome


def recover_pending(
    store: ObjectStore,
    crm: Crm,
    catalogs: Mapping[ObjectType, StageCatalog],
    options: FixOptions,
    layout: RunLayout,
    *,
    of_run: str | None = None,
) -> FixOutcome:
    """Finish abandoned batches (of ``of_run``, or of every run) and delete their markers.

    Entries are journaled under the recovering run with the original rule prefixed ``recovery:<original run>:``,
    so they appear in the report of the run that made them. A marker that cannot be trusted, or whose replay
    HubSpot refuses outright (a 4xx no bisection resolves: the batch read of a corrupt marker), is quarantined:
    replaying it again would be refused again, and must not stop this run nor any later one.
    """
    outcome = FixOutcome()
    for pending in pending_batches(store, of_run, quarantined_by=layout.run_id):
        changes = [replace(c, rule=f"recovery:{pending.run_id}:{c.rule}") for c in pending.changes]
        fixer = Fixer(crm, catalogs[pending.object_type], store, options, layout)
        job_id = "recover-" + key_name(pending.key)
        try:
            outcome.add(fixer.apply(job_id, changes, mode=FixMode.RECOVER))
        except REFUSALS as exc:
            quarantine(store, pending.key, f"HubSpot refused its replay: {exc}", quarantined_by=layout.run_id)
            continue
        store.delete(pending.key)
    return outcome
