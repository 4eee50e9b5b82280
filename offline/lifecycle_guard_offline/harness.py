"""OfflineApp: the real SAM application deployed into moto and run in-process, with no AWS account or docker.

    with OfflineApp(hubspot_base_url="http://127.0.0.1:8080", guard_config={...}) as app:
        result = app.run({"action": "run", "mode": "dry-run", "source": "console"})
        result.status, result.output, app.list_keys("runs/")

Entering it: fake credentials and region in os.environ; `mock_aws` with Step Functions executing for real and
Lambda without docker (moto 5.2.5 config below); the HubSpot token secret in Secrets Manager as {"token": ...};
template.yaml transformed and deployed (`sam_stack`); Lambda invocations dispatched to the handlers in functions/,
each in a container of its own, concurrently where they overlap (`lambda_dispatch`); the SQS event source polled
as Lambda does, with as many concurrent workers as the mapping's MaximumConcurrency (`sqs_event_source`); DynamoDB
and SQS requests applied atomically, as the services apply them (`atomic_requests`); IAM enforced on every AWS
call of the handlers, the state machine and the SQS poller (`iam_enforcement`: a call the deployed role does not
allow fails with AccessDenied, as in AWS; `app.iam.calls` lists every authorisation made). Leaving it stops running
executions, the pollers and the dispatcher, ends the mock and restores os.environ. One OfflineApp at a time per
process (os.environ and the patched moto method are process-global).

moto 5.2.5 specifics handled here: the config below; StartExecution without a name (see `start_execution`);
executions run on moto's threads, so results are polled (`executions`).
"""

import json
import uuid
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import boto3
from moto import mock_aws
from moto.core.config import DefaultConfig

from lifecycle_guard_offline import call_gate, heap
from lifecycle_guard_offline.atomic_requests import atomic_requests
from lifecycle_guard_offline.environment import patched_environ
from lifecycle_guard_offline.executions import ExecutionResult, wait_for_execution
from lifecycle_guard_offline.iam_enforcement import IamEnforcer
from lifecycle_guard_offline.lambda_dispatch import FunctionCode, Handler, LambdaDispatcher
from lifecycle_guard_offline.sam_stack import STATE_MACHINE_TYPE, DeployedStack, deploy_sam_app
from lifecycle_guard_offline.sam_template import SamTemplate
from lifecycle_guard_offline.sqs_event_source import sqs_event_sources

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE_PATH = PROJECT_ROOT / "template.yaml"

# Without execute_state_machine, moto's executions stay RUNNING with a canned history; without use_docker=False,
# Lambda tasks fail trying to reach docker; without load_aws_managed_policies, the AWS managed policies the SAM
# transform attaches to the roles do not exist.
MOTO_CONFIG: DefaultConfig = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
    "iam": {"load_aws_managed_policies": True},
}

_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_PROFILE": None,  # a developer's profile must not be looked up (environment credentials win anyway)
}


