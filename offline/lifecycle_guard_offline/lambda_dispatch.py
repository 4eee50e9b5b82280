"""Run Lambda invocations in-process against the functions' source, in place of moto's echoing Lambda.

moto without docker (`{"lambda": {"use_docker": False}}`) serves Lambda from `LambdaSimpleBackend`, whose
`invoke` echoes the payload and never runs code. `LambdaDispatcher.installed()` replaces that method, so every
invocation moto receives - a Step Functions Task whose Resource is a function ARN, `lambda.invoke` from a handler or
a test, the SQS poller of `sqs_event_source` - calls the real handler:

  function name or ARN -> moto's function configuration -> the stack's logical id -> its CodeUri folder ->
  the module file named by `Handler` (`app.lambda_handler` -> `<folder>/app.py`, attribute `lambda_handler`).

Each invocation runs in a container, as Lambda runs it: a container is one warm execution environment of one
function, with its own import of the handler module (and so its own module-level state: settings, clients,
caches, the Powertools objects), made on its first invocation and reused by later ones. Invocations that overlap
get containers of their own, as concurrent Lambda invocations do, and run at the same time on their callers'
threads (the Step Functions engine's, the SQS pollers'). Every function's module is called app.py, so each
container's is loaded by file path under a module name of its own (`lg_function_<folder>_<module>_<n>`), and
dropped from sys.modules on uninstall so the next harness imports it afresh inside its own moto mock. The layer
package (lifecycle_guard) is importable from the venv; a function's folder is not put on sys.path: keep code shared
by a handler's modules in the layer package. `recycle_containers` drops the warm containers, so the next
invocations start cold (what a test that changes a secret between invocations wants).

The function's configured environment (template Globals + its own Environment, resolved by CloudFormation) and the
runtime's reserved variables are what the handler sees in os.environ, during its import and each invocation: the
dispatcher makes os.environ thread-scoped while installed (`environment.thread_scoped_environ`), so concurrent
handlers each see their own. The configured Timeout only drives the context's countdown; a handler running past
it is not stopped.

With an `IamEnforcer`, the handler runs as its function's role (`iam_enforcement.acting_as`), so every AWS call it
makes is authorised against the role's policies.

A handler exception is returned as Lambda returns it (header `x-amz-function-error: Unhandled`, JSON body with
errorType = the exception's class name), so Step Functions Retry/Catch match the class name as the Error.

The replaced method's signature is moto's own, `invoke(self, function_name, qualifier, body, headers,
response_headers)` in moto 5.2.5; installing refuses any other moto version rather than break silently.
"""

import importlib.util
import json
import logging
import re
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import uuid4

import moto
from moto.awslambda.models import LambdaFunction
from moto.awslambda_simple.models import LambdaSimpleBackend

from lifecycle_guard_offline import heap
from lifecycle_guard_offline.environment import patched_environ, thread_scoped_environ
from lifecycle_guard_offline.iam_enforcement import IamEnforcer, acting_as
from lifecycle_guard_offline.lambda_context import LambdaContext

PINNED_MOTO_VERSION = "5.2.5"

Handler = Callable[[Any, LambdaContext], Any]

_LOG = logging.getLogger(__name__)
_MOTO_INVOKE = LambdaSimpleBackend.invoke


class UnsupportedMotoVersionError(RuntimeError):
    pass


