"""The report handler writes a run's report (JSON and HTML), journal and plan under ``runs/YYYY/MM/DD/<run>/`` -
the day the execution started - and copies the newest report to ``latest/``; a run that failed before it had a
run context still gets its report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from handler_helpers import (
    Stack,
    begin_and_plan,
    captured_output,
    drive_run,
    execution,
    invoke,
    run_item,
    running_stack,
    succeeded,
)

from hubspot_sandbox import ChangeSource

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

LOCK = "lock#lifecycle-guard"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack() as stack:
        yield stack


def dry_run_through_dispatch(stack: Stack, name: str, start_time: str) -> dict[str, Any]:
    """A dry run's state when it reaches Report (no fix phase, no verification)."""
    state = begin_and_plan(stack.app, name, mode="dry-run", start_time=start_time)
    state["progress"] = succeeded(
        invoke(stack.app, "ProgressFunction", {"step": "dispatch", "execution": execution(state["run"]["run_id"])})
    )
    return state


def report(stack: Stack, name: str, start_time: str, state: dict[str, Any]) -> dict[str, Any]:
    event = {"execution": execution(name, start_time), "state": state}
    summary: dict[str, Any] = succeeded(invoke(stack.app, "ReportFunction", event))
    return summary


def test_report_writes_the_run_files_under_its_day_and_latest(stack: Stack):
    app = stack.app
    # GIVEN a run whose execution started a second before midnight (UTC) on 9 March 2025, at the Report state
    state = dry_run_through_dispatch(stack, "report-one", "2025-03-09T23:59:59.000Z")
    assert run_item(app, LOCK)["run_id"]["S"] == "report-one"
    # WHEN the report handler runs
    summary = report(stack, "report-one", "2025-03-09T23:59:59.000Z", state)
    # THEN its files are under that day's prefix, and the summary names them
    prefix = "runs/2025/03/09/report-one/"
    assert summary["files"] == {
        "report_json": f"{prefix}report.json",
        "report_html": f"{prefix}report.html",
        "journal": f"{prefix}journal.jsonl",
        "plan": f"{prefix}plan.jsonl",
        "changes_csv": f"{prefix}changes.csv",
    }
    assert set(summary["files"].values()) <= set(app.list_keys(prefix))
    written = app.read_json(f"{prefix}report.json")
    assert (written["run_id"], written["mode"], written["outcome"]) == ("report-one", "dry-run", "succeeded")
    assert summary["outcome"] == "succeeded"
    assert summary["changes_planned"] == sum(rule["planned"] for rule in written["changes"]) > 0
    plan = app.read_object(summary["files"]["plan"]).splitlines()
    assert len(plan) == summary["changes_planned"]
    assert app.read_object(summary["files"]["report_html"]).startswith(b"<!")
    # ... the same report is the newest under latest/
    assert app.read_object("latest/report.json") == app.read_object(f"{prefix}report.json")
    assert app.read_object("latest/report.html") == app.read_object(f"{prefix}report.html")
    # ... and the run is finished and its lock released, so the next run may start
    assert run_item(app, "run#report-one")["status"]["S"] == "succeeded"
    assert run_item(app, LOCK) is None

    # WHEN a later run is reported, THEN latest/ holds the newer report, and the older stays under its own day
    later = dry_run_through_dispatch(stack, "report-two", "2025-03-10T00:00:01.000Z")
    report(stack, "report-two", "2025-03-10T00:00:01.000Z", later)
    assert app.read_json("latest/report.json")["run_id"] == "report-two"
    assert app.read_object("latest/report.json") == app.read_object("runs/2025/03/10/report-two/report.json")
    assert app.read_json(f"{prefix}report.json") == written


def test_a_run_that_failed_before_it_began_still_gets_its_report(stack: Stack):
    app = stack.app
    # GIVEN the state the ReportFailure state receives when Begin failed: only the Catch's failure
    cause = {"errorType": "AuthenticationFailed", "errorMessage": "HubSpot rejected the token (401): invalid"}
    state = {"failure": {"Error": "AuthenticationFailed", "Cause": json.dumps(cause)}}
    latest_before = {key: app.read_object(key) for key in app.list_keys("latest/")}
    # WHEN the report handler runs as ReportFailure
    summary = report(stack, "failed-early", "2025-12-31T23:59:59.999Z", state)
    # THEN the run is reported failed, with the error the state machine's Fail state will carry
    assert summary["outcome"] == "failed"
    assert summary["error"] == "LifecycleGuard.Failed"
    assert summary["cause"] == "AuthenticationFailed: HubSpot rejected the token (401): invalid"
    # ... and its report is under the execution's day
    prefix = "runs/2025/12/31/failed-early/"
    assert summary["files"]["report_json"] == f"{prefix}report.json"
    written = app.read_json(f"{prefix}report.json")
    # (the input never reached the report: what it asked for is not known to the report)
    assert (written["outcome"], written["mode"], written["source"]) == ("failed", "unknown", "unknown")
    assert written["failures"] == [summary["cause"]]
    # ... but latest/ stays the newest run that got past Begin
    assert {key: app.read_object(key) for key in app.list_keys("latest/")} == latest_before
    assert "plan" not in summary["files"]  # nothing was planned


