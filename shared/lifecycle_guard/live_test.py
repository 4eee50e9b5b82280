"""The live test of the prevention workflows: probe records created with no stage, and the wait for the flows to act.

A contact and a company are created with no stage (``start_probes``); the state machine then checks them
(``check_probes``) after a short wait, again and again, until every probe has the default stage or the upper bound
(``verification.live_test_wait_seconds``) has passed, so a portal whose workflows act within seconds is not kept
waiting for minutes. The checks themselves (and the second blank, for re-enrollment) are ``verification``'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pydantic import BaseModel

from lifecycle_guard.config import GuardConfig
from lifecycle_guard.crm import Crm, HubSpotError
from lifecycle_guard.filters import PropertyEquals
from lifecycle_guard.objects import LIFECYCLE_STAGE, ObjectType
from lifecycle_guard.workflows import PreventionOutcome

PROBE_EMAIL_DOMAIN = "lifecycle-guard.invalid"
FIRST_CHECK_SECONDS = 1
MAX_CHECK_INTERVAL_SECONDS = 10  # each check adds about nine events to the execution's history


class Probe(BaseModel):
    object_type: ObjectType
    object_id: str


class ProbeState(BaseModel):
    started: bool
    wait_seconds: int = 0  # the most the flows are given (``verification.live_test_wait_seconds``)
    probes: list[Probe] = []
    reason: str = ""
    failed: bool = False  # the probes could not be created: the live test failed rather than being skipped
    started_at: float = 0.0  # when the probes were created (epoch seconds)
    settled: bool = False  # every probe has the default stage, or the most the flows are given has passed
    waited_seconds: float = 0.0  # from the probes' creation until the flows had acted (or the bound)
    next_check_seconds: int = FIRST_CHECK_SECONDS


def start_probes(
    crm: Crm,
    config: GuardConfig,
    prevention: PreventionOutcome,
    *,
    run_id: str,
    apply: bool,
    clock: Callable[[], float] = time.time,
) -> ProbeState:
    """Create a contact and a company with no stage, for the prevention workflows to act on."""
    options = config.verification
    if not apply:
        return ProbeState(started=False, reason="dry run: the live test writes, so it only runs in apply mode")
    if not options.live_test:
        return ProbeState(started=False, reason="the live prevention test is disabled in the config")
    if prevention.status != "ok" or any(flow.action == "not_managed" for flow in prevention.flows):
        return ProbeState(started=False, reason="the prevention workflows are not in place")
    if not all(flow.enabled for flow in prevention.flows if flow.action != "not_possible"):
        return ProbeState(started=False, reason="the prevention workflows are disabled (review mode)")
    probes = []
    try:
        for object_type, properties in probe_properties(run_id).items():
            # Retried on 5xx: a create whose response was lost may still have made a probe, and verify deletes such
            # strays by their marker, so a duplicate is harmless - and one server error no reason to fail the test.
            created = crm.create(object_type, properties, retry=True)
            probes.append(Probe(object_type=object_type, object_id=created.id))
    except HubSpotError as exc:
        return ProbeState(started=False, probes=probes, reason=f"could not create the probes: {exc}", failed=True)
    return ProbeState(
        started=True,
        wait_seconds=options.live_test_wait_seconds,
        probes=probes,
        started_at=clock(),
        settled=options.live_test_wait_seconds == 0,
        next_check_seconds=min(FIRST_CHECK_SECONDS, options.live_test_wait_seconds),
    )


def check_probes(
    crm: Crm, config: GuardConfig, probe: ProbeState, *, clock: Callable[[], float] = time.time
) -> ProbeState:
    """Whether the flows have acted on every probe; if not, and there is time left, when to look again (sooner
    at first, then every ``MAX_CHECK_INTERVAL_SECONDS`` at most)."""
    waited = clock() - probe.started_at
    expected = config.prevention.default_stage
    acted = all(stage_of(crm, item) == expected for item in probe.probes)
    left = probe.wait_seconds - waited
    if acted or left <= 0:
        return probe.model_copy(update={"settled": True, "waited_seconds": round(min(waited, probe.wait_seconds), 1)})
    interval = min(MAX_CHECK_INTERVAL_SECONDS, max(FIRST_CHECK_SECONDS, int(waited / 4)), max(1, int(left + 0.999)))
    return probe.model_copy(update={"waited_seconds": round(waited, 1), "next_check_seconds": interval})


def stage_of(crm: Crm, item: Probe) -> str:
    record = crm.get(item.object_type, item.object_id, [LIFECYCLE_STAGE])
    return record.stage if record else "(probe deleted)"


def probe_properties(run_id: str) -> dict[ObjectType, dict[str, str]]:
    """A probe per object type, created with no stage and recognisable by a marker unique to the run."""
    return {
        ObjectType.CONTACTS: {
            "email": f"probe-{run_id.lower()}@{PROBE_EMAIL_DOMAIN}",
            "firstname": "lifecycle-guard",
            "lastname": "prevention probe",
        },
        ObjectType.COMPANIES: {"name": f"lifecycle-guard prevention probe {run_id}", "domain": PROBE_EMAIL_DOMAIN},
    }


def probe_filters(run_id: str) -> dict[ObjectType, PropertyEquals]:
    """Per object type, a search for the run's probes by their marker property."""
    markers = {ObjectType.CONTACTS: "email", ObjectType.COMPANIES: "name"}
    return {
        object_type: PropertyEquals(markers[object_type], properties[markers[object_type]])
        for object_type, properties in probe_properties(run_id).items()
    }
