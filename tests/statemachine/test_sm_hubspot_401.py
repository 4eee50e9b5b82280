"""A token HubSpot rejects (401): the run fails at once with a cause naming the 401, writes nothing, and still
leaves its failure report."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from statemachine_helpers import (
    APPLY,
    RUN_TIMEOUT_SECONDS,
    deployed_app,
    execution_name,
    fresh_portal,
    report_of,
    run_prefix,
    running_sandbox,
)
from support.invariants import write_calls
from support.oracle import actual_stages

from lifecycle_guard_offline import ExecutionResult, OfflineApp

pytestmark = [
    pytest.mark.filterwarnings("ignore:No application metrics to publish"),
]

WRONG_TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"  # not a token the sandbox knows


@dataclass(frozen=True)
class RejectedRun:
    app: OfflineApp
    result: ExecutionResult
    stats: dict
    portal_unchanged: bool


@pytest.fixture(scope="module")
def rejected_run() -> Iterator[RejectedRun]:
    # GIVEN a deployment whose token secret holds a token HubSpot does not know
    portal = fresh_portal()
    before = actual_stages(portal)
    with running_sandbox(portal) as sandbox, deployed_app(sandbox, token=WRONG_TOKEN) as app:
        # WHEN an apply run starts
        result = app.run(APPLY, name="wrong-token", timeout_seconds=RUN_TIMEOUT_SECONDS)
        yield RejectedRun(app, result, sandbox.stats(), actual_stages(portal) == before)


def test_the_run_fails_with_a_cause_naming_the_401(rejected_run: RejectedRun):
    result = rejected_run.result
    assert result.status == "FAILED"
    assert result.error == "LifecycleGuard.Failed"
    assert "AuthenticationFailed" in result.cause
    assert "401" in result.cause
    assert WRONG_TOKEN not in result.cause
    # ... at once: a 401 is not retried (only Lambda errors, HubSpotUnavailable and timeouts are)
    begins = [e for e in result.history if e.get("stateEnteredEventDetails", {}).get("name") == "Begin"]
    assert len(begins) == 1
    assert len(result.events_of_type("LambdaFunctionFailed")) == 1
    entered = [e["stateEnteredEventDetails"]["name"] for e in result.events_of_type("TaskStateEntered")]
    assert entered == ["Begin", "ReportFailure"]


def test_nothing_is_written_to_hubspot(rejected_run: RejectedRun):
    stats = rejected_run.stats
    assert stats["write_requests"] == 0
    assert write_calls(stats) == {}
    assert rejected_run.portal_unchanged
    assert set(stats["statuses"]) == {"401"}  # the first request was refused, and nothing more was tried
    assert sum(stats["calls"].values()) == 1


def test_the_failure_report_is_still_written(rejected_run: RejectedRun):
    app, result = rejected_run.app, rejected_run.result
    prefix = run_prefix(app, result)
    assert {f"{prefix}report.json", f"{prefix}report.html"} <= set(app.list_keys(prefix))
    report = report_of(app, result)
    assert report["run_id"] == execution_name(result)
    assert report["outcome"] == "failed"
    assert report["mode"] == "unknown"  # Begin failed: its (untrusted) input never reaches the report
    assert any("401" in failure for failure in report["failures"])
    assert report["fix"]["jobs_total"] == 0
    assert app.list_keys("latest/") == []  # latest/ moves only for runs that got past Begin
    assert WRONG_TOKEN.encode() not in app.read_object(f"{prefix}report.json")
    assert WRONG_TOKEN.encode() not in app.read_object(f"{prefix}report.html")