class _RuntimeError(Exception):
    """A failure the Lambda runtime reports under its own error type (e.g. Runtime.ImportModuleError)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass(frozen=True)
class FunctionCode:
    logical_id: str
    code_dir: Path


@dataclass
class _Container:
    """One warm execution environment of a function: its own import of the handler module."""

    number: int
    module: ModuleType | None = None


class LambdaDispatcher:
    def __init__(
        self,
        functions: Mapping[str, FunctionCode],
        handler_overrides: Mapping[str, Handler] | None = None,
        iam: IamEnforcer | None = None,
    ) -> None:
        """`functions`: physical function name -> its code. `handler_overrides`: logical id -> a callable run
        instead of the function's handler (tests inject failures with it). `iam`: authorises the handlers' AWS
        calls against their roles (None: unchecked)."""
        self._functions = dict(functions)
        self._overrides = dict(handler_overrides or {})
        self._iam = iam
        unknown = self._overrides.keys() - {code.logical_id for code in self._functions.values()}
        if unknown:
            raise ValueError(f"handler overrides for functions the stack does not have: {sorted(unknown)}")
        self._idle: dict[str, list[_Container]] = {}  # physical function name -> its warm containers not in use
        self._made: dict[str, int] = {}  # physical function name -> containers made so far
        self._modules: list[ModuleType] = []  # every container's handler module, to forget on uninstall
        self._running = 0
        self._running_by_function: dict[str, int] = {}
        self.peak_concurrency: dict[str, int] = {}  # logical id -> most invocations of the function at once
        self._changed = threading.Condition()  # guards the above; notified when an invocation ends

    @contextmanager
    def installed(self) -> Iterator["LambdaDispatcher"]:
        """Routes moto's Lambda invocations to this dispatcher while the context is open."""
        if moto.__version__ != PINNED_MOTO_VERSION:
            raise UnsupportedMotoVersionError(
                f"lifecycle_guard_offline replaces LambdaSimpleBackend.invoke as moto {PINNED_MOTO_VERSION} defines "
                f"it; moto {moto.__version__} is installed. Pin moto=={PINNED_MOTO_VERSION} or port lambda_dispatch."
            )
        if LambdaSimpleBackend.invoke is not _MOTO_INVOKE:
            raise RuntimeError("another LambdaDispatcher is installed")

        dispatcher = self

        # moto's signature, parameter names included; `headers` (the request's) carries nothing the handler needs.
        def invoke(
            self: LambdaSimpleBackend,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,  # noqa: ARG001
            response_headers: Any,
        ) -> bytes:
            return dispatcher.invoke(self, function_name, qualifier, body, response_headers)

        LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]
        try:
            with thread_scoped_environ():
                yield self
        finally:
            LambdaSimpleBackend.invoke = _MOTO_INVOKE  # type: ignore[method-assign]
            self.recycle_containers()
            heap.thaw()  # the containers' cold starts were frozen (`heap`)

    def idle(self, timeout_seconds: float) -> bool:
        """Whether no invocation is running, waiting up to ``timeout_seconds`` for the ones that are."""
        with self._changed:
            return self._changed.wait_for(lambda: self._running == 0, timeout=timeout_seconds)

    def recycle_containers(self) -> None:
        """Drops every warm container: the next invocation of each function starts cold (containers in use are
        dropped when they finish)."""
        with self._changed:
            self._idle.clear()
            for module in self._modules:
                sys.modules.pop(module.__name__, None)
            self._modules.clear()

    def invoke(
        self,
        backend: LambdaSimpleBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        response_headers: dict[str, str],
    ) -> bytes:
        """One synchronous invocation; returns the response payload as Lambda would."""
        function = backend.get_function(function_name, qualifier)
        code = self._functions.get(function.function_name)
        if code is None:
            raise LookupError(f"function {function.function_name} is not part of the deployed stack")
        invoked_arn = function_name if function_name.startswith("arn:") else function.function_arn
        context = LambdaContext(
            function_name=function.function_name,
            function_version=str(function.version),
            invoked_function_arn=f"{invoked_arn}:{qualifier}" if qualifier else invoked_arn,
            memory_limit_in_mb=str(function.memory_size),
            log_group_name=f"/aws/lambda/{function.function_name}",
            log_stream_name=f"{datetime.now(UTC):%Y/%m/%d}/[{function.version}]{uuid4().hex}",
            timeout_seconds=int(function.timeout),
        )
        event = json.loads(body) if body else {}
        environment = _runtime_environment(function, context, backend.region_name)
        as_role: AbstractContextManager[None] = (
            nullcontext() if self._iam is None else acting_as(self._iam.principal(function.role))
        )
        with (
            self._container(function.function_name, code.logical_id) as container,
            as_role,
            patched_environ(environment),
        ):
            try:
                return _marshal(self._handler(function, code, container)(event, context))
            except Exception as exc:
                _LOG.warning("%s (%s) failed", code.logical_id, function.function_name, exc_info=True)
                response_headers["x-amz-function-error"] = "Unhandled"
                return json.dumps(_error_payload(exc, context.aws_request_id)).encode()

    @contextmanager
    def _container(self, function_name: str, logical_id: str) -> Iterator[_Container]:
        """A warm container of the function not in use, or a new one; back to the warm ones afterwards."""
        with self._changed:
            idle = self._idle.setdefault(function_name, [])
            if idle:
                container = idle.pop()
            else:
                container = _Container(self._made.get(function_name, 0))
                self._made[function_name] = container.number + 1
            self._running += 1
            running = self._running_by_function[logical_id] = self._running_by_function.get(logical_id, 0) + 1
            self.peak_concurrency[logical_id] = max(running, self.peak_concurrency.get(logical_id, 0))
        try:
            yield container
        finally:
            with self._changed:
                self._running -= 1
                self._running_by_function[logical_id] -= 1
                if container.module is None or container.module in self._modules:  # not recycled meanwhile
                    self._idle.setdefault(function_name, []).append(container)
                self._changed.notify_all()

    def _handler(self, function: LambdaFunction, code: FunctionCode, container: _Container) -> Handler:
        if code.logical_id in self._overrides:
            return self._overrides[code.logical_id]
        module_path, _, attribute = str(function.handler).rpartition(".")
        if container.module is None:
            container.module = _import_handler_module(code.code_dir, module_path, container.number)
            heap.freeze_cold_start()
            with self._changed:
                self._modules.append(container.module)
        handler = getattr(container.module, attribute, None)
        if not callable(handler):
            raise _RuntimeError("Runtime.HandlerNotFound", f"Handler '{attribute}' missing on module '{module_path}'")
        return handler  # type: ignore[no-any-return]


