"""A portal under test and its runs, for the fault suite: the oracle's expectation and the starting stages are
taken before the first run, and every invariant is checked against the sandbox's own state and counters."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from support.invariants import (
    Key,
    batch_updates,
    flow_writes,
    journal_of,
    journal_problems,
    now_ms,
    portal_problems,
    report_of,
)
from support.oracle import actual_stages, expected_stages
from support.pipeline import run_pipeline

from hubspot_sandbox import Portal, PortalSpec, Sandbox
from lifecycle_guard.queue import FixJobMessage
from lifecycle_guard.runtime import Services

# Search paced at HubSpot's documented 5/s, the live prevention test waiting 1 s (the sandbox's workflows act
# after 0.2 s), and no waiting for search lag unless a test sets some (a run that stopped early leaves records to
# fix, which the verification would otherwise take for lag for a minute): the run's timing, not its behaviour,
# differs from the defaults.
FAST_CONFIG: dict[str, Any] = {
    "budget": {"search_requests_per_second": 5},
    "verification": {"live_test_wait_seconds": 1, "settle_seconds": 0},
}
# Small write batches, so a few hundred changes make jobs of several batches and faults land mid-job.
SMALL_BATCHES: dict[str, Any] = {"fix": {"batch_size": 20, "job_size": 60}}
# A few hundred dirty records: every seed rule fires, each object type gets forward and backward fix jobs. No
# custom stage: each stage costs the audit a search before and after, and stage order is not what faults test.
SPEC = PortalSpec(contacts=600, companies=60, seed=17, custom_stages=())
APPLY: dict[str, Any] = {"action": "run", "mode": "apply", "source": "console"}


def merged(*configs: dict[str, Any]) -> dict[str, Any]:
    """Configs merged section by section (each section's keys; later wins)."""
    result: dict[str, Any] = {}
    for config in configs:
        for section, values in config.items():
            result[section] = {**result.get(section, {}), **values}
    return result


class GuardedPortal:
    """A sandbox portal and the runs made against it."""

    def __init__(self, sandbox: Sandbox, services: Services) -> None:
        self.sandbox = sandbox
        self.portal = sandbox.portal
        self.services = services
        self.expected = expected_stages(self.portal)
        self.before = actual_stages(self.portal)
        self.since_ms = now_ms()
        self.runs: list[str] = []

    def run(
        self,
        name: str,
        request: dict[str, Any] = APPLY,
        *,
        on_message: Callable[[FixJobMessage, int], None] | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """One run through every step; returns its summary and its report.json."""
        self.runs.append(name)
        summary = run_pipeline(self.services, request, name=name, on_message=on_message)
        return summary, report_of(self.services.store, summary)

    def portal_problems(self, refused: Iterable[Key] = ()) -> list[str]:
        """``invariants.portal_problems``; ``refused`` records must hold the stage they had before the first run."""
        return portal_problems(self.expected, self.portal, refused={key: self.before[key] for key in refused})

    def blanked(self) -> list[tuple[str, str]]:
        """Records without a stage now that had one before the first run."""
        return [key for key, stage in actual_stages(self.portal).items() if not stage and self.before.get(key)]

    def journal_problems(self) -> list[str]:
        started = [run for run in self.runs if self.services.store.get(f"runs/index/{run}.json") is not None]
        entries = journal_of(self.services.store, *started)
        return journal_problems(self.portal, entries, before=self.before, since_ms=self.since_ms)

    def run_again(self, name: str) -> dict[str, Any]:
        """A further apply run, counted on its own; returns its report after checking it succeeded writing nothing.

        "Nothing" is counted as batch updates and workflow writes: the live prevention test still creates (and
        deletes) its two probe records, which is the point of it.
        """
        self.sandbox.reset_stats()
        summary, report = self.run(name)
        stats = self.sandbox.stats()
        assert summary["outcome"] == "succeeded", report
        assert summary["changes_planned"] == 0, summary
        assert batch_updates(stats) == 0, stats["calls"]
        assert flow_writes(stats) == 0, stats["calls"]
        return report


def start(
    start_sandbox: Callable[..., Sandbox],
    make_services: Callable[..., Services],
    *,
    spec: PortalSpec | Portal = SPEC,
    config: dict[str, Any] | None = None,
    **settings: Any,
) -> GuardedPortal:
    """GIVEN a generated dirty portal served by a sandbox with ``settings``, and a deployment with ``config``."""
    sandbox = start_sandbox(spec, **settings)
    return GuardedPortal(sandbox, make_services(sandbox, config=merged(FAST_CONFIG, config or {})))
