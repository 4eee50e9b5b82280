"""Client-side pacing so a process stays inside its share of HubSpot's API limits and causes no 429s.

HubSpot counts requests per account in a rolling 10-second window (and search requests per second). A pacer
admits at most ``limit`` requests in any ``window`` seconds of our own clock. The window is padded by 2.5 % (a
quarter second on the 10-second window) because HubSpot stamps a request when it arrives, not when we send it:
with jittery latency, the 191st request sent exactly 10 s after the 1st could land inside the same server-side
window. For the same reason a request counts from when its answer came back (``sent``), not from its admission:
whatever delays it between the two (a garbage collection, a slow connect) cannot push it into a later window.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import NamedTuple, Protocol

WINDOW_MARGIN = 0.025


# The operations we call that HubSpot's OpenAPI specs mark x-hubspot-rate-limit-exemptions: ["ten-secondly"]
# (contacts.json, companies.json, deals.json: search; assoc_v4.json: batch/read; automationV4.json: flow create and
# update), as the endpoint labels the gateway counts calls by. Search keeps its own per-second limit.
_TEN_SECONDLY_EXEMPT = re.compile(
    r"POST /crm/v3/objects/[^/ ]+/search"
    r"|POST /crm/v4/associations/[^/ ]+/[^/ ]+/batch/read"
    r"|POST /automation/v4/flows|PUT /automation/v4/flows/\{id\}"
)


def ten_secondly_exempt(endpoint: str) -> bool:
    """Whether HubSpot's spec exempts ``endpoint`` from the ten-secondly (burst) limit."""
    return _TEN_SECONDLY_EXEMPT.fullmatch(endpoint) is not None


class Admission(NamedTuple):
    """A request let through: when (on the pacer's clock) and how many seconds it waited for that."""

    at: float
    waited: float


class RateGate(Protocol):
    """What the transport asks before a request: this process's pacer, or the budget every process shares
    (``shared_budget``)."""

    def acquire(self) -> Admission: ...

    def sent(self, admission: Admission) -> None: ...

    def pause(self, seconds: float) -> None: ...


class SlidingWindowPacer:
    """At most ``limit`` admissions in any ``window`` seconds; thread-safe; can be paused after a 429."""

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        margin: float = WINDOW_MARGIN,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1:
            raise ValueError("a pacer needs a limit of at least 1")
        self.limit = limit
        self.window = window * (1 + margin)
        self._clock = clock
        self._sleep = sleep
        self._admitted: deque[float] = deque()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> Admission:
        """Block until one more request fits in the window, then count it from now."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                while self._admitted and self._admitted[0] <= now - self.window:
                    self._admitted.popleft()
                if now < self._paused_until:
                    delay = self._paused_until - now
                elif len(self._admitted) < self.limit:
                    self._admitted.append(now)
                    return Admission(now, waited)
                else:
                    delay = self._admitted[0] + self.window - now
            waited += delay
            self._sleep(delay)

    def sent(self, admission: Admission) -> None:
        """Count ``admission``'s request from now on instead of from its admission: call it once the request is
        answered. HubSpot counts a request when it arrives, and a pause after the admission (a garbage collection
        of a large process, a slow connect) can make that later than our stamp by more than the margin; a stamp
        moved to the answer is never earlier than the arrival, so a caller that sends one request at a time never
        puts more than ``limit`` in any window HubSpot sees."""
        with self._lock:
            # Gone already if it left the window: counting it again from now is the safe side.
            with contextlib.suppress(ValueError):
                self._admitted.remove(admission.at)
            self._admitted.append(self._clock())  # every stamp is in the past: the deque stays in order

    def pause(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` (HubSpot told us the window is full, whatever our count says)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)


_shared: dict[tuple[str, int, float], SlidingWindowPacer] = {}
_shared_lock = threading.Lock()


def shared_pacer(key: str, limit: int, window: float) -> SlidingWindowPacer:
    """One pacer per (portal key, limit, window) per process, so every gateway in a process shares the budget.

    A warm Lambda container keeps its pacer across invocations (the window is wall-clock, not per call), and the
    offline runner, which runs every step in one process, paces all of them together.
    """
    with _shared_lock:
        pacer = _shared.get((key, limit, window))
        if pacer is None:
            pacer = _shared[(key, limit, window)] = SlidingWindowPacer(limit, window)
        return pacer
