"""Fault injection: targeted queued faults for deterministic tests, seeded random faults for soak runs.

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

FaultTiming = Literal["before", "after_write"]
LOST_WRITE_STATUS = 502


@dataclass(slots=True)
class QueuedFault:
    status: int
    when: FaultTiming
    times: int
    method: str | None = None  # None: any method
    path: str | None = None  # exact path
    path_regex: re.Pattern[str] | None = None  # or a regex that must match the whole path

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
                return queued
            settings = self._settings
            if settings.error_rate > 0 and self._random.random() < settings.error_rate:
                return self._random.choice(settings.error_statuses)
            return None

    def after_write(self, method: str, path: str) -> int | None:
        """Status replacing the response of an applied write (the response is lost), if a fault hits."""
        with self._lock:
            queued = self._take("after_write", method, path)
            if queued is not None:
                return queued
            rate = self._settings.lost_write_rate
            if rate > 0 and self._random.random() < rate:
                return LOST_WRITE_STATUS
            return None

    @property
    def latency_seconds(self) -> float:
        return max(self._settings.latency_ms, 0.0) / 1000

    def _take(self, when: FaultTiming, method: str, path: str) -> int | None:
        for fault in self._queue:
            if fault.when == when and fault.matches(method, path):
                fault.times -= 1
                if fault.times <= 0:
                    self._queue.remove(fault)
                return fault.status
        return None
