"""What a real portal does that an ideal one would not: validation rules that refuse some records, a stage option
deleted mid-run (a custom stage, while still empty), a half-finished batch that HubSpot now refuses, a workflow of
the same name that is not ours, a stalled workflows endpoint, a token whose scopes cannot be checked in advance.

After each the fault suite's invariants hold: every record is at the oracle's stage except those HubSpot refused,
which hold exactly the stage they had (none blank that had one); the journal holds every write HubSpot applied; the
report lists the refused records by reason and counts the API calls as the sandbox does; and once the cause is gone a
further run writes nothing.
"""

from __future__ import annotations

import json
import math
import time

from faultkit import SMALL_BATCHES, merged, start
from support.invariants import (
    api_mismatches,
    api_stage_writes,
    batch_updates,
    checks_of,
    flow_writes,
    journal_of,
    now_ms,
    refused_records,
    write_calls,
)
from support.oracle import actual_stages

from hubspot_sandbox import ALL_SCOPES, RuleCondition, StageOption, StageRule
from lifecycle_guard import steps
from lifecycle_guard.gateway import api_request
from lifecycle_guard.jobs import PlannedChange
from lifecycle_guard.journal import Write, WriteOutcome
from lifecycle_guard.layout import PENDING_PREFIX, QUARANTINE_PREFIX, RunLayout
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.pending import marker_body
from lifecycle_guard.rejections import INVALID_OPTION, VALIDATION_RULE

PARTNER = "Channel partner (lifecycle-guard test)"
# A custom stage (HubSpot's custom stage ids are numeric strings), and the seed rule for evangelists, unchanged.
NURTURE = StageOption("90210011", "Nurture (lifecycle-guard test)", 0)
EVANGELIST = {"derive": "primary_company", "inherit": ["customer"], "otherwise": "lead"}
CONTACT_FLOW = "AUTO-FIX: Set Default Lifecycle Stage (Lead)"


def backward_to_lead(guarded, count: int) -> list[tuple[str, str]]:
    """``count`` contacts at ``other`` the oracle moves back to lead, spread over the plan."""
    candidates = sorted(
        (key for key, target in guarded.expected.items() if key[0] == "contacts" and target == "lead"),
        key=lambda key: int(key[1]),
    )
    candidates = [key for key in candidates if guarded.before[key] == "other"]
    step = len(candidates) // count
    return candidates[::step][:count]


def partner_rule(guarded, keys: list[tuple[str, str]]) -> None:
    """A validation rule an admin adds: partner contacts cannot be leads; ``keys`` are made partners."""
    for _, contact_id in keys:
        guarded.portal.seed_properties("contacts", contact_id, {"jobtitle": PARTNER})
    guarded.portal.add_validation_rule(
        StageRule("contacts", RuleCondition("jobtitle", "EQ", PARTNER), "lead", "Partners are never leads")
    )


def test_records_a_validation_rule_refuses_keep_their_stage_and_everything_else_is_fixed(start_sandbox, make_services):
    # GIVEN a portal with a validation rule refusing lead to 6 contacts the plan moves back from other to lead
    guarded = start(start_sandbox, make_services, config=SMALL_BATCHES)
    partners = backward_to_lead(guarded, 6)
    partner_rule(guarded, partners)
    # WHEN an apply run goes through
    summary, report = guarded.run("rule")
    # THEN the refused records hold their old stage (none was left blank), every other record is fixed
    assert guarded.blanked() == []
    assert guarded.portal_problems(refused=partners) == []
    # ... the report lists exactly them, as refused by a validation rule, with HubSpot's message
    assert refused_records(report) == {VALIDATION_RULE: set(partners)}
    (group,) = report["rejected"]
    assert all("Partners are never leads" in record["detail"] for record in group["records"])
    # ... and says the run did not get everything on target - but no job failed
    assert summary["outcome"] == "checks_failed", summary
    assert report["failures"] == []
    assert checks_of(report)["every fix job finished on target"] == "FAIL"
    assert report["fix"]["failed"] == len(partners)
    # ... finding them cost O(k log n) extra requests: batches of 20, each refused record alone in at most 5 levels
    assert 0 < report["fix"]["isolating_calls"] <= 2 * len(partners) * (math.ceil(math.log2(20)) + 1)
    assert guarded.journal_problems() == []
    assert api_mismatches(report, guarded.sandbox.stats()) == []
    # WHEN a second run goes through, the rule still in place
    since = now_ms()
    summary, report = guarded.run("rule-again")
    # THEN it tries only the refused records again (they are still planned) and writes nothing to the rest
    assert summary["changes_planned"] == len(partners)
    assert set(api_stage_writes(guarded.portal, since)) <= set(partners)
    assert refused_records(report) == {VALIDATION_RULE: set(partners)}
    assert guarded.portal_problems(refused=partners) == []
    # WHEN the admin lifts the rule
    guarded.portal.clear_validation_rules()
    summary, report = guarded.run("rule-lifted")
    # THEN the next run fixes them, the portal is exactly right, and a further run writes nothing
    assert summary["outcome"] == "succeeded", report["checks"]
    assert guarded.portal_problems() == []
    assert guarded.journal_problems() == []
    guarded.run_again("rule-lifted-again")


