"""Whose CPU the offline pipeline process spends: our Lambda code's, or the emulators' around it.

Offline, one process holds everything a deployed run spreads over AWS: the Lambda handlers (our code, with the
client side of its AWS calls and the HubSpot client), and the services they call, emulated by moto in the caller's
thread (request parsing, DynamoDB's expression evaluation, S3's checksums, response serialisation), plus the Step
Functions interpreter and the SQS pollers that stand in for Lambda's event source mapping. In AWS only the first
runs in the function's CPU. ``CpuSplit`` tells them apart by the thread CPU clock (``time.thread_time``), charged at
every change of hands:

- **lambda**: while ``LambdaDispatcher.invoke`` runs a handler;
- **aws**: while moto serves a request (``BotocoreStubber.__call__``, where moto takes over a botocore request),
  minus the handler a Lambda Invoke runs inside it, and while the harness authorises a request against the
  caller's role (``iam_enforcement``'s botocore hooks: IAM's side of the call);
- the rest of the process (the interpreter's and the pollers' own work, this process's polling) is the harness.

A handler's wait for the GIL is not CPU and is charged to nobody.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from botocore.handlers import BUILTIN_HANDLERS
from moto.core.botocore_stubber import BotocoreStubber

from lifecycle_guard_offline import iam_enforcement
from lifecycle_guard_offline.lambda_dispatch import LambdaDispatcher

LAMBDA = "lambda"
AWS = "aws"


class CpuSplit:
    def __init__(self) -> None:
        self._totals = {LAMBDA: 0.0, AWS: 0.0}
        self._lock = threading.Lock()
        self._threads = threading.local()

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return dict(self._totals)

    @contextmanager
    def installed(self) -> Iterator[CpuSplit]:
        """Open it before any boto3 session is made: sessions copy botocore's built-in hooks when they are made."""
        invoke, serve, hooks = LambdaDispatcher.invoke, BotocoreStubber.__call__, list(BUILTIN_HANDLERS)
        LambdaDispatcher.invoke = self._charged(LAMBDA, invoke)  # type: ignore[method-assign]
        BotocoreStubber.__call__ = self._charged(AWS, serve)  # type: ignore[method-assign]
        iam_hooks = (iam_enforcement._authorise, iam_enforcement._conceal_missing_key)
        BUILTIN_HANDLERS[:] = [  # entries are (event, hook) or (event, hook, where to register it)
            (event, self._charged(AWS, hook), *rest) if hook in iam_hooks else (event, hook, *rest)
            for event, hook, *rest in BUILTIN_HANDLERS
        ]
        try:
            yield self
        finally:
            LambdaDispatcher.invoke = invoke  # type: ignore[method-assign]
            BotocoreStubber.__call__ = serve  # type: ignore[method-assign]
            BUILTIN_HANDLERS[:] = hooks

    def _charged(self, role: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def charged(*args: Any, **kwargs: Any) -> Any:
            self._switch(push=role)
            try:
                return method(*args, **kwargs)
            finally:
                self._switch(push=None)

        return charged

    def _switch(self, *, push: str | None) -> None:
        """Charges the thread's CPU since its last switch to the role it was in, then enters ``push`` (or leaves the
        innermost role)."""
        state = self._threads
        now = time.thread_time()
        roles: list[str] = getattr(state, "roles", [])
        if roles:
            with self._lock:
                self._totals[roles[-1]] += now - state.since
        if push is None:
            roles.pop()
        else:
            roles.append(push)
        state.roles, state.since = roles, now
