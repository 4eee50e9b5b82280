"""Begin a run (validate input, config and token, take the lock, recover, audit), or plan a chunk of it (handing
its fix jobs to the workers as they are cut)."""

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from lifecycle_guard import steps
from lifecycle_guard.contracts import BeginEvent, PlanEvent
from lifecycle_guard.runtime import Services, Settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()
services = Services(Settings.from_environment(require=["deployed_config", "job_queue_url"]))

Event = Annotated[BeginEvent | PlanEvent, Field(discriminator="step")]


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=Event)
def lambda_handler(event: BeginEvent | PlanEvent, context: LambdaContext) -> dict[str, Any]:
    if isinstance(event, BeginEvent):
        logger.info("run starting", action=event.request.action, mode=event.request.mode, source=event.request.source)
        begun = steps.begin(event.request, event.execution, services)
        metrics.add_metric(name="RunsStarted", unit=MetricUnit.Count, value=1)
        return begun.model_dump(mode="json", exclude_none=True)
    run = steps.load_run(services.store, event.execution)
    cursor = steps.plan(run, event.execution, services, context.get_remaining_time_in_millis())
    metrics.add_metric(name="PlanChunks", unit=MetricUnit.Count, value=1)
    logger.info("planned", object_type=cursor.object_type, after_id=cursor.after_id, jobs=cursor.next_job)
    return cursor.model_dump(mode="json")
