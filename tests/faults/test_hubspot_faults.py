"""HubSpot misbehaving under a run: server errors, 429s of each policy, writes whose response is lost, search lag.

After each: the portal is exactly what the oracle expected (0 wrong, 0 blank), the journal holds every write HubSpot
applied, a second run writes nothing, and the report tells what happened - success with the retries and throttles
counted exactly as the sandbox counted them, or the failure by name.
"""

from __future__ import annotations

from collections import Counter

from faultkit import SMALL_BATCHES, merged, start
from support.invariants import api_mismatches, batch_updates, checks_of, journal_of

from hubspot_sandbox import FaultSettings
from lifecycle_guard import steps
from lifecycle_guard.journal import Write, WriteOutcome
from lifecycle_guard.live_test import probe_properties
from lifecycle_guard.objects import ObjectType


def assert_clean_success(guarded, summary, report) -> None:
    assert summary["outcome"] == "succeeded", summary
    assert set(checks_of(report).values()) == {"PASS"}, report["checks"]
    assert report["failures"] == []
    assert report["fix"]["applied"] == summary["changes_planned"] > 0
    assert guarded.portal_problems() == []
    assert guarded.journal_problems() == []
    assert api_mismatches(report, guarded.sandbox.stats()) == []


def test_five_percent_server_errors_are_retried_away(start_sandbox, make_services):
    # GIVEN a sandbox answering 5 % of all requests with a 5xx before doing anything. (The draws are seeded and the
    # run's requests sequential, so the same requests fail every time; with this seed no create is among them.
    # Creates are never re-sent blindly: a failed one fails its check by name - the lost-create tests below.)
    guarded = start(start_sandbox, make_services, config=SMALL_BATCHES, faults=FaultSettings(seed=3, error_rate=0.05))
    # WHEN an apply run goes through
    summary, report = guarded.run("errors")
    # THEN every error was retried away: the run succeeded and the portal is exactly right
    assert_clean_success(guarded, summary, report)
    # ... and the report counts each 5xx and each retry
    injected = guarded.sandbox.stats()["faults_injected"]["error"]
    assert injected >= 5
    assert sum(n for status, n in report["api"]["statuses"].items() if status.startswith("5")) == injected
    assert report["api"]["retries"] == injected
    # AND a second run, with the errors still coming, writes nothing
    guarded.run_again("errors-again")


def test_rolling_429s_of_both_policies_are_waited_out_and_counted(start_sandbox, make_services):
    # GIVEN a portal whose limits are shared with other integrations: 20 requests per 10 s (searches and
    # association reads are exempt) and 4 searches per second are left for us, while our own pacers would send more
    guarded = start(
        start_sandbox, make_services, config=SMALL_BATCHES, burst_limit_per_10s=20, search_limit_per_second=4
    )
    # WHEN an apply run goes through
    summary, report = guarded.run("throttled")
    # THEN HubSpot's TEN_SECONDLY_ROLLING and SECONDLY 429s were waited out, the run succeeded and the portal is
    # exactly right
    assert_clean_success(guarded, summary, report)
    throttled = report["api"]["throttled"]
    assert set(throttled) == {"TEN_SECONDLY_ROLLING", "SECONDLY"}
    assert report["api"]["retries"] == sum(throttled.values())
    # AND a second run writes nothing
    guarded.run_again("throttled-again")


def test_writes_whose_response_is_lost_are_resent_and_journaled_once(start_sandbox, make_services):
    # GIVEN a sandbox that loses the response of 1 % of writes after applying them (a 502), and the response of
    # the first batch update of every fix job: the clear of a backward job, the set of a forward one
    guarded = start(
        start_sandbox, make_services, config=SMALL_BATCHES, faults=FaultSettings(seed=8, lost_write_rate=0.01)
    )
    jobs: list[str] = []

    def lose_the_first_write_of_each_job(job, receive_count):
        jobs.append(job.job_id)
        object_type = job.job_id.split("-")[1]
        guarded.sandbox.queue_fault(path=f"/crm/v3/objects/{object_type}/batch/update", status=502, when="after_write")
        steps.fix_job(job, receive_count, guarded.services)

    # WHEN an apply run goes through
    summary, report = guarded.run("lost", on_message=lose_the_first_write_of_each_job)
    # THEN every lost response was re-sent (the same absolute values, so harmless) and the run succeeded
    lost = guarded.sandbox.stats()["faults_injected"]["lost_write"]
    assert lost >= len(jobs) >= 4
    assert_clean_success(guarded, summary, report)
    assert report["api"]["retries"] == lost
    # ... and the journal holds each write once, as HubSpot applied it once: journal_problems (in the check above)
    # compares the values HubSpot applied with the journaled ones, but collapses repeats of a value, so it would
    # not see a write journaled twice; counted here, each applied set and clear of the run is journaled once
    journaled = Counter(
        (entry.object_type, entry.object_id, entry.write, entry.after)
        for entry in journal_of(guarded.services.store, "lost")
        if entry.outcome is WriteOutcome.APPLIED and entry.write is not Write.NONE
    )
    assert journaled
    assert {write: n for write, n in journaled.items() if n != 1} == {}
    # AND a second run writes nothing
    guarded.run_again("lost-again")


