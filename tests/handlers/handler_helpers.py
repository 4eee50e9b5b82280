"""Shared by the handler tests: the deployed app in front of a sandbox, invoking a function as Lambda does, and
capturing what a function writes to stdout/stderr (what Lambda ships to CloudWatch Logs)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from support.functions import import_function

from hubspot_sandbox import ALL_SCOPES, PortalSpec, Sandbox, SandboxSettings, generate_portal
from lifecycle_guard.queue import FixJobMessage
from lifecycle_guard_offline import LambdaContext, OfflineApp
from lifecycle_guard_offline.environment import patched_environ

# Small, yet every rule fires and each object type has forward and backward moves.
SPEC = PortalSpec(contacts=150, companies=20, seed=7)
# A private-app token only this sandbox knows; distinctive, so a scan of the logs cannot miss it.
TOKEN = "pat-na1-7f3c2a91-4be8-4d1e-9c55-handlersecret"
CONFIG: dict[str, Any] = {
    "budget": {"requests_per_10s": 1000, "search_requests_per_second": 5},
    "verification": {"live_test_wait_seconds": 1, "settle_seconds": 2},
    "fix": {"job_size": 100},
}
SERVICE = "lifecycle-guard"  # POWERTOOLS_SERVICE_NAME in template.yaml: the Powertools logger's name


@dataclass(frozen=True)
class Stack:
    app: OfflineApp
    sandbox: Sandbox


@contextlib.contextmanager
def running_stack(
    spec: PortalSpec = SPEC, config: dict[str, dict[str, Any]] | None = None, **app_options: Any
) -> Iterator[Stack]:
    """A sandbox knowing only ``TOKEN``, and template.yaml deployed into moto with ``TOKEN`` in its secret and
    ``CONFIG`` (with ``config``'s sections merged in) as its deployed config."""
    settings = SandboxSettings(workflow_delay_seconds=0.2, tokens={TOKEN: ALL_SCOPES})
    app_options["parameters"] = {"ProgressPollSeconds": "1", **app_options.get("parameters", {})}
    guard_config = {section: {**CONFIG.get(section, {}), **values} for section, values in (config or {}).items()}
    with (
        Sandbox(generate_portal(spec), settings) as sandbox,
        OfflineApp(
            hubspot_token=TOKEN, hubspot_base_url=sandbox.url, guard_config={**CONFIG, **guard_config}, **app_options
        ) as app,
    ):
        yield Stack(app, sandbox)


# ---------------------------------------------------------------- what a function writes


@dataclass
class Captured:
    text: str = ""

    def json_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.text.splitlines():
            with contextlib.suppress(ValueError):
                value = json.loads(line)
                if isinstance(value, dict):
                    lines.append(value)
        return lines

    def metrics(self) -> list[dict[str, Any]]:
        """The Embedded Metric Format documents written."""
        return [line for line in self.json_lines() if "_aws" in line]

    def log_records(self) -> list[dict[str, Any]]:
        return [line for line in self.json_lines() if "_aws" not in line and "message" in line]


@contextlib.contextmanager
def captured_output() -> Iterator[Captured]:
    """Everything written to stdout and stderr meanwhile, including the Powertools logger's stream.

    The logger binds the stream it writes to when the first handler module creates it (``Logger()`` at import),
    so redirecting ``sys.stdout`` alone would miss it once it exists: its handlers are pointed here as well.
    """
    buffer = io.StringIO()
    handlers = [
        handler
        for handler in logging.getLogger(SERVICE).handlers
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler)
    ]
    # Not setStream(): it flushes the old stream, which an earlier test's capture may have closed.
    previous = [handler.stream for handler in handlers]
    for handler in handlers:
        handler.stream = buffer
    captured = Captured()
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            yield captured
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            handler.stream = stream
        captured.text = buffer.getvalue()


# ---------------------------------------------------------------- invoking


@dataclass(frozen=True)
class Invocation:
    payload: Any  # the function's response (the error document when it failed)
    error_type: str | None
    error_message: str | None
    output: Captured

    @property
    def failed(self) -> bool:
        return self.error_type is not None