def test_an_empty_custom_stage_deleted_mid_run_refuses_the_moves_to_it_only(start_sandbox, make_services):
    # GIVEN a custom stage an admin added after lead, which no record holds yet, and a deployment sending contacts
    # at "other" there (a move back: cleared, then set)
    rules = {"contacts": {"disallowed": {"subscriber": "lead", "other": NURTURE.value, "evangelist": EVANGELIST}}}
    guarded = start(start_sandbox, make_services, config=merged(SMALL_BATCHES, rules))
    guarded.portal.add_lifecycle_stage(NURTURE, after="lead")
    to_nurture = {key for key, stage in guarded.before.items() if key[0] == "contacts" and stage == "other"}
    assert to_nurture
    guarded.expected.update(dict.fromkeys(to_nurture, NURTURE.value))
    # ... and an admin who deletes that stage once the run has planned, before its first fix job: it is still empty,
    # so HubSpot's settings page allows it (a stage holding records must be emptied first)
    jobs: list[str] = []

    def delete_nurture_before_the_first_job(job, receive_count):
        if not jobs:
            assert NURTURE.value not in actual_stages(guarded.portal).values()
            guarded.portal.remove_lifecycle_stage(NURTURE.value)
        jobs.append(job.job_id)
        steps.fix_job(job, receive_count, guarded.services)

    # WHEN an apply run goes through
    summary, report = guarded.run("deleted", on_message=delete_nurture_before_the_first_job)
    # THEN every move to the deleted stage was refused as an invalid option, and nothing else
    assert refused_records(report) == {INVALID_OPTION: to_nurture}
    assert report["failures"] == []
    # ... each was cleared for the move, and got its old stage back when the set was refused: none is left blank,
    # and every other record is fixed
    cleared = {
        (entry.object_type.value, entry.object_id)
        for entry in journal_of(guarded.services.store, "deleted")
        if entry.write is Write.CLEAR and entry.outcome is WriteOutcome.APPLIED
    }
    assert to_nurture <= cleared
    assert guarded.blanked() == []
    assert guarded.portal_problems(refused=to_nurture) == []
    assert guarded.journal_problems() == []
    # ... and a deleted option is learned once per job (one record bisected out of a batch of 20), not record by record
    assert 0 < report["fix"]["isolating_calls"] <= len(jobs) * 2 * math.ceil(math.log2(20))
    # WHEN the next run starts, the config still naming the stage
    guarded.sandbox.reset_stats()
    summary, report = guarded.run("deleted-again")
    # THEN it stops before any write, naming the stage the portal no longer has
    assert summary["outcome"] == "failed"
    assert f"{NURTURE.value!r} is not a lifecycle stage of this portal" in report["failures"][0]
    assert write_calls(guarded.sandbox.stats()) == {}
    # WHEN the admin adds the stage again, THEN the next run finishes the job and a further one writes nothing
    guarded.portal.add_lifecycle_stage(NURTURE, after="lead")
    summary, report = guarded.run("restored")
    assert summary["outcome"] == "succeeded", report["checks"]
    assert guarded.portal_problems() == []
    assert guarded.journal_problems() == []
    guarded.run_again("restored-again")


