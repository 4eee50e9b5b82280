"""moto's DynamoDB and SQS backends made to apply each request atomically, as the services do (moto 5.2.5).

DynamoDB checks a condition expression and applies the write as one step ("Condition expressions", Amazon
DynamoDB Developer Guide), which is what the run lock, the job settlement and the shared rate gate rely on. moto's
backends are plain Python without locks (moto/dynamodb/models, moto/sqs/models): with concurrent handlers on
threads, two conditional updates of one item could both pass their condition. The harness therefore lets one
DynamoDB request, and one SQS request, run at a time; the requests are short (microseconds of dict work), so the
handlers still overlap everywhere else, HubSpot calls included.
"""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from moto.dynamodb.responses import DynamoHandler
from moto.sqs.responses import SQSResponse

_HANDLERS: tuple[type[Any], ...] = (DynamoHandler, SQSResponse)


@contextmanager
def atomic_requests() -> Iterator[None]:
    """While open, each service's requests run one at a time."""
    own = {handler: handler.__dict__.get("call_action") for handler in _HANDLERS}  # None: inherited
    for handler in _HANDLERS:
        handler.call_action = _serialised(handler.call_action, threading.Lock())
    try:
        yield
    finally:
        for handler, original in own.items():
            if original is None:
                del handler.call_action
            else:
                handler.call_action = original


def _serialised(call_action: Callable[[Any], Any], lock: threading.Lock) -> Callable[[Any], Any]:
    def call(self: Any) -> Any:
        with lock:
            return call_action(self)

    return call
