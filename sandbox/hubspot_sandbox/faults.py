"""Fault injection: targeted queued faults for deterministic tests, seeded random faults for soak runs.

Queued faults hit the next matching calls: ``before`` answers a status without doing anything, ``after_write``
applies the write and replaces its response (the client loses it), ``stall`` accepts the call and holds it for
``seconds`` (None: until the sandbox stops) before handling it normally, or answering ``status`` if one is given —
what a hung connection looks like to a client, so its timeouts can be tested. A sandbox that stops releases stalled
calls at once and closes their connections unanswered.

Random draws come from one ``random.Random(seed)`` in request order, so a sequential client sees the same faults on
every run with the same seed (concurrent clients interleave draws in arrival order).
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass
from typing import Literal

from hubspot_sandbox.settings import FaultSettings

FaultTiming = Literal["before", "after_write", "stall"]
FAULT_TIMINGS: tuple[FaultTiming, ...] = ("before", "after_write", "stall")
DEFAULT_FAULT_STATUS = 503
LOST_WRITE_STATUS = 502


@dataclass(frozen=True, slots=True)
class Stall:
    seconds: float | None  # None: until the sandbox stops
    status: int | None  # answered after the stall; None: the call is then handled normally


@dataclass(slots=True)
class QueuedFault:
    status: int | None  # None only for a stall that ends in normal handling
    when: FaultTiming
    times: int
    method: str | None = None  # None: any method
    path: str | None = None  # exact path
    path_regex: re.Pattern[str] | None = None  # or a regex that must match the whole path
    seconds: float | None = None  # how long a stall lasts (None: until the sandbox stops)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        if self.path is not None and self.path != path:
            return False
        return self.path_regex is None or self.path_regex.fullmatch(path) is not None


class FaultInjector:
    def __init__(self, settings: FaultSettings) -> None:
        self._lock = threading.Lock()
        self._settings = settings
        self._random = random.Random(settings.seed)  # noqa: S311 - reproducible faults, not crypto
        self._queue: list[QueuedFault] = []

    def configure(self, settings: FaultSettings) -> None:
        """New fault settings; a changed seed or rate restarts the random sequence."""
        with self._lock:
            if settings != self._settings:
                self._random = random.Random(settings.seed)  # noqa: S311 - reproducible faults, not crypto
            self._settings = settings

    def queue(self, fault: QueuedFault) -> None:
        with self._lock:
            self._queue.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def before(self, method: str, path: str) -> int | None:
        """Status to answer instead of handling the call at all, if a fault hits."""
        with self._lock:
            queued = self._take("before", method, path)
            if queued is not None:
                return queued.status
            settings = self._settings
            if settings.error_rate > 0 and self._random.random() < settings.error_rate:
                return self._random.choice(settings.error_statuses)
            return None

    def after_write(self, method: str, path: str) -> int | None:
        """Status replacing the response of an applied write (the response is lost), if a fault hits."""
        with self._lock:
            queued = self._take("after_write", method, path)
            if queued is not None:
                return queued.status
            rate = self._settings.lost_write_rate
            if rate > 0 and self._random.random() < rate:
                return LOST_WRITE_STATUS
            return None

    def stall(self, method: str, path: str) -> Stall | None:
        """How to hold the call before handling it, if a queued stall hits."""
        with self._lock:
            queued = self._take("stall", method, path)
            return None if queued is None else Stall(queued.seconds, queued.status)

    @property
    def latency_seconds(self) -> float:
        return max(self._settings.latency_ms, 0.0) / 1000

    def _take(self, when: FaultTiming, method: str, path: str) -> QueuedFault | None:
        for fault in self._queue:
            if fault.when == when and fault.matches(method, path):
                fault.times -= 1
                if fault.times <= 0:
                    self._queue.remove(fault)
                return fault
        return None
