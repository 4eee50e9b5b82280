"""Plan: find the records that need a stage and decide each target, a Lambda's worth at a time; in an apply run
the fix jobs go to the workers as they are cut (``job_dispatch``)."""

from __future__ import annotations

from lifecycle_guard.contracts import ExecutionInfo, RunContext
from lifecycle_guard.job_dispatch import JobDispatcher
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.plan_store import PlanStore
from lifecycle_guard.planning import ContextCache, PlanCursor, Planner
from lifecycle_guard.runtime import Services
from lifecycle_guard.steps.deadline import deadline


def plan(run: RunContext, execution: ExecutionInfo, services: Services, remaining_ms: int) -> PlanCursor:
    """Plan until done or close to the Lambda deadline; each call resumes from the stored checkpoint."""
    plans = PlanStore(services.store, run.layout)
    queue = services.queue if run.apply else None
    dispatcher = JobDispatcher(
        run, plans, services.tracker, queue, PlanCursor, lambda: services.execution_stopped(execution.id)
    )
    checkpoint = dispatcher.checkpoint
    if checkpoint.cursor.done:
        return checkpoint.cursor  # a retry of an invocation that finished planning but not its answer
    sink = dispatcher.sink()
    # Contacts inherit the targets of companies planned in earlier invocations (cut into jobs, or still pending).
    planned_companies = [c for job in plans.jobs(ObjectType.COMPANIES) for c in job.changes]
    cache = ContextCache.planned_before(planned_companies + sink.pending())
    # Two connections: the searches run ahead on their own (``prefetch``) while the other reads the context.
    with services.hubspot(run.run_id, run.config) as gateway, services.hubspot(run.run_id, run.config) as search:
        planner = Planner(
            gateway.crm,
            run.config,
            sink,
            cache,
            on_progress=lambda cursor: dispatcher.commit(cursor, sink.pending()),
            search_crm=search.crm,
        )
        cursor = planner.plan(checkpoint.cursor, deadline(remaining_ms))
    dispatcher.commit(cursor, sink.pending())
    return cursor
