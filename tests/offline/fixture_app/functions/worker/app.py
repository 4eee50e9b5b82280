"""Fixture SQS worker: records each delivery in DynamoDB and reports the jobs marked "fail" as batch item failures."""

import json
import os

import boto3


def lambda_handler(event, context):
    table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])
    failures = []
    for record in event["Records"]:
        job = json.loads(record["body"])
        receive_count = record["attributes"]["ApproximateReceiveCount"]
        table.put_item(
            Item={"id": f"delivery#{job['id']}#{receive_count}", "job": job["id"], "batch_size": len(event["Records"])}
        )
        if job.get("fail"):
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
