"""Verification against the in-memory CRM: every check names what it saw, and the live test cleans up."""

from __future__ import annotations

from support.memory_crm import PRIMARY, InMemoryCrm

from lifecycle_guard.config import GuardConfig
from lifecycle_guard.jobs import PlannedChange
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.verification import Probe, ProbeState, Verifier

CONFIG = GuardConfig.model_validate({"verification": {"settle_seconds": 0}})
NOT_STARTED = ProbeState(started=False, reason="dry run")


def clean_portal() -> InMemoryCrm:
    crm = InMemoryCrm()
    crm.add("companies", "1", "customer")
    crm.add("contacts", "11", "customer")
    crm.link("contacts", "11", "companies", "1", PRIMARY)
    crm.add("contacts", "12", "lead")
    return crm


def verify(crm: InMemoryCrm, *, probe: ProbeState = NOT_STARTED, changes=(), jobs_failed=0, residue=0):
    catalogs = {t: crm.stage_catalog(t) for t in ObjectType}
    verifier = Verifier(crm, CONFIG, catalogs, sleep=lambda _s: None)
    return verifier.verify(
        probe=probe, contact_changes=list(changes), jobs_failed=jobs_failed, residue=residue, run_id="run-1"
    )


def checks(verification) -> dict[str, tuple[str, str]]:
    return {check.name: (check.status, check.observed) for check in verification.checks}


INHERITED = PlannedChange(ObjectType.CONTACTS, "11", "", "customer", "missing:primary_company")


def test_a_clean_portal_passes_every_check_and_is_audited_after():
    result = checks(verify(clean_portal(), changes=[INHERITED]))
    assert result["no contacts missing a stage"] == ("PASS", "0")
    assert result["no companies at a disallowed stage"] == ("PASS", "0")
    assert result["every fix job finished on target"][0] == "PASS"
    assert result["spot check: contacts agree with their primary company"] == ("PASS", "1 of 1 consistent")
    assert result["live prevention test"] == ("SKIPPED", "")


def test_records_left_blank_or_disallowed_fail_naming_them():
    crm = clean_portal()
    crm.add("contacts", "13")
    crm.add("contacts", "14", "other")
    verification = verify(crm, jobs_failed=1, residue=2)
    by_name = {check.name: check for check in verification.checks}
    assert (by_name["no contacts missing a stage"].status, by_name["no contacts missing a stage"].observed) == (
        "FAIL",
        "1",
    )
    assert "13" in by_name["no contacts missing a stage"].detail
    assert "14" in by_name["no contacts at a disallowed stage"].detail
    assert by_name["every fix job finished on target"].observed == "1 failed jobs, 2 records off target"
    assert verification.after is not None
    assert verification.after.counts[ObjectType.CONTACTS].missing == 1


def test_a_contact_whose_company_no_longer_agrees_fails_the_spot_check():
    crm = clean_portal()
    crm.records["companies"]["1"]["lifecyclestage"] = "opportunity"  # moved since the contact inherited
    result = checks(verify(crm, changes=[INHERITED]))
    assert result["spot check: contacts agree with their primary company"] == ("FAIL", "0 of 1 consistent")


def test_the_live_test_reads_each_probe_then_deletes_it_and_any_stray_from_a_lost_create():
    crm = clean_portal()
    contact = crm.create("contacts", {"email": "probe-run-1@lifecycle-guard.invalid", "lifecyclestage": "lead"})
    company = crm.create("companies", {"name": "lifecycle-guard prevention probe run-1"})  # the workflow missed it
    stray = crm.create("contacts", {"email": "probe-run-1@lifecycle-guard.invalid"})  # its response was lost
    probe = ProbeState(
        started=True,
        wait_seconds=1,
        probes=[
            Probe(object_type=ObjectType.CONTACTS, object_id=contact.id),
            Probe(object_type=ObjectType.COMPANIES, object_id=company.id),
        ],
    )
    result = checks(verify(crm, probe=probe))
    assert result["live prevention test: new contacts get a stage"] == ("PASS", "lead")
    assert result["live prevention test: new companies get a stage"] == ("FAIL", "(no stage)")
    for object_type, record in (("contacts", contact), ("companies", company), ("contacts", stray)):
        assert record.id not in crm.records[object_type]
    # the probes never count against the portal's checks
    assert result["no contacts missing a stage"] == ("PASS", "0")
