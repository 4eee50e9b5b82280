"""Plan: find the records that need a stage and decide each target, a Lambda's worth at a time."""

from __future__ import annotations

from lifecycle_guard.contracts import RunContext
from lifecycle_guard.jobs import JobSink
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.plan_store import PlanStore
from lifecycle_guard.planning import ContextCache, PlanCursor, Planner
from lifecycle_guard.runtime import Services
from lifecycle_guard.steps.deadline import deadline


def plan(run: RunContext, cursor: PlanCursor, services: Services, remaining_ms: int) -> PlanCursor:
    """Plan until done or close to the Lambda deadline; each call resumes from ``cursor``."""
    plans = PlanStore(services.store, run.layout)
    plans.drop_from(cursor.next_job)
    # Contacts planned in this invocation inherit from companies planned in earlier ones.
    cache = ContextCache(
        planned_company_stages={
            change.object_id: change.target for job in plans.jobs(ObjectType.COMPANIES) for change in job.changes
        }
    )
    fix = run.config.fix
    sink = JobSink(run.catalogs(), fix.job_size, fix.batch_size, plans.put, next_job=cursor.next_job)
    with services.hubspot(run.run_id, run.config) as gateway:
        return Planner(gateway.crm, run.config, sink, cache).plan(cursor, deadline(remaining_ms))
