"""Decide what to restore of an earlier run, from its journal, a chunk at a time, handing the restores to the fix
workers as they are cut; then read the restores back."""

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from lifecycle_guard import steps
from lifecycle_guard.contracts import CheckRestoresEvent, UndoEvent
from lifecycle_guard.runtime import Services, Settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()
services = Services(Settings.from_environment(require=["job_queue_url"]))

Event = Annotated[UndoEvent | CheckRestoresEvent, Field(discriminator="step")]


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=Event)
def lambda_handler(event: UndoEvent | CheckRestoresEvent, context: LambdaContext) -> dict[str, Any]:
    run = steps.load_run(services.store, event.execution)
    if isinstance(event, CheckRestoresEvent):
        check = steps.check_restores(run, services, context.get_remaining_time_in_millis())
        metrics.add_metric(name="RestoresNotHeld", unit=MetricUnit.Count, value=check.checked - check.held)
        logger.info("restores read back", **check.model_dump(exclude={"examples", "after"}))
        return check.model_dump(mode="json")
    cursor = steps.undo(run, event.execution, services, context.get_remaining_time_in_millis())
    metrics.add_metric(name="UndoChunks", unit=MetricUnit.Count, value=1)
    logger.info("undo decided", **cursor.model_dump())
    return cursor.model_dump(mode="json")
