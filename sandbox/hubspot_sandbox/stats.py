"""Counters the tests and benchmarks read through ``GET /_sandbox/stats`` (introspection calls never count)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._calls: Counter[str] = Counter()  # "POST /crm/v3/objects/contacts/search" (ids as {id})
            self._statuses: Counter[str] = Counter()
            self._rate_limited: Counter[str] = Counter()  # by policyName
            self._faults: Counter[str] = Counter()  # "error" (5xx before), "lost_write", "latency"
            self._write_requests = 0  # calls to write endpoints whose write was applied (lost responses included)
            self._property_changes = 0  # property values API writes actually changed
            self._backward_sets_ignored = 0  # lifecyclestage sets dropped by the forward-only rule
            self._workflow_actions = 0  # workflow engine actions executed
            self._requests: list[tuple[float, str, int]] = []  # (unix time of arrival, key, status); opt-in

    def call(self, key: str, status: int, *, arrived: float | None = None) -> None:
        """Count a call; with ``arrived`` (the request log is on) also log it, for rolling-window checks."""
        with self._lock:
            self._calls[key] += 1
            self._statuses[str(status)] += 1
            if arrived is not None:
                self._requests.append((arrived, key, status))

    def requests(self) -> list[tuple[float, str, int]]:
        with self._lock:
            return list(self._requests)

    def rate_limited(self, policy: str) -> None:
        with self._lock:
            self._rate_limited[policy] += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def write(self, *, property_changes: int, backward_sets_ignored: int) -> None:
        with self._lock:
            self._write_requests += 1
            self._property_changes += property_changes
            self._backward_sets_ignored += backward_sets_ignored

    def workflow_action(self, *, backward_sets_ignored: int) -> None:
        with self._lock:
            self._workflow_actions += 1
            self._backward_sets_ignored += backward_sets_ignored

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": dict(self._calls),
                "statuses": dict(self._statuses),
                "rate_limited": dict(self._rate_limited),
                "write_requests": self._write_requests,
                "property_changes": self._property_changes,
                "backward_sets_ignored": self._backward_sets_ignored,
                "workflow_actions": self._workflow_actions,
                "faults_injected": dict(self._faults),
            }
