"""Wiring for the Lambdas: settings from the environment, the adapters steps use, and HubSpot gateways.

Settings are validated when a handler module loads (a cold start), so a function deployed without a variable it
needs fails at once with the variable's name, not half-way through a run. The token is read from Secrets Manager
(Powertools Parameters, cached five minutes) by the ARN in ``HUBSPOT_TOKEN_SECRET_ARN``; the token itself is never
in an environment variable, a log line or a payload.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from typing import Any

import boto3
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lifecycle_guard.budget import SlidingWindowPacer
from lifecycle_guard.config import GuardConfig
from lifecycle_guard.gateway import DEFAULT_BASE_URL, HubSpotGateway, portal_key
from lifecycle_guard.gateway.transport import TEN_SECOND_WINDOW
from lifecycle_guard.overrides import BudgetBounds
from lifecycle_guard.queue import JobQueue
from lifecycle_guard.shared_budget import DynamoDbRateGate
from lifecycle_guard.storage import S3Store
from lifecycle_guard.tracker import RunTracker

SECRET_MAX_AGE_SECONDS = 300
_LOOPBACK = re.compile(r"^http://(127\.0\.0\.1|localhost)(:\d+)?(/.*)?$")


class SettingsError(RuntimeError):
    """The function's environment lacks a variable it needs, or holds an invalid one."""