def test_a_half_finished_batch_hubspot_now_refuses_and_untrustworthy_markers_never_stop_a_run(
    start_sandbox, make_services
):
    # GIVEN a run that died after clearing a contact (other -> lead) and before setting it; since then an admin's
    # rule refuses lead to that contact. Beside its marker: one that is not JSON, and one naming another run.
    guarded = start(start_sandbox, make_services, config=SMALL_BATCHES)
    (cleared,) = backward_to_lead(guarded, 1)
    guarded.portal.apply_properties("contacts", cleared[1], {"lifecyclestage": ""})
    partner_rule(guarded, [cleared])
    store = guarded.services.store
    dead = RunLayout("dead-run", "runs/2026/12/01/dead-run/")
    planned = [PlannedChange(ObjectType.CONTACTS, cleared[1], "other", "lead", "disallowed:other")]
    store.put(dead.pending_marker("000003-contacts-backward", 0), marker_body("dead-run", "000003", planned))
    store.put(dead.pending_marker("000004-contacts-backward", 0), b'{"run_id": "dead-run", "chang')
    store.put(dead.pending_marker("000005-contacts-forward", 0), marker_body("someone-else", "000005", planned))
    # WHEN the next apply run goes through
    summary, report = guarded.run("after-crash")
    # THEN start-up recovery did not fail it: the refused set is journaled, the contact has its old stage back
    assert report["failures"] == []
    assert guarded.portal.get_property("contacts", cleared[1], "lifecyclestage") == "other"
    assert refused_records(report) == {VALIDATION_RULE: {cleared}}
    # ... the two markers it could not trust are quarantined and listed, with why; nothing is left pending
    assert list(store.keys(PENDING_PREFIX)) == []
    quarantined = {marker["marker_key"].rsplit("/", 1)[-1]: marker for marker in report["quarantined"]}
    assert set(quarantined) == {"000004-contacts-backward-0000.json", "000005-contacts-forward-0000.json"}
    assert "not a readable pending marker" in quarantined["000004-contacts-backward-0000.json"]["reason"]
    assert "names run 'someone-else'" in quarantined["000005-contacts-forward-0000.json"]["reason"]
    assert {marker["quarantined_by"] for marker in quarantined.values()} == {"after-crash"}
    assert len(list(store.keys(QUARANTINE_PREFIX))) == 2
    # ... and every other record is fixed, the journal complete (the dead run's clear included)
    assert guarded.blanked() == []
    assert guarded.portal_problems(refused=[cleared]) == []
    assert guarded.journal_problems() == []
    # AND once the rule is lifted the next run fixes the contact, still listing the quarantine, and then nothing
    guarded.portal.clear_validation_rules()
    summary, report = guarded.run("after-crash-fixed")
    assert summary["outcome"] == "succeeded", report["checks"]
    assert len(report["quarantined"]) == 2
    assert guarded.portal_problems() == []
    guarded.run_again("after-crash-again")