def invoke(app: OfflineApp, logical_id: str, event: Any, *, capture: bool = True) -> Invocation:
    """Invoke a function of the stack through the Lambda API (as Step Functions and the SQS event source do);
    ``capture=False`` leaves its output to an enclosing ``captured_output()``."""
    with captured_output() if capture else contextlib.nullcontext(Captured()) as output:
        response = app.client("lambda").invoke(
            FunctionName=app.stack.physical_ids[logical_id], Payload=json.dumps(event).encode()
        )
    payload = json.loads(response["Payload"].read() or b"null")
    if "FunctionError" in response:
        return Invocation(payload, payload["errorType"], payload["errorMessage"], output)
    return Invocation(payload, None, None, output)


def succeeded(invocation: Invocation) -> Any:
    assert not invocation.failed, f"{invocation.error_type}: {invocation.error_message}"
    return invocation.payload


class LoadedFunction:
    """A function's app.py imported afresh in this process, with the function's deployed environment (plus
    ``overrides``), and invoked with a Lambda context - for tests that must not share the stack's SQS pollers.
    The module is ``support.functions.import_function``'s (the repository's functions/, which the stack deploys)."""

    def __init__(self, app: OfflineApp, logical_id: str, overrides: Mapping[str, str] | None = None) -> None:
        name = app.stack.physical_ids[logical_id]
        configuration = app.client("lambda").get_function_configuration(FunctionName=name)
        variables = {key: str(value) for key, value in configuration["Environment"]["Variables"].items()}
        self._environment = {
            **variables,
            **(overrides or {}),
            "AWS_REGION": app.region,
            "AWS_DEFAULT_REGION": app.region,
            "AWS_LAMBDA_FUNCTION_NAME": name,
        }
        self._configuration = configuration
        self._module_name = f"handler_test_{logical_id}_{uuid.uuid4().hex[:8]}"
        with patched_environ(self._environment):
            self.module: ModuleType = import_function(
                app.template.function_code_dirs[logical_id].name, self._module_name
            )

    def __call__(self, event: Any, *, timeout_seconds: int | None = None) -> Any:
        """One invocation; ``timeout_seconds`` (default: the function's Timeout) sets the context's countdown."""
        context = LambdaContext(
            function_name=self._configuration["FunctionName"],
            function_version="$LATEST",
            invoked_function_arn=self._configuration["FunctionArn"],
            memory_limit_in_mb=str(self._configuration["MemorySize"]),
            log_group_name=f"/aws/lambda/{self._configuration['FunctionName']}",
            log_stream_name="test",
            timeout_seconds=timeout_seconds or int(self._configuration["Timeout"]),
        )
        with patched_environ(self._environment):
            # Lambda hands the handler a JSON document and serialises what it returns.
            return json.loads(json.dumps(self.module.lambda_handler(json.loads(json.dumps(event)), context)))

    def unload(self) -> None:
        sys.modules.pop(self._module_name, None)


# ---------------------------------------------------------------- a run, step by step


