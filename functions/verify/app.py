"""Start the live prevention test, check on it until the workflows acted, then verify after-counts, spot checks
and the test."""

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from lifecycle_guard import steps
from lifecycle_guard.contracts import CheckProbeEvent, StartProbeEvent, VerifyEvent
from lifecycle_guard.runtime import Services, Settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()
services = Services(Settings.from_environment())

Event = Annotated[StartProbeEvent | CheckProbeEvent | VerifyEvent, Field(discriminator="step")]


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=Event)
def lambda_handler(event: StartProbeEvent | CheckProbeEvent | VerifyEvent, context: LambdaContext) -> dict[str, Any]:
    run = steps.load_run(services.store, event.execution)
    if isinstance(event, StartProbeEvent):
        probe = steps.start_probe(run, event.prevention, services)
        metrics.add_metric(name="PreventionProbes", unit=MetricUnit.Count, value=len(probe.probes))
        return probe.model_dump(mode="json")
    if isinstance(event, CheckProbeEvent):
        return steps.check_probe(run, event.probe, services).model_dump(mode="json")
    verification = steps.verify(run, event.probe, event.prevention, services)
    failed = [check.name for check in verification.checks if check.status == "FAIL"]
    metrics.add_metric(name="ChecksFailed", unit=MetricUnit.Count, value=len(failed))
    logger.info("verified", failed_checks=failed)
    return verification.model_dump(mode="json")
