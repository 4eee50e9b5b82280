"""Counts of every HubSpot request a process made, mergeable across the Lambdas of one run."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ApiUsage:
    """Every HTTP attempt counts, retries included: this is what HubSpot bills against the budget."""

    calls: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    throttled: Counter[str] = field(default_factory=Counter)
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
        self.retries += other.retries
        self.paced_seconds += other.paced_seconds
        self.backoff_seconds += other.backoff_seconds
        if other.daily_remaining is not None:
            self.daily_remaining = (
                other.daily_remaining
                if self.daily_remaining is None
                else min(self.daily_remaining, other.daily_remaining)
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": dict(self.calls),
            "statuses": dict(self.statuses),
            "throttled": dict(self.throttled),
            "retries": self.retries,
            "paced_seconds": round(self.paced_seconds, 3),
            "backoff_seconds": round(self.backoff_seconds, 3),
            "daily_remaining": self.daily_remaining,
        }
