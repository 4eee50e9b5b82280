"""Apply fix jobs from SQS: partial batch failures, and idempotency on the job so a duplicate writes nothing."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Json

from lifecycle_guard import steps
from lifecycle_guard.queue import FixJobMessage
from lifecycle_guard.runtime import Services, Settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()
services = Services(Settings.from_environment(require=["job_max_receives"]))
idempotency = IdempotencyConfig(event_key_jmespath="[run_id, job_id]", expires_after_seconds=7 * 86400)
persistence = DynamoDBPersistenceLayer(table_name=services.settings.table, expiry_attr="expiration")


class FixJobRecord(SqsRecordModel):
    body: Json[FixJobMessage]


processor = BatchProcessor(event_type=EventType.SQS, model=FixJobRecord)


@idempotent_function(  # type: ignore[untyped-decorator]  # Powertools ships this decorator untyped
    data_keyword_argument="message", config=idempotency, persistence_store=persistence
)
def apply_job(message: FixJobMessage, receive_count: int) -> dict[str, Any]:
    return steps.fix_job(message, receive_count, services)


def record_handler(record: FixJobRecord) -> dict[str, Any]:
    result: dict[str, Any] = apply_job(
        message=record.body, receive_count=int(record.attributes.ApproximateReceiveCount)
    )
    logger.info("fix job settled", **result)
    metrics.add_metric(name="ChangesApplied", unit=MetricUnit.Count, value=result.get("applied", 0))
    return result


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    idempotency.register_lambda_context(context)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
