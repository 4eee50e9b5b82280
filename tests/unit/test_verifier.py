"""Verification against the in-memory CRM: every check names what it saw, and the live test cleans up."""

from __future__ import annotations

from collections.abc import Callable

from support.memory_crm import PRIMARY, InMemoryCrm

from lifecycle_guard.config import GuardConfig
from lifecycle_guard.jobs import PlannedChange
from lifecycle_guard.live_test import Probe, ProbeState
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.verification import Verifier

CONFIG = GuardConfig.model_validate({"verification": {"settle_seconds": 0}})
NOT_STARTED = ProbeState(started=False, reason="dry run")


def clean_portal() -> InMemoryCrm:
    crm = InMemoryCrm()
    crm.add("companies", "1", "customer")
    crm.add("contacts", "11", "customer")
    crm.link("contacts", "11", "companies", "1", PRIMARY)
    crm.add("contacts", "12", "lead")
    return crm


class FakeTime:
    """A clock that moves only when the verifier sleeps; ``during_sleep`` plays what HubSpot does meanwhile."""

    def __init__(self, during_sleep: Callable[[float], None] = lambda _now: None) -> None:
        self.now = 0.0
        self.slept: list[float] = []
        self._during_sleep = during_sleep

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        self._during_sleep(self.now)

    def clock(self) -> float:
        return self.now


def verify(
    crm: InMemoryCrm, *, probe: ProbeState = NOT_STARTED, changes=(), jobs_failed=0, residue=0, time=None, config=CONFIG
):
    catalogs = {t: crm.stage_catalog(t) for t in ObjectType}
    time = time or FakeTime()
    verifier = Verifier(crm, config, catalogs, sleep=time.sleep, clock=time.clock)
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


def started(*probes: tuple[ObjectType, str]) -> ProbeState:
    return ProbeState(
        started=True,
        wait_seconds=1,
        probes=[Probe(object_type=object_type, object_id=object_id) for object_type, object_id in probes],
    )


def test_a_probe_blanked_again_must_get_the_stage_again_from_the_workflow():
    # GIVEN probes the workflow gave lead, and a workflow that acts again 5 s after each clear (it re-enrolls)
    crm = clean_portal()
    contact = crm.create("contacts", {"email": "probe-run-1@lifecycle-guard.invalid", "lifecyclestage": "lead"})
    company = crm.create("companies", {"name": "lifecycle-guard prevention probe run-1", "lifecyclestage": "lead"})

    def workflow_acts_again(now: float) -> None:
        if now >= 5:
            for object_type, record in (("contacts", contact), ("companies", company)):
                crm.records[object_type][record.id]["lifecyclestage"] = "lead"

    time = FakeTime(workflow_acts_again)
    result = checks(
        verify(crm, probe=started((ObjectType.CONTACTS, contact.id), (ObjectType.COMPANIES, company.id)), time=time)
    )
    # THEN each probe was cleared once (a single-record write, not a batch) and polled until it had lead again
    assert [(c.method, c.ids, c.values) for c in crm.calls if c.method == "update_record"] == [
        ("update_record", (contact.id,), ("",)),
        ("update_record", (company.id,), ("",)),
    ]
    assert result["live prevention test: contacts blanked again get a stage again"] == ("PASS", "lead")
    assert result["live prevention test: companies blanked again get a stage again"] == ("PASS", "lead")
    assert 5 <= time.now < 10
    # ... and the probes are deleted
    assert contact.id not in crm.records["contacts"]
    assert company.id not in crm.records["companies"]


def test_a_workflow_that_does_not_re_enroll_fails_the_second_blank_within_the_wait():
    crm = clean_portal()
    contact = crm.create("contacts", {"email": "probe-run-1@lifecycle-guard.invalid", "lifecyclestage": "lead"})
    company = crm.create("companies", {"name": "lifecycle-guard prevention probe run-1"})  # missed the first time
    time = FakeTime()
    config = GuardConfig.model_validate({"verification": {"settle_seconds": 0, "live_test_wait_seconds": 30}})
    result = checks(
        verify(
            crm,
            probe=started((ObjectType.CONTACTS, contact.id), (ObjectType.COMPANIES, company.id)),
            time=time,
            config=config,
        )
    )
    assert result["live prevention test: contacts blanked again get a stage again"] == ("FAIL", "(no stage)")
    # a probe the workflow never set the first time is not blanked again: its first check already failed
    assert "live prevention test: companies blanked again get a stage again" not in result
    assert 30 <= time.now <= 32  # gave up at the configured wait, polling every 2 s
