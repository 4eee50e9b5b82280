"""The engine end to end against the sandbox (real SDK over HTTP) and moto: the portal ends exactly right."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest
from support.flows import customers_lead_flow
from support.oracle import actual_stages, differences, expected_stages
from support.pipeline import run_pipeline

from hubspot_sandbox import PortalSpec, StageMix, generate_portal
from lifecycle_guard import steps
from lifecycle_guard.flow_pause import PauseRecord
from lifecycle_guard.gateway.crm_endpoints import CrmEndpoints
from lifecycle_guard.journal import JournalEntry, Write, WriteOutcome
from lifecycle_guard.layout import paused_flows_key
from lifecycle_guard.queue import FixJobMessage
from lifecycle_guard.workflows import put_body

APPLY = {"action": "run", "mode": "apply", "config": {"verification": {"live_test_wait_seconds": 1}}}
SPEC = PortalSpec(contacts=1500, companies=150, seed=21)
NO_FLOWS = {"prevention": {"enabled": False}, "verification": {"live_test": False}}


def batch_updates(stats: dict) -> int:
    return sum(n for call, n in stats["calls"].items() if call.endswith("/batch/update"))


BUCKET = "lifecycle-guard-test-reports"


def read(aws, key: str) -> bytes:
    return bytes(aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def journal(aws, summary) -> list[JournalEntry]:
    body = aws.s3.get_object(Bucket="lifecycle-guard-test-reports", Key=summary["files"]["journal"])["Body"].read()
    return [JournalEntry.model_validate_json(line) for line in body.splitlines()]


def test_a_dirty_portal_reaches_exactly_the_expected_state(aws, start_sandbox, make_services):
    # GIVEN a generated dirty portal and the oracle's independent expectation of it
    portal = generate_portal(SPEC)
    expected = expected_stages(portal)
    sandbox = start_sandbox(portal)
    # WHEN one apply run goes through
    summary = run_pipeline(make_services(sandbox), APPLY)
    # THEN every record holds exactly the expected stage, nothing is blank, and every check passed
    assert summary["outcome"] == "succeeded", summary
    assert differences(expected, actual_stages(portal)) == []
    assert all(stage for stage in actual_stages(portal).values())
    assert set(summary["checks"].values()) == {"PASS"}
    # ... the live test included: each probe got the default stage, was blanked again and got it again (re-enrolled)
    for object_type in ("contacts", "companies"):
        assert summary["checks"][f"live prevention test: {object_type} blanked again get a stage again"] == "PASS"
    assert summary["checks"]["token scopes checked before writing"] == "PASS"
    assert summary["checks"]["rate-limit exemptions held"] == "PASS"  # searches went out beside the burst budget
    stats = sandbox.stats()
    # no set was ever sent backwards: every backward move was cleared first
    assert stats["backward_sets_ignored"] == 0
    # the journal holds every applied write: one set per changed record, plus a clear for each backward move
    entries = journal(aws, summary)
    applied_sets = {e.object_id for e in entries if e.write is Write.SET and e.outcome is WriteOutcome.APPLIED}
    assert summary["changes_applied"] == summary["changes_planned"] == len(applied_sets)
    assert stats["property_changes"] >= len(applied_sets)
    # ... and the table of changed records says each was applied, at its expected stage
    changed = list(csv.DictReader(io.StringIO(read(aws, summary["files"]["changes_csv"]).decode())))
    assert len(changed) == len(applied_sets)
    assert {c["outcome"] for c in changed} == {"applied"}
    assert all(c["after"] == expected[(c["object_type"], c["id"])] for c in changed)


def test_a_second_run_writes_nothing(aws, start_sandbox, make_services):
    sandbox = start_sandbox(SPEC)
    services = make_services(sandbox)
    assert run_pipeline(services, APPLY)["outcome"] == "succeeded"
    sandbox.reset_stats()
    summary = run_pipeline(services, APPLY)
    assert summary["outcome"] == "succeeded", summary
    assert summary["changes_planned"] == 0
    assert batch_updates(sandbox.stats()) == 0


def test_dry_run_writes_nothing_and_reports_the_plan(aws, start_sandbox, make_services):
    portal = generate_portal(SPEC)
    before = actual_stages(portal)
    sandbox = start_sandbox(portal)
    summary = run_pipeline(make_services(sandbox), {**APPLY, "mode": "dry-run"})
    assert summary["outcome"] == "succeeded", summary
    assert sandbox.stats()["write_requests"] == 0
    assert actual_stages(portal) == before
    plan = aws.s3.get_object(Bucket="lifecycle-guard-test-reports", Key=summary["files"]["plan"])["Body"].read()
    rows = [json.loads(line) for line in plan.splitlines()]
    expected = expected_stages(portal)
    assert len(rows) == summary["changes_planned"] > 0
    assert all(expected[(row["object_type"], row["object_id"])] == row["target"] for row in rows)
    # ... and the report previews it: the after-counts the plan would leave, and every record that would change
    report = json.loads(read(aws, summary["files"]["report_json"]))
    for object_type, counts in report["planned_after"]["counts"].items():
        want = [stage for (kind, _), stage in expected.items() if kind == object_type]
        assert counts["missing"] == 0
        assert {stage: n for stage, n in counts["by_stage"].items() if n} == {s: want.count(s) for s in set(want)}
    changed = list(csv.DictReader(io.StringIO(read(aws, summary["files"]["changes_csv"]).decode())))
    assert {(c["object_type"], c["id"], c["target"], c["outcome"]) for c in changed} == {
        (row["object_type"], row["object_id"], row["target"], "would change") for row in rows
    }
    assert all(c["name"] for c in changed if c["object_type"] == "contacts")  # what a person knows them by
    assert report["changed_total"] == len(rows)
    assert len(report["changed_records"]) == min(200, len(rows))


def test_more_than_ten_thousand_missing_contacts_are_all_fixed(aws, start_sandbox, make_services):
    # GIVEN 10,400 contacts missing a stage: one search for them would hit HubSpot's 10,000-result cap
    spec = PortalSpec(
        contacts=10_400,
        companies=100,
        seed=5,
        contact_stages=StageMix(missing=1, subscriber=0, other=0, evangelist=0, custom=0, valid=0),
    )
    portal = generate_portal(spec)
    expected = expected_stages(portal)
    sandbox = start_sandbox(portal)
    summary = run_pipeline(make_services(sandbox, config={"caps": {"max_percent": 100}}), APPLY)
    assert summary["outcome"] == "succeeded", summary
    assert differences(expected, actual_stages(portal)) == []
    assert sandbox.stats()["statuses"].get("400", 0) == 0


def test_a_bad_config_writes_nothing(aws, start_sandbox, make_services):
    sandbox = start_sandbox(SPEC)
    request = {**APPLY, "config": {"contacts": {"disallowed": {"subscriber": "leed"}}}}
    summary = run_pipeline(make_services(sandbox), request)
    assert summary["outcome"] == "failed"
    assert "'leed' is not a lifecycle stage" in summary["cause"]
    assert "valid values are:" in summary["cause"]
    assert sandbox.stats()["write_requests"] == 0


def test_caps_stop_the_run_before_any_write(aws, start_sandbox, make_services):
    sandbox = start_sandbox(SPEC)
    summary = run_pipeline(make_services(sandbox), {**APPLY, "config": {"caps": {"max_changes": 5}}})
    assert summary["outcome"] == "failed"
    assert "over caps.max_changes=5" in summary["cause"]
    assert sandbox.stats()["write_requests"] == 0


def fixed_portal(start_sandbox, make_services, name: str, config: dict):
    """A generated portal, its stages before, and one successful apply run over it named ``name``."""
    portal = generate_portal(SPEC)
    before = actual_stages(portal)
    sandbox = start_sandbox(portal)
    services = make_services(sandbox, config=config)
    fixed = run_pipeline(services, APPLY, name=name)
    assert fixed["outcome"] == "succeeded", fixed
    return portal, before, sandbox, services, fixed


def test_undo_restores_the_before_state_except_records_changed_since(aws, start_sandbox, make_services):
    portal, before, _, services, _ = fixed_portal(start_sandbox, make_services, "fix-1", NO_FLOWS)
    changed = [key for key, stage in actual_stages(portal).items() if before[key] != stage]
    # someone moves one fixed contact on after the run; undo must leave it alone
    touched = next(key for key in changed if key[0] == "contacts" and actual_stages(portal)[key] != "customer")
    portal.apply_properties("contacts", touched[1], {"lifecyclestage": "customer"})
    undone = run_pipeline(services, {"action": "undo", "mode": "apply", "undo_run_id": "fix-1"}, name="undo-1")
    assert undone["outcome"] == "succeeded", undone
    after = actual_stages(portal)
    assert after[touched] == "customer"
    assert [key for key in changed if key != touched and after[key] != before[key]] == []
    # ... and its report counts what the fix workers restored (from its journal) and the one record left alone
    report = json.loads(read(aws, undone["files"]["report_json"]))
    restored = {(e.object_type, e.object_id) for e in journal(aws, undone) if e.outcome is WriteOutcome.APPLIED}
    assert undone["changes_applied"] == undone["changes_planned"] == len(restored) == len(changed) - 1
    assert report["fix"]["skipped"] == 1
    assert report["restores"]["checked"] == report["restores"]["held"] == len(restored)


def test_a_crash_between_clear_and_set_is_finished_with_the_planned_target(
    aws, start_sandbox, make_services, monkeypatch
):
    # GIVEN contacts at "other" whose primary company is a customer: planned "other -> lead" (a backward move),
    # while re-planning them as "missing" would give "customer" - so the outcome tells the two apart
    portal = generate_portal(SPEC)
    sandbox = start_sandbox(portal)
    services = make_services(sandbox, config={"verification": {"live_test": False}})
    expected = expected_stages(portal)
    real_update = CrmEndpoints.update
    crashed: list[str] = []

    def update_then_crash(self, object_type, properties_by_id):
        result = real_update(self, object_type, properties_by_id)
        if (
            not crashed
            and object_type == "contacts"
            and all(p["lifecyclestage"] == "" for p in properties_by_id.values())
        ):
            crashed.extend(properties_by_id)
            raise SystemExit("simulated worker crash after the clear")  # not an Exception: nothing catches it
        return result

    monkeypatch.setattr(CrmEndpoints, "update", update_then_crash)
    with pytest.raises(SystemExit):
        run_pipeline(services, APPLY, name="crashed")
    monkeypatch.setattr(CrmEndpoints, "update", real_update)
    assert crashed
    assert all(not portal.get_property("contacts", i, "lifecyclestage") for i in crashed)
    # WHEN the next run starts, THEN it finishes those records with the crashed run's planned targets
    summary = run_pipeline(services, APPLY, name="next")
    assert summary["outcome"] == "succeeded", summary
    assert differences(expected, actual_stages(portal)) == []
    recovered = [e for e in journal(aws, summary) if e.rule.startswith("recovery:crashed:")]
    assert {e.object_id for e in recovered if e.outcome is WriteOutcome.APPLIED} == set(crashed)


def test_an_undo_holds_against_our_own_prevention_flows_and_is_not_repeated(aws, start_sandbox, make_services):
    # GIVEN a portal fixed by an apply run that also switched on the prevention flows (blank -> lead)
    portal, before, sandbox, services, fixed = fixed_portal(
        start_sandbox, make_services, "fix-flows", {"verification": {"live_test": False}}
    )
    enabled = {flow["id"] for flow in portal.flows() if flow["isEnabled"]}
    assert len(enabled) == 2
    blank_before = [key for key, stage in before.items() if stage == ""]
    assert blank_before
    # WHEN it is undone
    undone = run_pipeline(services, {"action": "undo", "mode": "apply", "undo_run_id": "fix-flows"}, name="undo-f")
    # THEN the undo succeeded, and the records blank before the run are blank again well after the flows are back
    # on (unpaused, they would have set each to lead within the sandbox's 0.2 s workflow delay)
    assert undone["outcome"] == "succeeded", undone
    assert undone["checks"]["restored values held"] == "PASS"
    time.sleep(1.0)
    after = actual_stages(portal)
    assert [key for key in blank_before if after[key] != ""] == []
    assert after == before
    # ... the flows it switched off are on again, and the report says what it paused and what holds
    assert {flow["id"] for flow in portal.flows() if flow["isEnabled"]} == enabled
    report = json.loads(read(aws, undone["files"]["report_json"]))
    assert sorted(report["flows_paused"]) == sorted(report["flows_resumed"]) == sorted(enabled)
    restored = len({(e.object_type, e.object_id) for e in journal(aws, fixed) if e.write is Write.SET})
    assert report["restores"]["checked"] == report["restores"]["held"] == restored > 0
    # WHEN the same run is undone again, THEN it is refused before anything is written, unless forced
    writes = sandbox.stats()["write_requests"]
    again = run_pipeline(services, {"action": "undo", "mode": "apply", "undo_run_id": "fix-flows"}, name="undo-g")
    assert again["outcome"] == "failed"
    assert "AlreadyUndoneError" in again["failures"][0]
    assert "undo-f" in again["failures"][0]
    assert sandbox.stats()["write_requests"] == writes
    forced = {"action": "undo", "mode": "apply", "undo_run_id": "fix-flows", "force": True}
    assert run_pipeline(services, forced, name="undo-h")["outcome"] == "succeeded"


def test_an_undo_switches_back_on_the_flows_an_earlier_undo_left_off(aws, start_sandbox, make_services):
    # GIVEN a portal fixed with the prevention flows on, then an undo that died after switching them off: its pause
    # record is open, the flows are off
    portal, before, _, services, _ = fixed_portal(
        start_sandbox, make_services, "fix-dead", {"verification": {"live_test": False}}
    )
    ours = sorted(flow["id"] for flow in portal.flows() if flow["isEnabled"])
    for flow_id in ours:
        flow = portal.flow(flow_id)
        portal.replace_flow(flow_id, {**put_body(flow), "isEnabled": False, "revisionId": flow["revisionId"]})
    dead = PauseRecord(run_id="undo-dead", flow_ids=ours)
    aws.s3.put_object(Bucket=BUCKET, Key=paused_flows_key("undo-dead"), Body=dead.model_dump_json())
    # WHEN the run is undone again
    undone = run_pipeline(services, {"action": "undo", "mode": "apply", "undo_run_id": "fix-dead"}, name="undo-2")
    # THEN the undo holds (the flows stayed off while it wrote) and, at its end, switched them back on
    assert undone["outcome"] == "succeeded", undone
    assert actual_stages(portal) == before
    assert sorted(flow["id"] for flow in portal.flows() if flow["isEnabled"]) == ours
    report = json.loads(read(aws, undone["files"]["report_json"]))
    assert report["flows_paused"] == []  # none was on to switch off
    assert sorted(report["flows_resumed"]) == ours
    # ... and both records are closed: the dead undo's taken over by this one, this one's by itself
    for run_id in ("undo-dead", "undo-2"):
        record = PauseRecord.model_validate_json(read(aws, paused_flows_key(run_id)))
        assert record.resumed_by == "undo-2"
        assert sorted(record.flow_ids) == ours


def test_an_undo_reports_restores_another_workflow_set_again(aws, start_sandbox, make_services):
    # GIVEN a run fixed without our prevention flows, and then a customer's own workflow that gives every contact
    # with no stage "lead" (not ours: the undo leaves it alone)
    portal, before, _, services, _ = fixed_portal(start_sandbox, make_services, "fix-theirs", NO_FLOWS)
    flow_id = portal.create_flow(customers_lead_flow())["id"]
    # WHEN the run is undone
    undone = run_pipeline(
        services, {"action": "undo", "mode": "apply", "undo_run_id": "fix-theirs"}, name="undo-theirs"
    )
    # THEN the read-back finds each contact restored to no stage at lead again, and says so: a failed check, not
    # "restored"
    time.sleep(0.5)
    reset = [k for k, stage in before.items() if k[0] == "contacts" and stage == "" and actual_stages(portal)[k]]
    report = json.loads(read(aws, undone["files"]["report_json"]))
    assert undone["outcome"] == "checks_failed", undone
    assert undone["checks"]["restored values held"] == "FAIL"
    assert report["restores"]["reset_by_workflow"] == len(reset) > 0
    assert report["restores"]["held"] == report["restores"]["checked"] - len(reset)
    assert "now 'lead'" in report["restores"]["examples"][0]
    # ... and the customer's workflow was neither switched off nor changed
    assert report["flows_paused"] == []
    assert portal.flow(flow_id)["isEnabled"] is True
    assert portal.flow(flow_id)["revisionId"] == "1"


def test_an_undo_whose_restore_job_failed_switches_the_flows_back_on_and_may_simply_be_run_again(
    aws, start_sandbox, make_services
):
    # GIVEN a portal fixed by an apply run that switched the prevention flows on, in jobs of 100
    portal, before, _, services, _ = fixed_portal(
        start_sandbox, make_services, "fix-failing", {"verification": {"live_test": False}, "fix": {"job_size": 100}}
    )
    ours = {flow["id"] for flow in portal.flows() if flow["isEnabled"]}
    # AND a worker that fails the undo's first restore job (as one that reached HubSpot's daily limit does)
    failed: list[FixJobMessage] = []

    def fail_the_first(message: FixJobMessage, receive_count: int) -> None:
        if failed:
            steps.fix_job(message, receive_count, services)
            return
        failed.append(message)
        services.tracker.settle_job(message.run_id, message.job_id, "failed", {})

    # WHEN the run is undone
    request = {"action": "undo", "mode": "apply", "undo_run_id": "fix-failing"}
    undone = run_pipeline(services, request, name="undo-fails", on_message=fail_the_first)
    # THEN the undo failed naming the job, once every other restore job had settled; the flows are back on
    assert undone["outcome"] == "failed", undone
    assert f"fix jobs failed: {failed[0].job_id}" in undone["failures"]
    assert {flow["id"] for flow in portal.flows() if flow["isEnabled"]} == ours
    # ... the failed job's records still hold the run's values, every other record is back
    job = json.loads(read(aws, failed[0].job_key))
    unrestored = {(job["object_type"], row[0]): row[1] for row in job["changes"]}  # the run's value: "before"
    after = actual_stages(portal)
    assert {key: after[key] for key in unrestored} == unrestored
    assert [key for key in before if key not in unrestored and after[key] != before[key]] == []
    # ... and the run is not marked undone: the undo is run again without force, and finishes
    again = run_pipeline(services, request, name="undo-again")
    assert again["outcome"] == "succeeded", again
    assert actual_stages(portal) == before
    assert again["changes_applied"] == len(unrestored)
    report = json.loads(read(aws, again["files"]["report_json"]))
    assert report["already_restored"] == undone["changes_applied"] > 0