def test_a_context_of_another_run_is_refused_by_progress_and_report_keeps_to_its_own_name(stack: Stack):
    app = stack.app
    # GIVEN an apply run begun and planned (it holds the run lock), and its context copied to where execution
    # "impostor" would keep its own
    # (planned whole before any job goes out, so none is in the queue: what Dispatch would send is what is checked)
    other = begin_and_plan(
        app, "the-other-run", start_time="2025-06-01T08:00:00.000Z", config={"fix": {"overlap_planning": False}}
    )["run"]["run_id"]
    app.client("s3").copy_object(
        Bucket=app.bucket_name,
        CopySource={"Bucket": app.bucket_name, "Key": f"work/{other}/run.json"},
        Key="work/impostor/run.json",
    )
    other_files = {key: app.read_object(key) for key in app.list_keys(f"work/{other}/")}
    latest_before = {key: app.read_object(key) for key in app.list_keys("latest/")}
    # WHEN Progress dispatches for execution "impostor"
    dispatch = invoke(app, "ProgressFunction", {"step": "dispatch", "execution": execution("impostor")})
    # THEN it refuses the context, and nothing of the other run was dispatched
    assert dispatch.error_type == "RunContextError", dispatch.payload
    assert "is run 'the-other-run'" in (dispatch.error_message or "")
    assert app.messages_in_queue("FixJobQueue") == 0
    # WHEN Report runs for execution "impostor" (as ReportFailure would, after the refused Dispatch)
    summary = report(stack, "impostor", "2025-06-01T08:05:00.000Z", {})
    # THEN it reports the refusal under its own name and day
    assert summary["outcome"] == "failed"
    assert "RunContextError" in summary["cause"]
    assert summary["files"]["report_json"] == "runs/2025/06/01/impostor/report.json"
    written = app.read_json(summary["files"]["report_json"])
    assert (written["run_id"], written["mode"]) == ("impostor", "unknown")
    # ... and leaves the other run alone: its lock, its status, its files, no report of it, latest/ unmoved
    assert run_item(app, LOCK)["run_id"]["S"] == other
    assert run_item(app, f"run#{other}")["status"]["S"] == "running"
    assert {key: app.read_object(key) for key in app.list_keys(f"work/{other}/")} == other_files
    assert [key for key in app.list_keys("runs/") if f"/{other}/" in key] == []
    assert {key: app.read_object(key) for key in app.list_keys("latest/")} == latest_before


def test_a_run_fixing_more_than_the_last_successful_run_of_its_mode_publishes_the_rise_as_drift(stack: Stack):
    app = stack.app
    # GIVEN an apply run that fixed the generated portal
    with captured_output():
        first = drive_run(app, "drift-1")["summary"]
    assert first["outcome"] == "succeeded"
    fixed = first["changes_applied"]
    assert fixed > 0
    # ... then an import bringing 7 more bad contacts than that, and a dry run that counts them
    trade_show = ChangeSource("IMPORT", "31405599", "Trade show 2026.csv")
    stack.sandbox.portal.add_dirty_records("contacts", fixed + 7, trade_show, stage="subscriber")
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    dry = report(stack, "drift-dry", now, dry_run_through_dispatch(stack, "drift-dry", now))
    assert (dry["changes_planned"], dry["drift_records"]) == (fixed + 7, 0)
    # WHEN the next apply run fixes them
    with captured_output() as output:
        second = drive_run(app, "drift-2")["summary"]
    # THEN it is measured against the first apply run (the dry run counted the same records: no rise against it)
    assert second["outcome"] == "succeeded"
    assert (second["changes_applied"], second["fixed_change"], second["drift_records"]) == (fixed + 7, 7, 7)
    # ... and the Report function publishes the rise as DriftRecords, where the DriftAlarm watches it
    (document,) = [document for document in output.metrics() if "DriftRecords" in document]
    assert document["DriftRecords"] == [7.0]
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert (directive["Namespace"], directive["Dimensions"], document["service"]) == (
        "LifecycleGuard",
        [["service"]],
        "lifecycle-guard",
    )
