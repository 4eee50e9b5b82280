"""The live test's wait: checked often at first, over as soon as the prevention workflows acted, never past its
bound (against the in-memory CRM, on a fake clock)."""

from __future__ import annotations

from support.memory_crm import InMemoryCrm

from lifecycle_guard.config import GuardConfig
from lifecycle_guard.live_test import check_probes, start_probes
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.workflows import FlowResult, PreventionOutcome

CONFIG = GuardConfig.model_validate({"verification": {"live_test_wait_seconds": 120}})
FLOWS_IN_PLACE = PreventionOutcome(
    status="ok",
    flows=[
        FlowResult(name="contacts flow", object_type=ObjectType.CONTACTS, action="unchanged", enabled=True),
        FlowResult(name="companies flow", object_type=ObjectType.COMPANIES, action="unchanged", enabled=True),
    ],
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def started(crm: InMemoryCrm, clock: Clock):
    probe = start_probes(crm, CONFIG, FLOWS_IN_PLACE, run_id="run-1", apply=True, clock=clock)
    assert probe.started
    assert not probe.settled
    return probe


def wait_until_settled(crm: InMemoryCrm, clock: Clock, probe, *, flows_act_at: float | None):
    """Run the state machine's loop: wait, check, until settled; the flows set the stage at ``flows_act_at``."""
    checks = 0
    while not probe.settled:
        clock.now += probe.next_check_seconds
        if flows_act_at is not None and clock.now - probe.started_at >= flows_act_at:
            for item in probe.probes:
                crm.update_record(item.object_type, item.object_id, {"lifecyclestage": "lead"})
        probe = check_probes(crm, CONFIG, probe, clock=clock)
        checks += 1
    return probe, checks


def test_the_wait_ends_at_the_first_check_after_the_workflows_acted():
    # GIVEN probes made with no stage, and workflows that act 3 s later
    crm, clock = InMemoryCrm(), Clock()
    probe = started(crm, clock)
    # WHEN the loop checks on them
    probe, checks = wait_until_settled(crm, clock, probe, flows_act_at=3)
    # THEN it stopped within a second or two of the workflows acting, not after the 120 s bound
    assert probe.settled
    assert 3 <= probe.waited_seconds <= 5
    assert checks <= 5


def test_the_wait_ends_at_its_bound_when_the_workflows_never_act():
    crm, clock = InMemoryCrm(), Clock()
    probe = started(crm, clock)
    probe, checks = wait_until_settled(crm, clock, probe, flows_act_at=None)
    # THEN it gave up at the bound exactly
    assert probe.waited_seconds == 120
    assert clock.now - probe.started_at == 120
    # AND it checked often only at first: 30 checks (about 270 history events) for two minutes, and an hour's bound
    # would add one check per MAX_CHECK_INTERVAL_SECONDS
    assert checks <= 30


def test_a_bound_of_zero_is_settled_at_once():
    crm = InMemoryCrm()
    config = GuardConfig.model_validate({"verification": {"live_test_wait_seconds": 0}})
    probe = start_probes(crm, config, FLOWS_IN_PLACE, run_id="run-1", apply=True)
    assert (probe.started, probe.settled, probe.next_check_seconds) == (True, True, 0)
