"""Run Lambda invocations in-process against the functions' source, in place of moto's echoing Lambda.

moto without docker (`{"lambda": {"use_docker": False}}`) serves Lambda from `LambdaSimpleBackend`, whose
`invoke` echoes the payload and never runs code. `LambdaDispatcher.installed()` replaces that method, so every
invocation moto receives - a Step Functions Task whose Resource is a function ARN, `lambda.invoke` from a handler or
a test, the SQS poller of `sqs_event_source` - calls the real handler:

  function name or ARN -> moto's function configuration -> the stack's logical id -> its CodeUri folder ->
  the module file named by `Handler` (`app.lambda_handler` -> `<folder>/app.py`, attribute `lambda_handler`).

Every function's module is called app.py, so each is loaded by file path under its own module name
(`lg_function_<folder>_<module>`), on first invocation (the code may not exist when the stack is deployed), and
dropped from sys.modules on uninstall so the next harness imports it afresh inside its own moto mock. The layer
package (lifecycle_guard) is importable from the venv. A function's folder is not put on sys.path: keep code shared
by a handler's modules in the layer package.

Each function also keeps its own copy of the state a Lambda container would not share with other functions: the
imported module (above) and Powertools Parameters' default providers, whose cached values and boto3 client would
otherwise let one function's Secrets Manager read serve another's (and hide whether the other's role may read it).

The function's configured environment (template Globals + its own Environment, resolved by CloudFormation) and the
runtime's reserved variables are applied to os.environ around the import and each invocation. os.environ is
process-global, so invocations are serialised by one re-entrant lock: handlers never overlap (no real concurrency
offline), and a handler that synchronously invokes another function nests fine, but a handler that waits for
another invocation on another thread would deadlock. The configured Timeout only drives the context's countdown;
a handler running past it is not stopped.

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
from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS
from moto.awslambda.models import LambdaFunction
from moto.awslambda_simple.models import LambdaSimpleBackend

from lifecycle_guard_offline.environment import patched_environ
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
        self._modules: dict[str, ModuleType] = {}  # physical function name -> its imported handler module
        self._lock = threading.RLock()

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
            yield self
        finally:
            LambdaSimpleBackend.invoke = _MOTO_INVOKE  # type: ignore[method-assign]
            self._forget_modules()

    def idle(self, timeout_seconds: float) -> bool:
        """Whether no invocation is running, waiting up to ``timeout_seconds`` for the one that is. Invocations are
        serialised by one lock, so holding it for a moment proves none is in flight."""
        if not self._lock.acquire(timeout=timeout_seconds):
            return False
        self._lock.release()
        return True

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
        with self._lock, as_role, patched_environ(environment), self._container_state(function.function_name):
            try:
                return _marshal(self._handler(function, code)(event, context))
            except Exception as exc:
                _LOG.warning("%s (%s) failed", code.logical_id, function.function_name, exc_info=True)
                response_headers["x-amz-function-error"] = "Unhandled"
                return json.dumps(_error_payload(exc, context.aws_request_id)).encode()

    def _handler(self, function: LambdaFunction, code: FunctionCode) -> Handler:
        if code.logical_id in self._overrides:
            return self._overrides[code.logical_id]
        module_path, _, attribute = str(function.handler).rpartition(".")
        if function.function_name not in self._modules:
            self._modules[function.function_name] = _import_handler_module(code.code_dir, module_path)
        handler = getattr(self._modules[function.function_name], attribute, None)
        if not callable(handler):
            raise _RuntimeError("Runtime.HandlerNotFound", f"Handler '{attribute}' missing on module '{module_path}'")
        return handler  # type: ignore[no-any-return]

    @contextmanager
    def _container_state(self, function_name: str) -> Iterator[None]:
        """Powertools' process-wide parameter providers swapped for this function's own while it runs (nests).

        Each function's providers wait in Powertools' registry itself, under a key of their own, so
        `parameters.clear_caches()` (what tests call to start from a cold cache) clears every function's."""
        outer = _take_providers(DEFAULT_PROVIDERS)
        DEFAULT_PROVIDERS.update(DEFAULT_PROVIDERS.pop(_PROVIDERS_OF + function_name, {}))
        try:
            yield
        finally:
            DEFAULT_PROVIDERS[_PROVIDERS_OF + function_name] = _take_providers(DEFAULT_PROVIDERS)
            DEFAULT_PROVIDERS.update(outer)

    def _forget_modules(self) -> None:
        for module in self._modules.values():
            sys.modules.pop(module.__name__, None)
        self._modules.clear()
        for key in [key for key in DEFAULT_PROVIDERS if key.startswith(_PROVIDERS_OF)]:
            del DEFAULT_PROVIDERS[key]


_PROVIDERS_OF = "lifecycle_guard_offline.lambda_dispatch:"  # + function name: that function's providers


def _take_providers(registry: dict[str, Any]) -> dict[str, Any]:
    """Removes and returns the providers in use (the entries that are not a function's parked ones)."""
    taken = {key: value for key, value in registry.items() if not key.startswith(_PROVIDERS_OF)}
    for key in taken:
        del registry[key]
    return taken


def _import_handler_module(code_dir: Path, module_path: str) -> ModuleType:
    """Imports `<code_dir>/<module_path>.py` (dots are folders) as the runtime imports a Handler's module."""
    source = code_dir.joinpath(*module_path.split(".")).with_suffix(".py")
    if not source.is_file():
        raise _RuntimeError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_path}': No module named '{module_path}'"
        )
    module_name = "lg_function_" + re.sub(r"\W", "_", f"{code_dir.name}_{module_path}")
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
