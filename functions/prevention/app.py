"""Ensure the prevention workflows exist in HubSpot, idempotently by name; for an undo, switch them off while it
restores and back on after."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from lifecycle_guard import steps
from lifecycle_guard.contracts import PreventionEvent
from lifecycle_guard.runtime import Services, Settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()
services = Services(Settings.from_environment())


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=PreventionEvent)
def lambda_handler(event: PreventionEvent, context: LambdaContext) -> dict[str, Any]:
    run = steps.load_run(services.store, event.execution)
    if event.step == "pause":
        paused = steps.pause_prevention(run, services)
        logger.info("prevention workflows switched off", flow_ids=paused.flow_ids, taken_over=paused.taken_over)
        return paused.model_dump(mode="json")
    if event.step == "resume":
        resumed = steps.resume_prevention(run, services)
        logger.info("prevention workflows switched back on", flow_ids=resumed.flow_ids)
        return resumed.model_dump(mode="json")
    outcome = steps.prevent(run, services)
    metrics.add_metric(name="PreventionFailed", unit=MetricUnit.Count, value=int(outcome.status == "failed"))
    logger.info("prevention workflows", status=outcome.status, flows=[f.action for f in outcome.flows])
    return outcome.model_dump(mode="json")
