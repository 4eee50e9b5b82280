"""Counts of every HubSpot request a process made, mergeable across the Lambdas of one run.

A process counts in an ``ApiUsage``; the run's total lives in the tracker's run item as flat counters
(``calls:<endpoint>``, ``statuses:<status>``, ``throttled:<policy>`` and the plain numbers), which
``to_counters`` writes and ``ApiTotals.from_counters`` reads back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, computed_field

_BREAKDOWNS = ("calls", "statuses", "throttled", "exemption_throttled")
_AMOUNTS = ("retries", "paced_seconds", "backoff_seconds")


class ApiTotals(BaseModel):
    """A run's HubSpot requests: per endpoint, per status, 429s per policy, and time spent waiting."""

    calls: dict[str, int] = {}
    statuses: dict[str, int] = {}
    throttled: dict[str, int] = {}
    # TEN_SECONDLY_ROLLING 429s on endpoints HubSpot's specs exempt from that limit, per endpoint.
    exemption_throttled: dict[str, int] = {}
    retries: int = 0
    paced_seconds: float = 0.0
    backoff_seconds: float = 0.0
    daily_remaining: int | None = None

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented use on a property
    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @classmethod
    def from_counters(cls, counters: Mapping[str, float | str]) -> ApiTotals:
        breakdowns: dict[str, dict[str, int]] = {name: {} for name in _BREAKDOWNS}
        for key, value in counters.items():
            kind, _, name = key.partition(":")
            if name and kind in breakdowns:
                breakdowns[kind][name] = int(value)
        daily = counters.get("daily_remaining")
        return cls(
            **breakdowns,
            retries=int(counters.get("retries", 0)),
            paced_seconds=round(float(counters.get("paced_seconds", 0)), 3),
            backoff_seconds=round(float(counters.get("backoff_seconds", 0)), 3),
            daily_remaining=None if daily is None else int(daily),
        )


@dataclass
class ApiUsage:
    """Every HTTP attempt counts, retries included: this is what HubSpot bills against the budget."""

    calls: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    throttled: Counter[str] = field(default_factory=Counter)
    exemption_throttled: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    paced_seconds: float = 0.0
    backoff_seconds: float = 0.0
    daily_remaining: int | None = None

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def record(self, endpoint: str, status: str) -> None:
        self.calls[endpoint] += 1
        self.statuses[status] += 1

    def merge(self, other: ApiUsage) -> None:
        self.calls.update(other.calls)
        self.statuses.update(other.statuses)
        self.throttled.update(other.throttled)
        self.exemption_throttled.update(other.exemption_throttled)
        self.retries += other.retries
        self.paced_seconds += other.paced_seconds
        self.backoff_seconds += other.backoff_seconds
        if other.daily_remaining is not None:
            self.daily_remaining = (
                other.daily_remaining
                if self.daily_remaining is None
                else min(self.daily_remaining, other.daily_remaining)
            )

    def to_counters(self) -> dict[str, float]:
        """The amounts to add to the run's counters (``daily_remaining`` is a level, not an amount: not here)."""
        counters: dict[str, float] = {
            f"{kind}:{name}": count for kind in _BREAKDOWNS for name, count in getattr(self, kind).items()
        }
        return counters | {name: getattr(self, name) for name in _AMOUNTS}

    def totals(self) -> ApiTotals:
        return ApiTotals.from_counters(
            self.to_counters() | ({} if self.daily_remaining is None else {"daily_remaining": self.daily_remaining})
        )
