"""The report's check of the rate-limit exemptions the run relied on (``budget.burst_exemptions``)."""

from __future__ import annotations

from datetime import UTC, datetime

from lifecycle_guard.config import GuardConfig
from lifecycle_guard.contracts import RunContext
from lifecycle_guard.report_builder import exemptions_check
from lifecycle_guard.usage import ApiTotals

SEARCH = "POST /crm/v3/objects/contacts/search"
UPDATE = "POST /crm/v3/objects/contacts/batch/update"


def run_with(*, exemptions: bool) -> RunContext:
    config = GuardConfig.model_validate({"budget": {"burst_exemptions": exemptions}})
    return RunContext(
        run_id="r1",
        action="run",
        mode="apply",
        source="test",
        started_at=datetime(2026, 12, 4, tzinfo=UTC),
        prefix="runs/r1",
        config=config,
        stages={},
    )


def test_exempt_calls_without_a_ten_secondly_429_pass():
    usage = ApiTotals(calls={SEARCH: 40, UPDATE: 10}, throttled={"SECONDLY": 2})
    [check] = exemptions_check(run_with(exemptions=True), usage)
    assert check.status == "PASS"
    assert "0 ten-secondly 429s on 40 calls" in check.observed


def test_a_ten_secondly_429_on_an_exempt_call_fails_and_says_what_to_set():
    usage = ApiTotals(calls={SEARCH: 40}, throttled={"TEN_SECONDLY_ROLLING": 3}, exemption_throttled={SEARCH: 3})
    [check] = exemptions_check(run_with(exemptions=True), usage)
    assert check.status == "FAIL"
    assert f"{SEARCH} (3)" in check.detail
    assert "budget.burst_exemptions to false" in check.detail


def test_no_check_when_the_run_paced_every_call_or_made_no_exempt_one():
    assert exemptions_check(run_with(exemptions=False), ApiTotals(calls={SEARCH: 5})) == []
    assert exemptions_check(run_with(exemptions=True), ApiTotals(calls={UPDATE: 5})) == []


def test_the_throttles_survive_the_run_counters():
    totals = ApiTotals.from_counters({f"exemption_throttled:{SEARCH}": 2, f"calls:{SEARCH}": 9})
    assert totals.exemption_throttled == {SEARCH: 2}
