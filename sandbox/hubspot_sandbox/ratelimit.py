"""HubSpot's three rate limits and their response headers (facts §7).

* burst: API calls in a rolling 10 s window -> 429 ``TEN_SECONDLY_ROLLING``, except the operations HubSpot's
  OpenAPI specs mark ``x-hubspot-rate-limit-exemptions: ["ten-secondly"]`` (CRM search, v4 association batch
  operations, v4 flow create and update; ``Route.burst_exempt``), unless ``rate_limit_exemptions`` is off. Whether
  a real portal honours every such mark is UNCONFIRMED; the setting models one that does not;
* search: search calls in a rolling 1 s window -> 429 ``SECONDLY``; search calls count toward the daily window;
* daily: all API calls per UTC day -> 429 ``DAILY`` (HubSpot resets at midnight in the account's time zone).

Rejected (429) calls count toward every window, like any other call (UNCONFIRMED; safest — a client that keeps
hammering stays throttled). Non-search responses carry ``X-HubSpot-RateLimit-Max/-Remaining/-Interval-Milliseconds``
and ``-Daily/-Daily-Remaining`` for the limits that are configured; search responses (429s included) carry none
(facts §7.2: "not on search responses").
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

from hubspot_sandbox.settings import SandboxSettings

BURST_WINDOW_SECONDS = 10.0
SEARCH_WINDOW_SECONDS = 1.0

TEN_SECONDLY_ROLLING = "TEN_SECONDLY_ROLLING"
SECONDLY = "SECONDLY"
DAILY = "DAILY"


class RateDecision(NamedTuple):
    policy: str | None  # the policy that rejects this call, None if it may proceed
    headers: dict[str, str]


def _utc_day() -> str:
    return datetime.now(UTC).date().isoformat()


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic, day: Callable[[], str] = _utc_day) -> None:
        self._clock = clock
        self._day = day
        self._lock = threading.Lock()
        self._burst: deque[float] = deque()
        self._search: deque[float] = deque()
        self._daily_count = 0
        self._daily_key = day()

    def admit(self, settings: SandboxSettings, *, is_search: bool, burst_exempt: bool = False) -> RateDecision:
        with self._lock:
            now = self._clock()
            if burst_exempt and settings.rate_limit_exemptions:
                burst = 0  # neither counted nor limited
            else:
                burst = self._count(self._burst, now, BURST_WINDOW_SECONDS)
            searches = self._count(self._search, now, SEARCH_WINDOW_SECONDS) if is_search else 0
            day = self._day()
            if day != self._daily_key:
                self._daily_key, self._daily_count = day, 0
            self._daily_count += 1
            policy = None
            if settings.daily_limit is not None and self._daily_count > settings.daily_limit:
                policy = DAILY
            elif settings.burst_limit_per_10s is not None and burst > settings.burst_limit_per_10s:
                policy = TEN_SECONDLY_ROLLING
            elif (
                is_search
                and settings.search_limit_per_second is not None
                and searches > settings.search_limit_per_second
            ):
                policy = SECONDLY
            headers = {} if is_search else self._headers(settings, burst)
            return RateDecision(policy, headers)

    def reset(self) -> None:
        with self._lock:
            self._burst.clear()
            self._search.clear()
            self._daily_count = 0

    @staticmethod
    def _count(window: deque[float], now: float, span: float) -> int:
        """Record this call in ``window`` and return how many calls the window holds, this one included."""
        while window and window[0] <= now - span:
            window.popleft()
        window.append(now)
        return len(window)

    def _headers(self, settings: SandboxSettings, burst: int) -> dict[str, str]:
        headers: dict[str, str] = {}
        if settings.burst_limit_per_10s is not None:
            headers["X-HubSpot-RateLimit-Max"] = str(settings.burst_limit_per_10s)
            headers["X-HubSpot-RateLimit-Remaining"] = str(max(settings.burst_limit_per_10s - burst, 0))
            headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(int(BURST_WINDOW_SECONDS * 1000))
        if settings.daily_limit is not None:
            headers["X-HubSpot-RateLimit-Daily"] = str(settings.daily_limit)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(settings.daily_limit - self._daily_count, 0))
        return headers
