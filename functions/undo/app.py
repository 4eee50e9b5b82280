"""Restore an earlier run's before-values from its journal, a chunk at a time."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from lifecycle_guard import steps
from lifecycle_guard.contracts import UndoEvent
from lifecycle_guard.runtime import Services, Settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()
services = Services(Settings.from_environment())


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=UndoEvent)
def lambda_handler(event: UndoEvent, context: LambdaContext) -> dict[str, Any]:
    run = steps.load_run(services.store, event.execution)
    cursor = steps.undo(run, event.cursor, services, context.get_remaining_time_in_millis())
    metrics.add_metric(name="RecordsRestored", unit=MetricUnit.Count, value=sum(cursor.restored.values()))
    logger.info("undo progress", **cursor.model_dump())
    return cursor.model_dump(mode="json")
