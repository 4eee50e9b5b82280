"""Shared by the state machine tests: the small portal, the fast run settings, and readers of an execution."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC
from typing import Any

from hubspot_sandbox import Portal, PortalSpec, Sandbox, SandboxSettings, generate_portal
from lifecycle_guard_offline import ExecutionResult, OfflineApp
from lifecycle_guard_offline.iam_enforcement import EvaluatedCall
from lifecycle_guard_offline.iam_policy import Decision

# A few hundred contacts: every seed rule fires, and each object type has forward and backward moves.
SPEC = PortalSpec(contacts=300, companies=30, seed=3)
# The fast settings of these tests: one process holds the whole budget (1000 requests per 10 s, search at HubSpot's
# 5 per second), the live prevention test waits 1 s (the sandbox's workflows act after 0.2 s), after-counts settle
# in 2 s (the sandbox has no search index lag unless told to), and fix jobs of 100 changes, so a few hundred changes
# make several jobs.
FAST_CONFIG: dict[str, Any] = {
    "budget": {"requests_per_10s": 1000, "search_requests_per_second": 5},
    "verification": {"live_test_wait_seconds": 1, "settle_seconds": 2},
    "fix": {"job_size": 100},
}
FAST_PARAMETERS = {"ProgressPollSeconds": "1"}
RUN_TIMEOUT_SECONDS = 150
APPLY = {"action": "run", "mode": "apply", "source": "console"}
DRY_RUN = {"action": "run", "mode": "dry-run", "source": "console"}

# Step Functions' hard limits.
PAYLOAD_LIMIT_BYTES = 256 * 1024
HISTORY_LIMIT_EVENTS = 25_000


def fresh_portal(spec: PortalSpec = SPEC) -> Portal:
    return generate_portal(spec)


@contextmanager
def running_sandbox(portal: Portal, **settings: Any) -> Iterator[Sandbox]:
    """A sandbox serving ``portal``; workflows act 0.2 s after enrollment unless ``settings`` say otherwise."""
    with Sandbox(portal, SandboxSettings(**{"workflow_delay_seconds": 0.2, **settings})) as sandbox:
        yield sandbox


@contextmanager
def deployed_app(sandbox: Sandbox, *, token: str | None = None, **options: Any) -> Iterator[OfflineApp]:
    """template.yaml deployed into moto and aimed at ``sandbox``, with the fast config and a 1 s progress poll."""
    options.setdefault("guard_config", FAST_CONFIG)
    options["parameters"] = {**FAST_PARAMETERS, **options.get("parameters", {})}
    with OfflineApp(hubspot_token=token or sandbox.token, hubspot_base_url=sandbox.url, **options) as app:
        yield app


def wait_for(condition: Callable[[], Any], timeout_seconds: float = 15.0) -> Any:
    """Poll until ``condition()`` is truthy; return that value (fail the test after ``timeout_seconds``)."""
    deadline = time.monotonic() + timeout_seconds
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_seconds} s")
        time.sleep(0.05)
    return value


# ---------------------------------------------------------------- reading an execution


def execution_name(result: ExecutionResult) -> str:
    return result.arn.rsplit(":", 1)[-1]


def execution_day(app: OfflineApp, result: ExecutionResult) -> str:
    """``YYYY/MM/DD`` of the execution's start in UTC: what the run's S3 prefix is partitioned by."""
    started = app.client("stepfunctions").describe_execution(executionArn=result.arn)["startDate"]
    return str(started.astimezone(UTC).strftime("%Y/%m/%d"))


def run_prefix(app: OfflineApp, result: ExecutionResult) -> str:
    return f"runs/{execution_day(app, result)}/{execution_name(result)}/"


def state_payloads(history: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """(event type, bytes) of every input and output the execution, a state or a task carried."""
    sizes = []
    for event in history:
        for key, details in event.items():
            if key.endswith("EventDetails") and isinstance(details, Mapping):
                for field in ("input", "output"):
                    if isinstance(details.get(field), str):
                        sizes.append((event["type"], len(details[field].encode())))
    return sizes


def state_visits(history: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """(state name, events) for each time a state was entered: its own events and those of its task, up to the
    next state's entry. ExecutionStarted and the final execution event belong to no visit."""
    visits: list[tuple[str, int]] = []
    for event in history:
        if event["type"].endswith("StateEntered"):
            visits.append((event["stateEnteredEventDetails"]["name"], 1))
        elif visits and not event["type"].startswith("Execution"):
            name, count = visits[-1]
            visits[-1] = (name, count + 1)
    return visits