def test_a_workflow_creation_whose_response_is_lost_fails_the_check_and_is_not_duplicated(start_sandbox, make_services):
    # GIVEN a sandbox that loses the response of the first workflow creation after creating it: creates are not
    # idempotent, so lifecycle-guard must not blindly send it again
    guarded = start(start_sandbox, make_services)
    guarded.sandbox.queue_fault(method="POST", path="/automation/v4/flows", status=502, when="after_write")
    # WHEN an apply run goes through
    summary, report = guarded.run("lost-flow")
    # THEN the fixes are all in place, but the run does not claim success: the prevention check fails with the
    # cause, and the live test that needs the workflows is skipped, saying why
    assert guarded.portal_problems() == []
    assert guarded.journal_problems() == []
    assert summary["outcome"] == "checks_failed", summary
    checks = {check["name"]: check for check in report["checks"]}
    assert checks["prevention workflows in place"]["status"] == "FAIL"
    assert "502" in checks["prevention workflows in place"]["detail"]
    assert checks["live prevention test"]["status"] == "SKIPPED"
    assert "not in place" in checks["live prevention test"]["detail"]
    # AND the next run finds the workflow that was created and creates only the one still missing: exactly one
    # workflow per name, and no fix written
    guarded.sandbox.reset_stats()
    summary, report = guarded.run("lost-flow-again")
    assert summary["outcome"] == "succeeded", report["checks"]
    assert summary["changes_planned"] == batch_updates(guarded.sandbox.stats()) == 0
    assert guarded.sandbox.stats()["calls"]["POST /automation/v4/flows"] == 1
    names = [flow["name"] for flow in guarded.portal.flows()]
    assert len(names) == len(set(names)) == 2


def test_a_lost_probe_creation_is_re_sent_and_the_duplicate_deleted_and_a_failing_one_fails_the_live_test(
    start_sandbox, make_services
):
    # GIVEN a sandbox that loses the response of the first company creation (the live test's company probe) after
    # making it
    guarded = start(start_sandbox, make_services)
    guarded.sandbox.queue_fault(method="POST", path="/crm/v3/objects/companies", status=502, when="after_write")
    # WHEN an apply run goes through
    summary, report = guarded.run("lost-probe")
    # THEN the probe creation was re-sent (a duplicate probe is harmless: verify deletes probes by their marker),
    # the live test passed, and the run succeeded with the portal exactly right
    assert guarded.sandbox.stats()["calls"]["POST /crm/v3/objects/companies"] == 2
    assert_clean_success(guarded, summary, report)
    # ... leaving no probe behind: neither the one it used nor the one HubSpot made unheard of
    assert probes_in(guarded.portal, "lost-probe") == []
    # WHEN a second run finds HubSpot refusing every company creation
    guarded.sandbox.reset_stats()
    guarded.sandbox.queue_fault(method="POST", path="/crm/v3/objects/companies", status=503, times=6)
    summary, report = guarded.run("failing-probe")
    # THEN it writes no fix, and fails the live test saying the probes could not be created - its only failure
    assert summary["changes_planned"] == batch_updates(guarded.sandbox.stats()) == 0
    assert summary["outcome"] == "checks_failed", summary
    checks = {check["name"]: check for check in report["checks"]}
    assert checks["live prevention test"]["status"] == "FAIL"
    assert "could not create the probes" in checks["live prevention test"]["detail"]
    assert "Service Unavailable (gave up after 6 attempts)" in checks["live prevention test"]["detail"]
    assert [name for name, check in checks.items() if check["status"] == "FAIL"] == ["live prevention test"]
    # ... and the contact probe it did create is deleted
    assert guarded.sandbox.stats()["calls"]["POST /crm/v3/objects/contacts"] == 1
    assert probes_in(guarded.portal, "failing-probe") == []


def probes_in(portal, run_id: str) -> list[tuple[str, str]]:
    """The live-test probes of a run still in the portal, found by the markers they are created with."""
    markers = probe_properties(run_id)
    return [
        (object_type.value, record_id)
        for object_type, marker in ((ObjectType.CONTACTS, "email"), (ObjectType.COMPANIES, "name"))
        for record_id, properties in portal.records(object_type.value)
        if properties.get(marker) == markers[object_type][marker]
    ]