def _import_handler_module(code_dir: Path, module_path: str, container: int) -> ModuleType:
    """Imports `<code_dir>/<module_path>.py` (dots are folders) as the runtime imports a Handler's module, under a
    module name of the container's own."""
    source = code_dir.joinpath(*module_path.split(".")).with_suffix(".py")
    if not source.is_file():
        raise _RuntimeError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_path}': No module named '{module_path}'"
        )
    module_name = "lg_function_" + re.sub(r"\W", "_", f"{code_dir.name}_{module_path}_{container}")
    spec = importlib.util.spec_from_file_location(module_name, source)
    if spec is None or spec.loader is None:
        raise _RuntimeError("Runtime.ImportModuleError", f"Unable to import module '{module_path}' from {source}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # registered before running it, as import does (dataclasses need it)
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        del sys.modules[module_name]
        # The runtime's own error types for these; any other exception surfaces under its class name.
        if isinstance(exc, ImportError):
            message = f"Unable to import module '{module_path}': {exc}"
            raise _RuntimeError("Runtime.ImportModuleError", message) from exc
        if isinstance(exc, SyntaxError):
            message = f"Syntax error in module '{module_path}': {exc}"
            raise _RuntimeError("Runtime.UserCodeSyntaxError", message) from exc
        raise
    return module


def _runtime_environment(function: LambdaFunction, context: LambdaContext, region: str) -> dict[str, str]:
    """The function's environment variables plus the reserved ones the Lambda runtime sets.

    LAMBDA_TASK_ROOT is deliberately left out: Powertools Tracer takes it as "running in Lambda" and would try to
    reach an X-Ray daemon.
    """
    # CloudFormation may hand moto numbers (Number parameters, FindInMap); Lambda stores strings.
    variables = {name: str(value) for name, value in function.environment_vars.items()}
    variables.update(
        AWS_REGION=region,
        AWS_DEFAULT_REGION=region,
        AWS_LAMBDA_FUNCTION_NAME=context.function_name,
        AWS_LAMBDA_FUNCTION_VERSION=context.function_version,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE=context.memory_limit_in_mb,
        AWS_LAMBDA_LOG_GROUP_NAME=context.log_group_name,
        AWS_LAMBDA_LOG_STREAM_NAME=context.log_stream_name,
        _HANDLER=str(function.handler),
    )
    return variables


def _marshal(result: Any) -> bytes:
    try:
        return json.dumps(result).encode()
    except (TypeError, ValueError) as exc:
        raise _RuntimeError("Runtime.MarshalError", f"Unable to marshal response: {exc}") from exc


def _error_payload(exc: Exception, request_id: str) -> dict[str, Any]:
    """The body the Python runtime returns for an unhandled exception."""
    return {
        "errorType": exc.error_type if isinstance(exc, _RuntimeError) else type(exc).__name__,
        "errorMessage": str(exc),
        "requestId": request_id,
        # The runtime reports the handler's frames only, not its own.
        "stackTrace": traceback.format_list(
            [frame for frame in traceback.extract_tb(exc.__traceback__) if frame.filename != __file__]
        ),
    }
