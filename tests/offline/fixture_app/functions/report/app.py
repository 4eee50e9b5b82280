"""Fixture handler: writes the failure a Catch handed over to S3."""

import json
import os

import boto3


def lambda_handler(event, context):
    key = f"failures/{event['execution']}.json"
    boto3.client("s3").put_object(Bucket=os.environ["BUCKET_NAME"], Key=key, Body=json.dumps(event["failure"]))
    return {"key": key}