class Settings(BaseModel):
    """The environment template.yaml gives the functions (Globals, plus each function's own variables)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    bucket: str = Field(alias="BUCKET_NAME", min_length=1)
    table: str = Field(alias="TABLE_NAME", min_length=1)
    token_secret_arn: str = Field(alias="HUBSPOT_TOKEN_SECRET_ARN", min_length=1)
    base_url: str = Field(default=DEFAULT_BASE_URL, alias="HUBSPOT_BASE_URL", min_length=1)
    tier_requests_per_10s: int = Field(alias="API_REQUESTS_PER_10S", ge=1)
    budget_percent: int = Field(alias="API_BUDGET_PERCENT", ge=1, le=100)
    # Only some functions have these (template.yaml); a handler names the ones it needs in ``require``.
    deployed_config: str | None = Field(default=None, alias="GUARD_CONFIG")
    job_queue_url: str | None = Field(default=None, alias="FIX_JOB_QUEUE_URL")
    dead_letter_queue_url: str | None = Field(default=None, alias="FIX_JOB_DLQ_URL")
    job_max_receives: int | None = Field(default=None, alias="FIX_JOB_MAX_RECEIVES", ge=1)
    poll_seconds: int | None = Field(default=None, alias="PROGRESS_POLL_SECONDS", ge=1)

    @field_validator("base_url")
    @classmethod
    def _https(cls, url: str) -> str:
        """HubSpot over TLS only: the token travels in every request. Plain HTTP only to this machine's own
        loopback, where the offline harness serves the HubSpot sandbox."""
        if url.startswith("https://") or _LOOPBACK.match(url):
            return url
        raise ValueError(f"HUBSPOT_BASE_URL must be an https:// URL, not {url!r}")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None, *, require: Iterable[str] = ()) -> Settings:
        env = dict(os.environ if environ is None else environ)
        try:
            settings = cls.model_validate(env)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise SettingsError(f"this function's environment is incomplete: {problems}") from exc
        for name in require:
            settings._needed(name)
        return settings

    @property
    def deployed_json(self) -> str:
        """The deployed config (``GUARD_CONFIG``), as JSON."""
        return str(self._needed("deployed_config"))

    @property
    def poll_minimum_seconds(self) -> int:
        return int(self._needed("poll_seconds"))

    @property
    def max_receives(self) -> int:
        return int(self._needed("job_max_receives"))

    def _needed(self, name: str) -> Any:
        value = getattr(self, name)
        if value is None:
            raise SettingsError(f"this function's environment lacks {type(self).model_fields[name].alias}")
        return value


def token_from_secret(secret: str) -> str:
    """A secret holds the token as a plain string or as ``{"token": "..."}``."""
    try:
        value = json.loads(secret)
    except ValueError:
        return secret.strip()
    if isinstance(value, dict) and isinstance(value.get("token"), str):
        return str(value["token"]).strip()
    return secret.strip()


class Services:
    """The adapters a step uses, built once per Lambda container from its settings."""

    def __init__(self, settings: Settings, *, session: boto3.session.Session | None = None) -> None:
        self.settings = settings
        self._session = session or boto3.session.Session()
        self.store = S3Store(self._session.client("s3"), settings.bucket)
        # The container's own secret cache (Powertools Parameters), read through this session's client.
        self._secrets = SecretsProvider(boto3_client=self._session.client("secretsmanager"))
        self._dynamodb = self._session.client("dynamodb")
        self.tracker = RunTracker(self._dynamodb, settings.table)
        # Kept for the container's life, as the budget's state must be: a warm container's next invocation goes on
        # from where the last one left the schedule.
        self._burst_gates: dict[tuple[str, int], DynamoDbRateGate] = {}
        self._search_gates: dict[tuple[str, int], SlidingWindowPacer] = {}

    @cached_property
    def queue(self) -> JobQueue:
        url = self.settings.job_queue_url
        if not url:
            raise SettingsError("this function has no fix-job queue (FIX_JOB_QUEUE_URL)")
        return JobQueue(self._session.client("sqs"), url, self.settings.dead_letter_queue_url)

    @cached_property
    def _stepfunctions(self) -> Any:
        return self._session.client("stepfunctions")

    def execution_running(self, execution_arn: str) -> bool:
        """Whether a Step Functions execution is still running (False if it no longer exists)."""
        client = self._stepfunctions
        try:
            status = client.describe_execution(executionArn=execution_arn)["status"]
        except (client.exceptions.ExecutionDoesNotExist, client.exceptions.InvalidArn):
            return False
        return bool(status == "RUNNING")

    def execution_stopped(self, execution_arn: str) -> bool:
        """Whether a Step Functions execution has ended (stopped from the console, failed, timed out); an execution
        Step Functions does not know is not taken for stopped."""
        client = self._stepfunctions
        try:
            status = client.describe_execution(executionArn=execution_arn)["status"]
        except (client.exceptions.ExecutionDoesNotExist, client.exceptions.InvalidArn):
            return False
        return bool(status != "RUNNING")

    def budget_bounds(self) -> BudgetBounds:
        settings = self.settings
        return BudgetBounds(
            tier_requests_per_10s=settings.tier_requests_per_10s,
            default_requests_per_10s=settings.tier_requests_per_10s * settings.budget_percent // 100,
        )

    def requests_per_10s(self, config: GuardConfig) -> int:
        """The run's burst budget, which all its processes (the planner and every fix worker) share."""
        return max(1, config.budget.requests_per_10s or self.budget_bounds().default_requests_per_10s)

    @contextmanager
    def hubspot(self, run_id: str, config: GuardConfig) -> Iterator[HubSpotGateway]:
        """A gateway for one step of ``run_id``; the API calls it made are added to the run's counters on the
        way out, whether the step succeeded or not (a failed step's calls count against the budget too).

        The burst budget is one DynamoDB rate gate per portal (``shared_budget``) that every concurrent process
        draws from. Search keeps a pacer per process: one step searches at a time (the state machine runs the
        searching steps one after another, and fix workers never search)."""
        secret = self._secrets.get(self.settings.token_secret_arn, max_age=SECRET_MAX_AGE_SECONDS)
        token = token_from_secret(str(secret))
        key = portal_key(self.settings.base_url, token)
        budget = config.budget
        burst = self.requests_per_10s(config)
        search = max(1, int(budget.search_requests_per_second))
        burst_gate = self._burst_gates.get((key, burst))
        if burst_gate is None:
            burst_gate = DynamoDbRateGate(self._dynamodb, self.settings.table, key, burst, TEN_SECOND_WINDOW)
            self._burst_gates[(key, burst)] = burst_gate
        search_gate = self._search_gates.setdefault((key, search), SlidingWindowPacer(search, 1.0))
        gateway = HubSpotGateway(
            token,
            base_url=self.settings.base_url,
            max_attempts=budget.max_attempts,
            daily_watermark=budget.daily_watermark,
            burst_exemptions=budget.burst_exemptions,
            burst_gate=burst_gate,
            search_gate=search_gate,
        )
        try:
            yield gateway
        finally:
            if gateway.usage.total_calls:
                self.tracker.add_usage(run_id, gateway.usage)
