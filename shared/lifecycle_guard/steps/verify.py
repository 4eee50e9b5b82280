"""Verification: start the live test of the prevention workflows, check on it until the flows have acted, then
check the portal."""

from __future__ import annotations

from lifecycle_guard.audit import audit
from lifecycle_guard.contracts import RunContext
from lifecycle_guard.fixing import recover_pending
from lifecycle_guard.live_test import ProbeState, check_probes, start_probes
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.plan_store import PlanStore
from lifecycle_guard.runtime import Services
from lifecycle_guard.verification import Verification, Verifier, prevention_check
from lifecycle_guard.workflows import PreventionOutcome

SPOT_CHECK_JOBS = 20  # contact jobs whose changes the spot check samples from


def start_probe(run: RunContext, prevention: PreventionOutcome, services: Services) -> ProbeState:
    with services.hubspot(run.run_id, run.config) as gateway:
        return start_probes(gateway.crm, run.config, prevention, run_id=run.run_id, apply=run.apply)


def check_probe(run: RunContext, probe: ProbeState, services: Services) -> ProbeState:
    with services.hubspot(run.run_id, run.config) as gateway:
        return check_probes(gateway.crm, run.config, probe)


def verify(run: RunContext, probe: ProbeState, prevention: PreventionOutcome, services: Services) -> Verification:
    """Finish batches of this run that died half-way, then check the portal."""
    catalogs = run.catalogs()
    with services.hubspot(run.run_id, run.config) as gateway:
        if not run.apply:
            return Verification(after=audit(gateway.crm, catalogs), checks=[prevention_check(prevention)])
        recovered = recover_pending(
            services.store, gateway.crm, catalogs, run.config.fix, run.layout, of_run=run.run_id
        )
        services.tracker.add(run.run_id, {"recovered": recovered.applied})
        state = services.tracker.state(run.run_id)
        sampled = PlanStore(services.store, run.layout).sample(ObjectType.CONTACTS, SPOT_CHECK_JOBS, run.run_id)
        verification = Verifier(gateway.crm, run.config, catalogs).verify(
            probe=probe,
            contact_changes=[change for job in sampled for change in job.changes],
            jobs_failed=state.jobs_failed + state.jobs_unfinished,
            residue=state.ignored + state.failed,
            run_id=run.run_id,
        )
    verification.checks.append(prevention_check(prevention))
    return verification