def test_a_same_named_workflow_that_is_not_ours_is_left_untouched(start_sandbox, make_services):
    # GIVEN a portal where someone's own workflow already carries the contact prevention flow's name
    guarded = start(start_sandbox, make_services, config=SMALL_BATCHES)
    theirs = guarded.portal.create_flow(
        {
            "type": "CONTACT_FLOW",
            "objectTypeId": "0-1",
            "flowType": "WORKFLOW",
            "name": CONTACT_FLOW,
            "description": "Sales ops: route new leads",
            "isEnabled": True,
            "actions": [],
            "blockedDates": [],
            "timeWindows": [],
            "customProperties": {"team": "sales-ops"},
            "dataSources": [],
            "suppressionListIds": [],
            "canEnrollFromSalesforce": False,
        }
    )
    # WHEN an apply run goes through
    summary, report = guarded.run("foreign")
    # THEN the portal is fixed, their flow is exactly as it was, ours for companies was created
    assert guarded.portal_problems() == []
    assert guarded.journal_problems() == []
    assert guarded.portal.flow(theirs["id"]) == theirs
    assert sorted(flow["name"] for flow in guarded.portal.flows()) == sorted(
        [CONTACT_FLOW, "AUTO-FIX: Set Default Company Lifecycle Stage (Lead)"]
    )
    # ... and the report says why prevention is not in place, the live test skipped
    assert summary["outcome"] == "checks_failed"
    checks = {check["name"]: check for check in report["checks"]}
    assert checks["prevention workflows in place"]["status"] == "FAIL"
    assert "did not create" in checks["prevention workflows in place"]["detail"]
    assert checks["live prevention test"]["status"] == "SKIPPED"
    actions = {flow["name"]: flow["action"] for flow in report["prevention"]["flows"]}
    assert actions[CONTACT_FLOW] == "not_managed"
    # AND a second run writes nothing: no fix, no flow write
    guarded.sandbox.reset_stats()
    summary, report = guarded.run("foreign-again")
    assert summary["changes_planned"] == 0
    assert batch_updates(guarded.sandbox.stats()) == flow_writes(guarded.sandbox.stats()) == 0
    assert guarded.portal.flow(theirs["id"]) == theirs


def test_a_stalled_workflows_endpoint_times_out_and_the_run_goes_on(start_sandbox, make_services, monkeypatch):
    # GIVEN a sandbox that holds the first workflows listing until it stops (a hung connection), and a one-second
    # read timeout (the deployed one is 60 s)
    monkeypatch.setattr(api_request, "REQUEST_TIMEOUT", (2.0, 1.0))
    guarded = start(start_sandbox, make_services, config=SMALL_BATCHES)
    guarded.sandbox.queue_fault(method="GET", path="/automation/v4/flows", when="stall")
    # WHEN an apply run goes through
    started = time.monotonic()
    summary, report = guarded.run("stalled")
    # THEN the stalled call timed out and was retried, and the run succeeded, counting both attempts
    assert summary["outcome"] == "succeeded", report["checks"]
    assert report["api"]["statuses"]["network"] == 1
    assert report["api"]["calls"]["GET /automation/v4/flows"] == 2
    assert time.monotonic() - started < 120
    assert guarded.portal_problems() == []
    assert guarded.journal_problems() == []
    guarded.run_again("stalled-again")


def test_a_token_whose_scopes_cannot_be_checked_stops_at_its_first_403_naming_the_scope(start_sandbox, make_services):
    # GIVEN a service key (HubSpot cannot introspect it) that may read everything but not write contacts
    guarded = start(start_sandbox, make_services, config=SMALL_BATCHES)
    key = guarded.sandbox.issue_token("service_key", ALL_SCOPES - {"crm.objects.contacts.write"})
    guarded.services = make_services(
        guarded.sandbox, token=key, config=json.loads(guarded.services.settings.deployed_config or "{}")
    )
    # WHEN an apply run goes through
    summary, report = guarded.run("service-key")
    # THEN the report says the scopes could not be checked, and the run stopped at the first contacts write, saying
    # which scope the token lacks; the companies were fixed, and no record was left blank
    checks = {check["name"]: check for check in report["checks"]}
    assert checks["token scopes checked before writing"]["status"] == "SKIPPED"
    assert "cannot introspect" in checks["token scopes checked before writing"]["detail"]
    assert summary["outcome"] == "failed"
    assert any(
        "403" in failure and "crm.objects.contacts.write" in failure and "token" in failure
        for failure in report["failures"]
    ), report["failures"]
    assert guarded.sandbox.stats()["statuses"]["403"] == 1
    assert guarded.blanked() == []
    assert guarded.journal_problems() == []
    # WHEN the key gets the scope, THEN the next run finishes and a further one writes nothing
    guarded.sandbox.update_settings(tokens={**guarded.sandbox.settings.tokens, key: ALL_SCOPES})
    summary, report = guarded.run("service-key-fixed")
    assert summary["outcome"] == "succeeded", report
    assert guarded.portal_problems() == []
    guarded.run_again("service-key-again")
