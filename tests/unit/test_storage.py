"""Reading many objects at once, in order: what a report does with a run's journal segments and jobs."""

from __future__ import annotations

import contextvars
import threading
import time

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
