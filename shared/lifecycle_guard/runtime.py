"""Wiring for the Lambdas: settings from the environment, AWS clients, the HubSpot token, and gateways.

The token is read from Secrets Manager (Powertools Parameters, cached five minutes) by the ARN in
``HUBSPOT_TOKEN_SECRET_ARN``; the token itself is never in an environment variable, a log line or a payload.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import boto3
from aws_lambda_powertools.utilities import parameters

from lifecycle_guard.config import GuardConfig
from lifecycle_guard.gateway import DEFAULT_BASE_URL, HubSpotGateway
from lifecycle_guard.runs import RunTracker
from lifecycle_guard.storage import S3Store
from lifecycle_guard.usage import ApiUsage

SECRET_MAX_AGE_SECONDS = 300


@dataclass(frozen=True)
class Settings:
    bucket: str
    table: str
    base_url: str
    token_secret_arn: str
    tier_requests_per_10s: int
    budget_percent: int
    fix_workers: int
    deployed_config: str
    job_queue_url: str
    dead_letter_queue_url: str
    job_max_receives: int
    poll_seconds: int

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            bucket=env.get("BUCKET_NAME", ""),
            table=env.get("TABLE_NAME", ""),
            base_url=env.get("HUBSPOT_BASE_URL", DEFAULT_BASE_URL),
            token_secret_arn=env.get("HUBSPOT_TOKEN_SECRET_ARN", ""),
            tier_requests_per_10s=int(env.get("API_REQUESTS_PER_10S", "100")),
            budget_percent=int(env.get("API_BUDGET_PERCENT", "50")),
            fix_workers=max(1, int(env.get("FIX_WORKERS", "2"))),
            deployed_config=env.get("GUARD_CONFIG", "{}") or "{}",
            job_queue_url=env.get("FIX_JOB_QUEUE_URL", ""),
            dead_letter_queue_url=env.get("FIX_JOB_DLQ_URL", ""),
            job_max_receives=int(env.get("FIX_JOB_MAX_RECEIVES", "3")),
            poll_seconds=int(env.get("PROGRESS_POLL_SECONDS", "30")),
        )


def token_from_secret(secret: str) -> str:
    """A secret holds the token as a plain string or as ``{"token": "..."}``."""
    try:
        value = json.loads(secret)
    except ValueError:
        return secret.strip()
    if isinstance(value, dict) and isinstance(value.get("token"), str):
        return str(value["token"]).strip()
    return secret.strip()


@dataclass
class Services:
    """What a step needs from the outside world; built once per Lambda container."""

    settings: Settings
    s3: Any = None
    dynamodb: Any = None
    sqs: Any = None
    stepfunctions: Any = None
    usages: list[ApiUsage] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.s3 = self.s3 or boto3.client("s3")
        self.dynamodb = self.dynamodb or boto3.client("dynamodb")
        self.sqs = self.sqs or boto3.client("sqs")
        self.stepfunctions = self.stepfunctions or boto3.client("stepfunctions")
        self.store = S3Store(self.s3, self.settings.bucket)
        self.tracker = RunTracker(self.dynamodb, self.settings.table)

    def execution_running(self, execution_arn: str) -> bool:
        """Whether a Step Functions execution is still running (False if it no longer exists)."""
        try:
            status = self.stepfunctions.describe_execution(executionArn=execution_arn)["status"]
        except (self.stepfunctions.exceptions.ExecutionDoesNotExist, self.stepfunctions.exceptions.InvalidArn):
            return False
        return bool(status == "RUNNING")

    def token(self) -> str:
        secret = parameters.get_secret(self.settings.token_secret_arn, max_age=SECRET_MAX_AGE_SECONDS)
        return token_from_secret(str(secret))

    def requests_per_10s(self, config: GuardConfig, *, worker: bool) -> int:
        """This process's share of the burst budget: the whole run's budget, split across concurrent workers."""
        budget = config.budget
        total = budget.requests_per_10s or self.settings.tier_requests_per_10s * self.settings.budget_percent // 100
        share = budget.worker_share if budget.worker_share is not None else 1 / self.settings.fix_workers
        return max(1, int(total * share)) if worker else max(1, total)

    def gateway(self, config: GuardConfig, *, worker: bool = False) -> HubSpotGateway:
        usage = ApiUsage()
        self.usages.append(usage)
        return HubSpotGateway(
            self.token(),
            base_url=self.settings.base_url,
            requests_per_10s=self.requests_per_10s(config, worker=worker),
            search_per_second=config.budget.search_requests_per_second,
            max_attempts=config.budget.max_attempts,
            daily_watermark=config.budget.daily_watermark,
            usage=usage,
        )

    def flush_usage(self, run_id: str) -> None:
        """Add the API calls this invocation made to the run's counters."""
        total = ApiUsage()
        for usage in self.usages:
            total.merge(usage)
        self.usages.clear()
        if total.total_calls:
            self.tracker.add_usage(run_id, total)
