"""A clean apply run, a dry run and the scheduled run, through the real state machine on moto.

One deployed app and one sandbox serve the module; every run starts from the same pristine portal (the sandbox is
reset), so the oracle's expectation is the same for each. Each run is one test, its checks in named helpers:
pytest-xdist's ``load`` distribution would otherwise repeat a run on every worker that gets one of its tests.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from statemachine_helpers import (
    APPLY,
    APPLY_ACTIONS,
    DRY_RUN,
    DRY_RUN_ACTIONS,
    HISTORY_LIMIT_EVENTS,
    PAYLOAD_LIMIT_BYTES,
    RUN_TIMEOUT_SECONDS,
    assert_every_call_was_allowed,
    authorisations,
    compact_json_size,
    deployed_app,
    execution_name,
    fresh_portal,
    report_of,
    run_prefix,
    running_sandbox,
    state_payloads,
    state_visits,
)
from support.oracle import actual_stages, differences, expected_stages

from hubspot_sandbox import Sandbox
from lifecycle_guard.config import GuardConfig
from lifecycle_guard.steps import poll_wait_seconds
from lifecycle_guard.steps.deadline import LAMBDA_SAFETY_MS
from lifecycle_guard_offline import ExecutionResult, OfflineApp
from lifecycle_guard_offline.iam_enforcement import EvaluatedCall

pytestmark = [
    pytest.mark.filterwarnings("ignore:No application metrics to publish"),
]


@dataclass(frozen=True)
class Deployment:
    app: OfflineApp
    sandbox: Sandbox
    expected: dict[tuple[str, str], str]  # the oracle's expectation for the pristine portal
    before: dict[tuple[str, str], str]  # the pristine portal's stages


@dataclass(frozen=True)
class FinishedRun:
    result: ExecutionResult
    after: dict[tuple[str, str], str]
    stats: dict[str, Any]
    authorisations: list[EvaluatedCall]  # every AWS call IAM authorised during the run


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    portal = fresh_portal()
    expected, before = expected_stages(portal), actual_stages(portal)
    with running_sandbox(portal) as sandbox, deployed_app(sandbox) as app:
        yield Deployment(app, sandbox, expected, before)


def run_on_pristine_portal(deployment: Deployment, execution_input: Any, name: str) -> FinishedRun:
    deployment.sandbox.reset_portal()
    deployment.sandbox.reset_stats()
    assert actual_stages(deployment.sandbox.portal) == deployment.before
    with authorisations(deployment.app) as calls:
        result = deployment.app.run(execution_input, name=name, timeout_seconds=RUN_TIMEOUT_SECONDS)
    return FinishedRun(result, actual_stages(deployment.sandbox.portal), deployment.sandbox.stats(), calls)


# ---------------------------------------------------------------- the clean apply run


def assert_the_portal_matches_the_oracle(deployment: Deployment, apply_run: FinishedRun) -> None:
    result = apply_run.result
    assert result.status == "SUCCEEDED", result.cause
    assert result.output["outcome"] == "succeeded"
    # every record holds exactly the stage the independent oracle expects, and none is blank
    assert differences(deployment.expected, apply_run.after) == []
    assert all(apply_run.after.values())
    # ... it really changed something, and never sent a backward set HubSpot would have ignored
    changed = [key for key, stage in apply_run.after.items() if deployment.before[key] != stage]
    assert len(changed) == result.output["changes_applied"] == result.output["changes_planned"] > 0
    assert apply_run.stats["backward_sets_ignored"] == 0
    assert set(result.output["checks"].values()) == {"PASS"}
    assert result.output["failures"] == []


def assert_the_output_is_a_small_run_summary(deployment: Deployment, apply_run: FinishedRun) -> None:
    output = apply_run.result.output
    # the output is the run summary: counts before and after, changes by rule, checks, failures and files
    assert {"before", "after", "changes_by_rule", "checks", "failures", "files"} <= output.keys()
    for snapshot in (output["before"], output["after"]):
        assert set(snapshot) == {"contacts", "companies"}
    assert output["before"]["contacts"]["total"] == sum(1 for t, _ in deployment.before if t == "contacts")
    assert output["before"]["contacts"]["missing"] == sum(
        1 for (t, _), stage in deployment.before.items() if t == "contacts" and stage == ""
    )
    assert output["after"]["contacts"]["missing"] == output["after"]["companies"]["missing"] == 0
    assert sum(output["changes_by_rule"].values()) == output["changes_planned"]
    assert all(key.split(" ", 1)[0] in ("contacts", "companies") for key in output["changes_by_rule"])
    assert set(output["files"]) == {"report_json", "report_html", "journal", "plan", "changes_csv"}
    # ... and it is small: counts, never per-record data
    assert compact_json_size(output) < 8 * 1024


def assert_no_state_payload_comes_near_the_256_kb_limit(apply_run: FinishedRun) -> None:
    payloads = state_payloads(apply_run.result.history)
    assert payloads, "the history carries the states' inputs and outputs"
    event_type, largest = max(payloads, key=lambda payload: payload[1])
    # The payload is the run context (config, stage lists, audit counts) plus small cursors and counters: a few KB
    # whatever the portal's size, since plans, journals and reports travel through S3.
    assert largest < PAYLOAD_LIMIT_BYTES / 16, (event_type, largest)
    history_text = json.dumps(apply_run.result.history, default=str)
    assert '"object_id"' not in history_text  # no planned change or journal entry rides in the payload


def assert_report_journal_and_plan_land_under_the_date_partitioned_prefix(
    deployment: Deployment, apply_run: FinishedRun
) -> None:
    app, result = deployment.app, apply_run.result
    prefix = run_prefix(app, result)  # runs/YYYY/MM/DD/<execution name>/ of the execution's start (UTC)
    files = result.output["files"]
    assert files == {
        "report_json": f"{prefix}report.json",
        "report_html": f"{prefix}report.html",
        "journal": f"{prefix}journal.jsonl",
        "plan": f"{prefix}plan.jsonl",
        "changes_csv": f"{prefix}changes.csv",
    }
    present = set(app.list_keys(prefix))
    assert set(files.values()) <= present
    # the journal holds an applied set for every changed record, and the plan lists every planned change
    journal = [json.loads(line) for line in app.read_object(files["journal"]).splitlines()]
    applied_sets = {
        (entry["object_type"], entry["object_id"])
        for entry in journal
        if entry["write"] == "set" and entry["outcome"] == "applied"
    }
    changed = {key for key, stage in apply_run.after.items() if deployment.before[key] != stage}
    assert applied_sets == changed
    plan = [json.loads(line) for line in app.read_object(files["plan"]).splitlines()]
    assert {(row["object_type"], row["object_id"]) for row in plan} == changed
    # ... the report is this run's, and latest/ holds the very same report
    report = app.read_json(files["report_json"])
    assert report["run_id"] == execution_name(result)
    assert report["outcome"] == "succeeded"
    assert app.read_object("latest/report.json") == app.read_object(files["report_json"])
    assert app.read_object("latest/report.html") == app.read_object(files["report_html"])


def assert_history_growth_keeps_a_million_contacts_far_from_25000_events(
    deployment: Deployment, apply_run: FinishedRun
) -> None:
    """What grows with a portal's size is the number of plan chunks and of progress polls; everything else is a
    fixed handful of states. Measure the events each costs, and project a 1M-contact run with the deployed
    defaults (template parameters and config), so a change of either that breaks the projection fails here."""
    history = apply_run.result.history
    visits = state_visits(history)
    per_visit: dict[str, set[int]] = {}
    for name, events in visits:
        per_visit.setdefault(name, set()).add(events)
    # Every visit of a state costs the same number of events (a Task: entered, scheduled, started, succeeded,
    # exited; a Choice or Wait: entered, exited), so growth is linear in the number of loop iterations.
    assert all(len(counts) == 1 for counts in per_visit.values()), per_visit
    cost = {name: counts.pop() for name, counts in per_visit.items()}
    per_poll = cost["AreJobsComplete"] + cost["WaitForJobs"] + cost["CheckProgress"]
    per_plan_chunk = cost["Plan"] + cost["IsPlanComplete"]
    visited = Counter(name for name, _ in visits)
    fixed = len(history) - visited["CheckProgress"] * per_poll - visited["Plan"] * per_plan_chunk
    assert (per_poll, per_plan_chunk) == (9, 7)
    assert fixed < 100

    template = deployment.app.template.body
    defaults = GuardConfig()
    contacts = 1_000_000
    # Fixing, worst case: the caps let max_percent of the contacts change, in write batches of batch_size. A batch
    # costs at most a clear, a set and a read-back per write round, plus a restore and its read-back.
    batches = contacts * defaults.caps.max_percent / 100 / defaults.fix.batch_size
    requests = batches * (3 * defaults.fix.max_write_attempts + 2)
    # ... at the smallest budget: the lowest tier's burst limit times the default ApiBudgetPercent.
    tiers = template["Mappings"]["ApiTiers"].values()
    per_second = (
        (min(t["RequestsPer10Seconds"] for t in tiers) * int(template["Parameters"]["ApiBudgetPercent"]["Default"]))
        / 100
        / 10
    )
    fix_seconds = requests / per_second
    # ... polled as the progress step waits: from ProgressPollSeconds, growing with the time waited
    minimum, waited, polls = int(template["Parameters"]["ProgressPollSeconds"]["Default"]), 0.0, 1
    while waited < fix_seconds:
        waited += poll_wait_seconds(minimum, waited)
        polls += 1
    # Planning: every contact found by search (100 per page, paced at search_requests_per_second) in Plan
    # invocations that stop LAMBDA_SAFETY_MS before Lambda's 15 minutes; ten more chunks for the reads.
    search_seconds = contacts / 100 / defaults.budget.search_requests_per_second
    plan_chunks = math.ceil(search_seconds / (900 - LAMBDA_SAFETY_MS / 1000)) + 10
    projected = fixed + polls * per_poll + plan_chunks * per_plan_chunk
    # (today: 500,000 changes, 55,000 requests at 5/s = 11,000 s of fixing, 207 polls: about 2,000 events)
    assert projected < HISTORY_LIMIT_EVENTS / 5, projected


def test_a_clean_apply_run(deployment: Deployment):
    # GIVEN the dirty portal, WHEN one apply run goes through the state machine
    run = run_on_pristine_portal(deployment, APPLY, "clean-apply")
    # THEN it succeeds and leaves the portal exactly as the oracle expects
    assert_the_portal_matches_the_oracle(deployment, run)
    # ... its output is a small run summary, and no payload on the way came anywhere near Step Functions' limit
    assert_the_output_is_a_small_run_summary(deployment, run)
    assert_no_state_payload_comes_near_the_256_kb_limit(run)
    # ... report, journal and plan are under runs/YYYY/MM/DD/<execution>/, the report also under latest/
    assert_report_journal_and_plan_land_under_the_date_partitioned_prefix(deployment, run)
    # ... and the history grows so that a million-contact run stays far from 25,000 events
    assert_history_growth_keeps_a_million_contacts_far_from_25000_events(deployment, run)


# ---------------------------------------------------------------- a dry run


def test_dry_run_writes_nothing_and_its_plan_lists_the_changes(deployment: Deployment):
    # GIVEN the dirty portal, WHEN a dry run goes through the state machine
    run = run_on_pristine_portal(deployment, DRY_RUN, "dry-run")
    result = run.result
    # THEN it succeeds without a single write to HubSpot, and the portal is untouched
    assert result.status == "SUCCEEDED", result.cause
    assert result.output["mode"] == "dry-run"
    assert run.stats["write_requests"] == 0
    assert run.after == deployment.before
    # ... with each step's AWS calls allowed by its role
    assert_every_call_was_allowed(run.authorisations, DRY_RUN_ACTIONS)
    # ... its plan lists exactly the changes an apply run would make, each with the oracle's target
    plan = [json.loads(line) for line in deployment.app.read_object(result.output["files"]["plan"]).splitlines()]
    planned = {(row["object_type"], row["object_id"]): row["target"] for row in plan}
    assert planned == {key: want for key, want in deployment.expected.items() if deployment.before[key] != want}
    assert result.output["changes_planned"] == len(plan)
    assert result.output["changes_applied"] == 0
    assert result.output["after"] == result.output["before"]
    assert report_of(deployment.app, result)["fix"]["jobs_total"] == 0  # nothing was dispatched


# ---------------------------------------------------------------- the scheduled run


def test_the_schedules_input_starts_a_valid_run(deployment: Deployment):
    scheduled = deployment.app.scheduled_input
    # GIVEN the input the template's schedule starts executions with (moto does not run schedules)
    assert scheduled == {"action": "run", "mode": "apply", "source": "schedule"}
    # WHEN it starts an execution
    run = run_on_pristine_portal(deployment, scheduled, "scheduled")
    # THEN the run is a complete apply run with the deployed config, recorded as coming from the schedule
    assert run.result.status == "SUCCEEDED", run.result.cause
    assert differences(deployment.expected, run.after) == []
    assert_every_call_was_allowed(run.authorisations, APPLY_ACTIONS)
    report = report_of(deployment.app, run.result)
    assert (report["source"], report["mode"]) == ("schedule", "apply")
    assert report["config"]["fix"]["job_size"] == 100  # GuardConfig reached the run through the function's env
