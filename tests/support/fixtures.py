"""Fixtures shared by the functional and fault suites: AWS on moto, the sandbox over HTTP, and Services wired to both;
and, for every suite, moto's CloudFormation parser kept quiet.

Registered for every test by ``tests/conftest.py`` (``pytest_plugins``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hubspot_sandbox import Portal, PortalSpec, Sandbox, SandboxSettings, generate_portal
from lifecycle_guard.runtime import Services, Settings

BUCKET = "lifecycle-guard-test-reports"
TABLE = "lifecycle-guard-test-runs"
MAX_RECEIVES = 3


@pytest.fixture(autouse=True, scope="session")
def _quiet_moto_parsing() -> None:
    # moto names each resource type its CloudFormation skips (alarms, policies, the schedule) at every deploy; no
    # test looks at those lines. Only that logger is raised to ERROR: moto's other logs are left as they are.
    logging.getLogger("moto.cloudformation.parsing").setLevel(logging.ERROR)


@dataclass
class Aws:
    s3: Any
    dynamodb: Any
    sqs: Any
    queue_url: str
    dlq_url: str
    secret_arn: str


@pytest.fixture
def aws() -> Iterator[Aws]:
    """A bucket, the run table, the job queue with its dead-letter queue, and a token secret, on moto."""
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        sqs = boto3.client("sqs")
        dlq_url = sqs.create_queue(QueueName="fix-jobs-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queue_url = sqs.create_queue(
            QueueName="fix-jobs",
            Attributes={
                "VisibilityTimeout": "0",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)}),
            },
        )["QueueUrl"]
        secret_arn = boto3.client("secretsmanager").create_secret(Name="hubspot-token", SecretString="{}")["ARN"]
        yield Aws(s3, dynamodb, sqs, queue_url, dlq_url, secret_arn)


@pytest.fixture
def start_sandbox() -> Iterator[Callable[..., Sandbox]]:
    """start_sandbox(portal_or_spec, **settings): a running sandbox, stopped after the test."""
    started: list[Sandbox] = []

    def start(portal: Portal | PortalSpec, **settings: Any) -> Sandbox:
        if isinstance(portal, PortalSpec):
            portal = generate_portal(portal)
        sandbox = Sandbox(portal, SandboxSettings(**{"workflow_delay_seconds": 0.2, **settings})).start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def make_services(aws: Aws) -> Callable[..., Services]:
    """make_services(sandbox, token=None, config=None): Services wired to moto and to the sandbox's URL, with
    ``config`` as the deployed config. One worker holds the whole (generous) budget: the sandbox's own limits,
    when a test sets them, are what throttles."""

    def make(sandbox: Sandbox, token: str | None = None, config: dict[str, Any] | None = None) -> Services:
        boto3.client("secretsmanager").put_secret_value(
            SecretId=aws.secret_arn, SecretString=json.dumps({"token": token or sandbox.token})
        )
        settings = Settings(
            bucket=BUCKET,
            table=TABLE,
            base_url=sandbox.url,
            token_secret_arn=aws.secret_arn,
            tier_requests_per_10s=10_000,
            budget_percent=100,
            deployed_config=json.dumps(config or {}),
            job_queue_url=aws.queue_url,
            dead_letter_queue_url=aws.dlq_url,
            job_max_receives=MAX_RECEIVES,
            poll_seconds=1,
        )
        return Services(settings)

    return make