def execution(name: str, start_time: str | None = None) -> dict[str, str]:
    """``$$.Execution`` as the state machine passes it (the id need not exist: the run lock is taken over)."""
    return {
        "id": f"arn:aws:states:us-east-1:123456789012:execution:lifecycle-guard-lifecycle-guard:{name}",
        "name": name,
        "start_time": start_time or datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


def begin_event(
    name: str,
    mode: str = "apply",
    config: Mapping[str, Any] | None = None,
    *,
    allow_loosening: bool = False,
    **execution_options: Any,
) -> dict[str, Any]:
    request: dict[str, Any] = {"action": "run", "mode": mode, "source": "console"}
    if config:
        request["config"] = dict(config)
    if allow_loosening:
        request["allow_loosening"] = True
    return {"step": "begin", "request": request, "execution": execution(name, **execution_options)}


def begin_and_plan(
    app: OfflineApp, name: str, mode: str = "apply", *, capture: bool = True, **options: Any
) -> dict[str, Any]:
    """The state after Begin and every Plan chunk, as the state machine holds it (``{"run", "plan"}``)."""
    begin = begin_event(name, mode, **options)
    state: dict[str, Any] = succeeded(invoke(app, "AuditPlanFunction", begin, capture=capture))
    while not state["plan"]["done"]:
        event = {"step": "plan", "execution": execution(state["run"]["run_id"])}
        state["plan"] = succeeded(invoke(app, "AuditPlanFunction", event, capture=capture))
    return state


def drive_run(app: OfflineApp, name: str, mode: str = "apply", timeout_seconds: float = 60) -> dict[str, Any]:
    """One whole run, step by step in the state machine's order, every handler invoked through the Lambda API (fix
    jobs go through the queue to the worker, by the stack's SQS event source). Returns the final state, with the
    run summary under "summary". Output is left to an enclosing ``captured_output()``."""
    state = begin_and_plan(app, name, mode, capture=False)
    run = {"execution": execution(state["run"]["run_id"])}

    def step(function: str, event: dict[str, Any]) -> Any:
        return succeeded(invoke(app, function, event, capture=False))

    state["progress"] = step("ProgressFunction", {"step": "dispatch", **run})
    deadline = time.monotonic() + timeout_seconds
    while not state["progress"]["done"]:
        assert time.monotonic() < deadline, f"fix jobs still open: {state['progress']}"
        time.sleep(0.2)
        state["progress"] = step("ProgressFunction", {"step": "poll", **run})
    state["prevention"] = step("PreventionFunction", {"step": "ensure", **run})
    state["probe"] = step("VerifyFunction", {"step": "start_probe", **run, "prevention": state["prevention"]})
    while state["probe"]["started"] and not state["probe"]["settled"]:
        time.sleep(state["probe"]["next_check_seconds"])
        state["probe"] = step("VerifyFunction", {"step": "check_probe", **run, "probe": state["probe"]})
    state["verification"] = step(
        "VerifyFunction",
        {
            "step": "verify",
            **run,
            "probe": state["probe"],
            "prevention": state["prevention"],
        },
    )
    state["summary"] = step("ReportFunction", {"execution": execution(name), "state": state})
    return state


def job_messages(app: OfflineApp, run_id: str) -> dict[str, dict[str, str]]:
    """The fix job messages dispatch would send for a run, by job id."""
    keys = app.list_keys(f"work/{run_id}/jobs/")
    messages = {}
    for key in keys:
        job_id = key.rsplit("/", 1)[-1].removesuffix(".json")
        messages[job_id] = {"run_id": run_id, "job_id": job_id, "job_key": key}
    return messages


def sqs_record(app: OfflineApp, body: str, *, message_id: str | None = None, receive_count: int = 1) -> dict:
    """One record of an SQS event, in the shape Lambda's event source gives the worker."""
    queue_url = app.queue_urls["FixJobQueue"]
    queue_arn = app.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    now = str(int(time.time() * 1000))
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": uuid.uuid4().hex,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": now,
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": now,
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),  # the checksum SQS itself sends
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": app.region,
    }


def run_item(app: OfflineApp, key: str) -> dict[str, Any] | None:
    """A raw item of the run table by id."""
    item: dict[str, Any] | None = (
        app.client("dynamodb")
        .get_item(TableName=app.table_name, Key={"id": {"S": key}}, ConsistentRead=True)
        .get("Item")
    )
    return item


@dataclass(frozen=True)
class QuietQueue:
    """A stack whose functions under test send fix jobs to ``queue_url``, a queue nothing reads (the stack's own is
    drained at once by its SQS event source, which would hide what was sent), and what a run handed over."""

    stack: Stack
    queue_url: str

    def queued(self) -> list[FixJobMessage]:
        """Every message the quiet queue received since the last call (received once, then left invisible)."""
        sqs = self.stack.app.client("sqs")
        messages = []
        while batch := sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=600).get(
            "Messages", []
        ):
            messages.extend(FixJobMessage.model_validate_json(message["Body"]) for message in batch)
        return messages

    def checkpoint(self, run_id: str) -> dict[str, Any]:
        return dict(self.stack.app.read_json(f"work/{run_id}/plan-checkpoint.json"))

    def jobs(self, run_id: str) -> list[str]:
        return sorted(self.stack.app.list_keys(f"work/{run_id}/jobs/"))

    def jobs_total(self, run_id: str) -> int:
        """The jobs the run's item says were handed to the workers."""
        item = run_item(self.stack.app, f"run#{run_id}")
        assert item is not None
        return int(item.get("jobs_total", {"N": "0"})["N"])
