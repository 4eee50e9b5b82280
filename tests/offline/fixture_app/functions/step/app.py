"""Fixture handler: records that it ran (an S3 object and a DynamoDB item) and returns what it saw of its runtime."""

import json
import os
import time
import uuid

import boto3

# Module-level clients and environment reads, as the real handlers have them: created at first invocation.
s3 = boto3.client("s3")
table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])
SEEN_VARIABLES = (
    "BUCKET_NAME",
    "TABLE_NAME",
    "HUBSPOT_TOKEN_SECRET_ARN",
    "FIX_WORKERS",
    "STEP_GREETING",
    "AWS_LAMBDA_FUNCTION_NAME",
)
CONTAINER = uuid.uuid4().hex  # this import's: tells one container from another


class FlakyError(Exception):
    pass


def lambda_handler(event, context):
    remaining_at_start = context.get_remaining_time_in_millis()
    if event["input"].get("raise") == "FlakyError":
        raise FlakyError("the step failed on purpose")
    held_from = time.time()
    time.sleep(event["input"].get("hold", 0.05))  # a long hold overlaps other invocations
    held = [held_from, time.time()]
    s3.put_object(Bucket=os.environ["BUCKET_NAME"], Key=f"steps/{event['execution']}.json", Body=json.dumps(event))
    table.put_item(Item={"id": f"step#{event['execution']}", "function_name": context.function_name})
    return {
        "environment": {name: os.environ.get(name) for name in SEEN_VARIABLES},
        "context": {
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
        },
        "remaining_millis": [remaining_at_start, context.get_remaining_time_in_millis()],
        "container": CONTAINER,
        "held": held,
    }
