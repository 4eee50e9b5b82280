"""A portal that throttles: HubSpot's limits are far tighter than the budget the run was given, so HubSpot
answers 429 - both the 10-second burst limit and the per-second search limit - and the run must get through on
its 429 handling alone, and count what it met."""

from __future__ import annotations

import pytest
from statemachine_helpers import (
    APPLY,
    FAST_CONFIG,
    RUN_TIMEOUT_SECONDS,
    deployed_app,
    fresh_portal,
    report_of,
    running_sandbox,
)
from support.oracle import actual_stages, differences, expected_stages

pytestmark = [
    pytest.mark.filterwarnings("ignore:No application metrics to publish"),
]

# Searches and association reads are exempt from the burst limit (HubSpot's specs): the limit is low enough for
# the run's other calls alone to meet it.
BURST_LIMIT_PER_10S = 20
SEARCH_LIMIT_PER_SECOND = 3
# Ten times HubSpot's burst limit, and search paced at 5/s against HubSpot's 3/s.
GENEROUS_BUDGET = {"requests_per_10s": 200, "search_requests_per_second": 5}


def test_a_throttled_portal_run_succeeds_through_the_429s_and_counts_them():
    # GIVEN a portal whose HubSpot allows 20 requests per 10 s and 3 searches per second, and a run budgeted for
    # ten times that
    portal = fresh_portal()
    expected = expected_stages(portal)
    config = {**FAST_CONFIG, "budget": GENEROUS_BUDGET}
    with (
        running_sandbox(
            portal, burst_limit_per_10s=BURST_LIMIT_PER_10S, search_limit_per_second=SEARCH_LIMIT_PER_SECOND
        ) as sandbox,
        deployed_app(sandbox, guard_config=config) as app,
    ):
        # WHEN an apply run goes through the state machine
        result = app.run(APPLY, name="throttled", timeout_seconds=RUN_TIMEOUT_SECONDS)
        report, stats = report_of(app, result), sandbox.stats()

    # THEN HubSpot really throttled the run, on both limits
    rate_limited = stats["rate_limited"]
    assert rate_limited.get("TEN_SECONDLY_ROLLING", 0) > 0
    assert rate_limited.get("SECONDLY", 0) > 0
    assert stats["statuses"]["429"] == sum(rate_limited.values())
    # ... and the run succeeded all the same, the portal exactly as the oracle expects
    assert result.status == "SUCCEEDED", result.cause
    assert result.output["outcome"] == "succeeded"
    assert differences(expected, actual_stages(portal)) == []
    assert set(result.output["checks"].values()) == {"PASS"}
    # ... on the gateway's own 429 handling: no step failed to be retried by the state machine
    assert result.events_of_type("LambdaFunctionFailed") == []
    # ... and the report counts exactly the 429s HubSpot sent, per policy, each retried, and every request made
    api = report["api"]
    assert api["throttled"] == rate_limited
    assert api["statuses"]["429"] == stats["statuses"]["429"]
    assert api["retries"] >= sum(api["throttled"].values())
    assert api["total_calls"] == sum(stats["calls"].values())