class OfflineApp:
    _running: "OfflineApp | None" = None  # os.environ and moto's patched Lambda are process-global

    def __init__(
        self,
        *,
        template_path: Path = DEFAULT_TEMPLATE_PATH,
        stack_name: str = "lifecycle-guard",
        region: str = "us-east-1",
        hubspot_token: str = "offline-hubspot-token",  # noqa: S107 - a fake token for the sandbox
        hubspot_base_url: str | None = None,
        api_tier: str | None = None,
        api_budget_percent: int | None = None,
        guard_config: Mapping[str, Any] | None = None,
        parameters: Mapping[str, str] | None = None,
        handler_overrides: Mapping[str, Handler] | None = None,
        sqs_concurrency: int | None = None,
        sqs_retry_delay_seconds: int = 1,
        enforce_iam: bool = True,
    ) -> None:
        """Parameters left None keep the template's defaults; `parameters` sets any other template parameter.
        `handler_overrides` maps a function's logical id to a callable run instead of its handler.
        `sqs_concurrency` None uses each mapping's MaximumConcurrency (the template's: fix workers run
        concurrently, as deployed); a number overrides it; `sqs_retry_delay_seconds` is how soon a
        message whose processing failed is received again (see `sqs_event_source`). `enforce_iam` False leaves AWS
        calls unchecked: only for the harness's own tests, never to make an application test pass."""
        self.template = SamTemplate(template_path)
        self.stack_name = stack_name
        self.region = region
        self._hubspot_token = hubspot_token
        self._named_parameters: dict[str, str | None] = {
            "HubSpotBaseUrl": hubspot_base_url,
            "HubSpotApiTier": api_tier,
            "ApiBudgetPercent": None if api_budget_percent is None else str(api_budget_percent),
            "GuardConfig": None if guard_config is None else json.dumps(guard_config),
        }
        self._other_parameters = dict(parameters or {})
        self._handler_overrides = dict(handler_overrides or {})
        self._sqs_concurrency = sqs_concurrency
        self._sqs_retry_delay_seconds = sqs_retry_delay_seconds
        self._enforce_iam = enforce_iam
        self._exit_stack = ExitStack()
        self._session: boto3.session.Session | None = None
        self._stack: DeployedStack | None = None
        self._iam: IamEnforcer | None = None
        self._dispatcher: LambdaDispatcher | None = None

    # ---------- lifecycle ----------
    def __enter__(self) -> Self:
        if OfflineApp._running is not None:
            raise RuntimeError("another OfflineApp is running in this process; leave it first")
        OfflineApp._running = self
        self._exit_stack.callback(setattr, OfflineApp, "_running", None)
        try:
            self._start()
        except BaseException:
            self._exit_stack.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._exit_stack.close()
        self._session = None
        self._stack = None
        self._iam = None
        self._dispatcher = None

    def _start(self) -> None:
        call_gate.release_for_new_app()
        stack = self._exit_stack
        stack.enter_context(patched_environ({**_FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": self.region}))
        stack.callback(heap.thaw)
        stack.enter_context(mock_aws(config=MOTO_CONFIG))
        stack.enter_context(atomic_requests())
        self._session = boto3.session.Session(region_name=self.region)
        secret_arn = self.client("secretsmanager").create_secret(
            Name=f"{self.stack_name}/hubspot-token", SecretString=json.dumps({"token": self._hubspot_token})
        )["ARN"]
        self._stack = deploy_sam_app(self.template, stack_name=self.stack_name, parameters=self._parameters(secret_arn))
        function_ids = self._stack.physical_ids_of_type("AWS::Lambda::Function")
        functions = {
            physical_id: FunctionCode(logical_id, self.template.function_code_dirs[logical_id])
            for logical_id, physical_id in function_ids.items()
        }
        if self._enforce_iam:
            self._iam = stack.enter_context(self._iam_enforcer(function_ids).installed())
        self._dispatcher = stack.enter_context(
            LambdaDispatcher(functions, self._handler_overrides, self._iam).installed()
        )
        stack.enter_context(
            sqs_event_sources(
                self._session,
                concurrency=self._sqs_concurrency,
                retry_delay_seconds=self._sqs_retry_delay_seconds,
                iam=self._iam,
            )
        )
        # Closed first: executions still running would otherwise call into a torn-down mock.
        stack.callback(self._stop_running_executions)
        heap.settle_long_lived()

    def _iam_enforcer(self, function_ids: Mapping[str, str]) -> IamEnforcer:
        """Enforcement for the roles of the stack's functions and of its state machine."""
        lambda_client = self.client("lambda")
        roles = {
            lambda_client.get_function_configuration(FunctionName=physical_id)["Role"]: logical_id
            for logical_id, physical_id in function_ids.items()
        }
        (machine_logical_id,) = self.stack.physical_ids_of_type(STATE_MACHINE_TYPE)
        machine_role = self.client("stepfunctions").describe_state_machine(stateMachineArn=self.state_machine_arn)[
            "roleArn"
        ]
        roles[machine_role] = machine_logical_id
        assert self._session is not None
        return IamEnforcer(self._session, roles, engine_role_arn=machine_role)

    def _parameters(self, secret_arn: str) -> dict[str, str]:
        given = {name: value for name, value in self._named_parameters.items() if value is not None}
        parameters = {"HubSpotTokenSecretArn": secret_arn, **given, **self._other_parameters}
        undeclared = parameters.keys() - self.template.parameter_names
        if undeclared:
            raise ValueError(f"{self.template.path} does not declare the parameters {sorted(undeclared)}")
        return parameters

    def _stop_running_executions(self) -> None:
        sfn = self.client("stepfunctions")
        for page in sfn.get_paginator("list_executions").paginate(
            stateMachineArn=self.state_machine_arn, statusFilter="RUNNING"
        ):
            for execution in page["executions"]:
                sfn.stop_execution(executionArn=execution["executionArn"], error="OfflineApp.Closed")

    # ---------- what was deployed ----------
    @property
    def stack(self) -> DeployedStack:
        if self._stack is None:
            raise RuntimeError("OfflineApp is not running: use it as a context manager")
        return self._stack

    @property
    def iam(self) -> IamEnforcer:
        """The IAM enforcement of this run (`calls`: every authorisation made)."""
        if self._iam is None:
            raise RuntimeError("IAM is not enforced: OfflineApp(enforce_iam=False), or not running")
        return self._iam

    @property
    def outputs(self) -> Mapping[str, str]:
        return self.stack.outputs

    @property
    def state_machine_arn(self) -> str:
        return self.stack.state_machine_arn

    @property
    def scheduled_input(self) -> Any:
        """The input the (only) schedule starts executions with; moto does not run schedules, so "fire" it by
        starting an execution with this input."""
        if len(self.stack.schedule_inputs) != 1:
            raise LookupError(f"expected exactly one schedule, found {sorted(self.stack.schedule_inputs)}")
        return next(iter(self.stack.schedule_inputs.values()))

    @property
    def bucket_name(self) -> str:
        return self.stack.only_physical_id_of_type("AWS::S3::Bucket")

    @property
    def table_name(self) -> str:
        return self.stack.only_physical_id_of_type("AWS::DynamoDB::Table")

    @property
    def queue_urls(self) -> dict[str, str]:
        """Logical id -> URL of each queue of the stack."""
        return self.stack.physical_ids_of_type("AWS::SQS::Queue")

    def messages_in_queue(self, logical_id: str) -> int:
        """Visible plus in-flight messages of a stack queue (delayed ones excluded)."""
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=self.queue_urls[logical_id],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(count) for count in attributes.values())

    def client(self, service: str) -> Any:
        """A boto3 client for the mocked account and region."""
        if self._session is None:
            raise RuntimeError("OfflineApp is not running: use it as a context manager")
        return self._session.client(service)

    # ---------- executions ----------
    def start_execution(self, execution_input: Any, name: str | None = None) -> str:
        """Starts the state machine with `execution_input` (serialised to JSON); returns the execution ARN.

        Without a name, AWS names the execution with a UUID; moto 5.2.5 names it "None" instead (ARN and
        `$$.Execution.Name`), so the harness always sends one.
        """
        arn: str = self.client("stepfunctions").start_execution(
            stateMachineArn=self.state_machine_arn, input=json.dumps(execution_input), name=name or str(uuid.uuid4())
        )["executionArn"]
        return arn

    def wait_for_execution(self, execution_arn: str, timeout_seconds: float = 60.0) -> ExecutionResult:
        return wait_for_execution(self.client("stepfunctions"), execution_arn, timeout_seconds)

    def run(self, execution_input: Any, name: str | None = None, timeout_seconds: float = 60.0) -> ExecutionResult:
        """Starts an execution and waits for it to finish."""
        return self.wait_for_execution(self.start_execution(execution_input, name), timeout_seconds)

    def functions_idle(self, timeout_seconds: float) -> bool:
        """Whether no Lambda handler is running, waiting up to ``timeout_seconds`` for the one that is (a stopped
        execution or a stopped poller does not stop a handler already running)."""
        if self._dispatcher is None:
            raise RuntimeError("OfflineApp is not running: use it as a context manager")
        return self._dispatcher.idle(timeout_seconds)

    def peak_concurrency(self, logical_id: str) -> int:
        """The most invocations of a function that ran at once so far (the fix worker's: up to the mapping's
        MaximumConcurrency)."""
        if self._dispatcher is None:
            raise RuntimeError("OfflineApp is not running: use it as a context manager")
        return self._dispatcher.peak_concurrency.get(logical_id, 0)

    def recycle_containers(self) -> None:
        """Every function's next invocation starts in a new container (cold: no cached secret, no warm state)."""
        if self._dispatcher is None:
            raise RuntimeError("OfflineApp is not running: use it as a context manager")
        self._dispatcher.recycle_containers()

    def hold_function_calls(self) -> None:
        """From now on the AWS calls of every handler, poller and execution wait for good; only this thread's go
        through. For a process about to end with a handler still running (see ``call_gate``)."""
        call_gate.hold_other_threads()

    # ---------- the stack's bucket ----------
    def read_object(self, key: str) -> bytes:
        body: bytes = self.client("s3").get_object(Bucket=self.bucket_name, Key=key)["Body"].read()
        return body

    def read_json(self, key: str) -> Any:
        return json.loads(self.read_object(key))

    def write_object(self, key: str, body: bytes | str) -> None:
        self.client("s3").put_object(Bucket=self.bucket_name, Key=key, Body=body)

    def list_keys(self, prefix: str = "") -> list[str]:
        pages = self.client("s3").get_paginator("list_objects_v2").paginate(Bucket=self.bucket_name, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]
