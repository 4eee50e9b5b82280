"""Write the run's report (JSON + HTML), journal and plan to S3 and return the run summary."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from lifecycle_guard import steps
from lifecycle_guard.contracts import ReportEvent
from lifecycle_guard.runtime import Services, Settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()
services = Services(Settings.from_environment())


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=ReportEvent)
def lambda_handler(event: ReportEvent, context: LambdaContext) -> dict[str, Any]:
    summary = steps.report(event.execution, event.state, services)
    metrics.add_metric(name="RunSucceeded", unit=MetricUnit.Count, value=int(summary.outcome == "succeeded"))
    # Drift: records fixed beyond the last successful run of the same mode (0 when fewer); the DriftAlarm watches it.
    metrics.add_metric(name="DriftRecords", unit=MetricUnit.Count, value=summary.drift_records)
    logger.info("run reported", outcome=summary.outcome, files=summary.files)
    return summary.model_dump(mode="json")
