"""Reading many objects at once, in order, and once: what a report does with a run's journal segments and jobs."""

from __future__ import annotations

import contextvars
import threading
import time

from support.stores import CountingStore

from lifecycle_guard.jobs import FORWARD, JobId, PlannedChange
from lifecycle_guard.layout import RunLayout
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.plan_store import PlanStore
from lifecycle_guard.storage import MemoryStore, read_in_order

CALLER = contextvars.ContextVar("caller", default="nobody")


class SlowStore(MemoryStore):
    """A store whose reads take 50 ms each, like S3's latency, and record whose context they ran in."""

    def __init__(self) -> None:
        super().__init__()
        self.readers: set[str] = set()
        self.at_once = 0
        self._running = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            self._running += 1
            self.at_once = max(self.at_once, self._running)
        time.sleep(0.05)
        self.readers.add(CALLER.get())
        with self._lock:
            self._running -= 1
        return super().get(key)


def test_objects_come_in_order_read_several_at_once_in_the_callers_context():
    store = SlowStore()
    for n in range(40):
        store.put(f"k/{n:03d}", str(n).encode())
    keys = [f"k/{n:03d}" for n in range(40)] + ["k/missing"]
    # GIVEN a caller acting as "report" (as the offline harness marks a handler's role)
    CALLER.set("report")
    started = time.monotonic()
    bodies = list(read_in_order(store, keys, workers=8))
    # THEN every object came back in key order, a missing one empty
    assert bodies == [str(n).encode() for n in range(40)] + [b""]
    # ... read eight at a time: 41 reads of 50 ms took far less than 2 s
    assert store.at_once == 8
    assert time.monotonic() - started < 1.0
    # ... each in the caller's context
    assert store.readers == {"report"}


def test_a_plan_that_holds_its_jobs_reads_each_job_once_however_often_it_is_gone_through():
    # GIVEN a plan of three jobs
    store, layout = CountingStore(), RunLayout("run-1", "runs/2026/12/07/run-1/")
    written = PlanStore(store, layout)
    for number in range(3):
        job_id = JobId(number, ObjectType.CONTACTS, FORWARD)
        written.put(job_id, [PlannedChange(ObjectType.CONTACTS, str(number), "subscriber", "lead", "r")])
    # WHEN the report's plan (holding its jobs) goes through them twice, and a plan that does not hold them too
    held = PlanStore(store, layout, hold_jobs=True)
    rounds = [[job.changes[0].object_id for job in held.jobs()] for _ in range(2)]
    held_reads = len(store.reads)
    for _ in range(2):
        list(PlanStore(store, layout).jobs())
    # THEN both rounds saw every job in order, and the held plan read each job once; the other, once a round
    assert rounds == [["0", "1", "2"], ["0", "1", "2"]]
    assert held_reads == 3
    assert len(store.reads) == held_reads + 6
