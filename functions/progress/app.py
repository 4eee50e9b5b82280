"""Check the plan against the safety caps and enqueue its jobs, then report how far they are; after an undo's
failure, stop its restore jobs and report whether one is still in flight."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from lifecycle_guard import steps
from lifecycle_guard.contracts import ProgressEvent
from lifecycle_guard.runtime import Services, Settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()
services = Services(Settings.from_environment(require=["job_queue_url", "dead_letter_queue_url", "poll_seconds"]))
STEPS = {"dispatch": steps.dispatch, "poll": steps.poll, "stop": steps.stop}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=ProgressEvent)
def lambda_handler(event: ProgressEvent, context: LambdaContext) -> dict[str, Any]:
    run = steps.load_run(services.store, event.execution)
    status = STEPS[event.step](run, services)
    metrics.add_metric(
        name="FixJobsOpen", unit=MetricUnit.Count, value=status.jobs_total - status.jobs_done - status.jobs_failed
    )
    logger.info("fix jobs", step=event.step, **status.model_dump())
    return status.model_dump(mode="json")