def report_of(app: OfflineApp, result: ExecutionResult) -> dict[str, Any]:
    """The run's report.json, found under ``runs/`` by the execution's name."""
    name = execution_name(result)
    keys = [key for key in app.list_keys("runs/") if key.endswith(f"/{name}/report.json")]
    assert len(keys) == 1, f"expected one report for {name}, found {keys}"
    report: dict[str, Any] = app.read_json(keys[0])
    return report


def compact_json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode())


# ---------------------------------------------------------------- what IAM authorised (OfflineApp enforces it)

# The kinds of AWS calls (IAM actions) each principal must have made, and been allowed, in a run. Secrets Manager
# reads are left out: each function caches the token for five minutes (Powertools), so only a function's first run
# of a deployment reads it; `assert_each_function_read_the_token` checks those reads across the deployment.
STATE_MACHINE_ACTIONS = {"LifecycleGuardStateMachine": {"lambda:InvokeFunction"}}
BEGIN_AND_PLAN_ACTIONS = {
    "AuditPlanFunction": {"dynamodb:PutItem", "dynamodb:UpdateItem", "s3:PutObject", "s3:ListBucket"}
}
REPORT_ACTIONS = {
    "ReportFunction": {
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
    }
}
DRY_RUN_ACTIONS = {
    **STATE_MACHINE_ACTIONS,
    **BEGIN_AND_PLAN_ACTIONS,
    "ProgressFunction": {"s3:ListBucket", "s3:GetObject", "s3:PutObject"},
    "PreventionFunction": {"dynamodb:UpdateItem"},
    "VerifyFunction": {"dynamodb:UpdateItem"},
    **REPORT_ACTIONS,
}
APPLY_ACTIONS = {
    **DRY_RUN_ACTIONS,
    # Plan hands the fix jobs to the workers as it cuts them (Dispatch only sends what is left: here nothing).
    "AuditPlanFunction": BEGIN_AND_PLAN_ACTIONS["AuditPlanFunction"] | {"sqs:SendMessage"},
    "ProgressFunction": {
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
        "sqs:ReceiveMessage",
        "dynamodb:GetItem",
    },
    "FixWorkerFunction": {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
    },
    "VerifyFunction": {"dynamodb:GetItem", "dynamodb:UpdateItem", "s3:ListBucket", "s3:GetObject"},
}
TOKEN_READERS = {"AuditPlanFunction", "FixWorkerFunction", "PreventionFunction", "VerifyFunction"}


@contextmanager
def authorisations(app: OfflineApp) -> Iterator[list[EvaluatedCall]]:
    """The list fills, when the block ends, with every authorisation IAM made while it ran."""
    made: list[EvaluatedCall] = []
    start = len(app.iam.calls)
    yield made
    made.extend(app.iam.calls[start:])


def actions_by_principal(calls: list[EvaluatedCall]) -> dict[str, set[str]]:
    actions: dict[str, set[str]] = {}
    for call in calls:
        actions.setdefault(call.principal, set()).add(call.action)
    return actions


def assert_every_call_was_allowed(calls: list[EvaluatedCall], expected: Mapping[str, set[str]]) -> None:
    """No call was denied, and each principal made (at least) the kinds of calls ``expected`` lists for it."""
    denied = [call for call in calls if call.decision is not Decision.ALLOWED]
    assert denied == [], denied
    made = actions_by_principal(calls)
    missing = {name: actions - made.get(name, set()) for name, actions in expected.items()}
    missing = {name: actions for name, actions in missing.items() if actions}
    assert missing == {}, missing


def assert_each_function_read_the_token(app: OfflineApp, readers: set[str] = TOKEN_READERS) -> None:
    """Each of ``readers`` read the HubSpot token secret, by its ARN, at least once since the app was deployed."""
    secret_arn = app.client("lambda").get_function_configuration(FunctionName=app.stack.physical_ids["VerifyFunction"])[
        "Environment"
    ]["Variables"]["HUBSPOT_TOKEN_SECRET_ARN"]
    reads = {
        call.principal
        for call in app.iam.calls
        if call.action == "secretsmanager:GetSecretValue" and call.resource == secret_arn
    }
    assert reads >= readers