def test_search_index_lag_does_not_fool_the_verification(start_sandbox, make_services):
    # GIVEN a sandbox whose search sees writes only 3 s after they are made, and a verification that waits up to
    # 15 s for search to settle
    settle = {"verification": {"settle_seconds": 15}}
    guarded = start(start_sandbox, make_services, config=settle, index_lag_ms=3000)
    # WHEN an apply run goes through
    summary, report = guarded.run("lagging")
    # THEN the portal is exactly right and every check passed once search caught up
    assert_clean_success(guarded, summary, report)
    # ... and the after-counts in the report are the portal's real counts, not a lagging search's
    for object_type in ("contacts", "companies"):
        stages = [properties.get("lifecyclestage") or "" for _, properties in guarded.portal.records(object_type)]
        after = report["after"]["counts"][object_type]
        assert after["missing"] == stages.count("") == 0
        assert {stage: n for stage, n in after["by_stage"].items() if n} == Counter(stages)
    # AND a second run writes nothing
    guarded.run_again("lagging-again")


def test_the_daily_watermark_stops_the_run_cleanly_and_the_next_day_finishes_it(start_sandbox, make_services):
    # GIVEN a portal whose daily limit leaves fewer requests than the watermark (10,000) a few requests into the
    # first fix job: other integrations must keep the rest
    guarded = start(start_sandbox, make_services, config=SMALL_BATCHES)
    jobs: list[str] = []

    def shrink_the_daily_limit_before_the_first_job(job, receive_count):
        if not jobs:
            used = sum(guarded.sandbox.stats()["calls"].values())
            guarded.sandbox.update_settings(daily_limit=used + 10_000 + 4)
        jobs.append(job.job_id)
        steps.fix_job(job, receive_count, guarded.services)

    # WHEN an apply run goes through
    summary, report = guarded.run("watermark", on_message=shrink_the_daily_limit_before_the_first_job)
    # THEN the run stopped and says why: the watermark, and the fix jobs it could not run
    assert summary["outcome"] == "failed", summary
    assert any("below the configured watermark" in failure for failure in report["failures"]), report["failures"]
    fix = report["fix"]
    assert fix["jobs_failed"] == len(fix["failed_jobs"]) >= 1
    assert fix["jobs_done"] + fix["jobs_failed"] == fix["jobs_total"] == len(jobs)
    # ... HubSpot never refused a request: lifecycle-guard stopped itself, and reports what was left
    assert guarded.sandbox.stats()["rate_limited"] == {}
    assert report["api"]["daily_remaining"] < 10_000
    # ... and it stopped between write batches: it left no record blank that had a stage
    assert guarded.blanked() == []
    assert guarded.journal_problems() == []
    # WHEN the next day's run goes through
    guarded.sandbox.update_settings(daily_limit=None)
    summary, report = guarded.run("watermark-next-day")
    # THEN it finishes the job: the portal is exactly right, the journals hold every write
    assert summary["outcome"] == "succeeded", report
    assert guarded.portal_problems() == []
    assert guarded.journal_problems() == []
    # AND a further run writes nothing
    guarded.run_again("watermark-again")


def test_hubspots_daily_429_stops_the_run_and_the_next_day_finishes_it(start_sandbox, make_services):
    # GIVEN no watermark, and HubSpot's daily limit reached right after the first clear of a backward fix job:
    # HubSpot refuses the set that should follow it
    guarded = start(start_sandbox, make_services, config=merged(SMALL_BATCHES, {"budget": {"daily_watermark": 0}}))
    jobs: list[str] = []

    def reach_the_daily_limit_after_a_clear(job, receive_count):
        if job.job_id.endswith("-backward") and guarded.sandbox.settings.daily_limit is None:
            used = sum(guarded.sandbox.stats()["calls"].values())
            guarded.sandbox.update_settings(daily_limit=used + 1)
        jobs.append(job.job_id)
        steps.fix_job(job, receive_count, guarded.services)

    # WHEN an apply run goes through
    summary, report = guarded.run("daily", on_message=reach_the_daily_limit_after_a_clear)
    # THEN the run failed naming HubSpot's daily limit and every fix job it could not finish
    assert summary["outcome"] == "failed", summary
    assert any("daily API limit is reached" in failure for failure in report["failures"]), report["failures"]
    failed = [job for job in jobs if job in report["fix"]["failed_jobs"]]
    assert failed == jobs[jobs.index(next(job for job in jobs if job.endswith("-backward"))) :]
    assert report["api"]["throttled"]["DAILY"] == guarded.sandbox.stats()["rate_limited"]["DAILY"] >= 1
    # ... the records the refused set was meant for are blank: nothing can be written until the limit resets
    assert guarded.blanked()
    # WHEN the next day's run goes through
    guarded.sandbox.update_settings(daily_limit=None)
    summary, report = guarded.run("daily-next-day")
    # THEN it first finishes the interrupted batch, then the rest: the portal is exactly right, and the journals
    # hold every write, the clear made before the limit included
    assert summary["outcome"] == "succeeded", report
    assert report["fix"]["recovered"] > 0
    assert guarded.portal_problems() == []
    assert guarded.journal_problems() == []
