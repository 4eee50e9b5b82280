"""The `context` object the Python Lambda runtime (awslambdaric) passes to a handler, for in-process invocations."""

import time
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LambdaContext:
    function_name: str
    function_version: str
    invoked_function_arn: str
    # A string, as in the real runtime (it copies AWS_LAMBDA_FUNCTION_MEMORY_SIZE from the environment).
    memory_limit_in_mb: str
    log_group_name: str
    log_stream_name: str
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    identity: Any = None  # only set for mobile SDK callers
    client_context: Any = None  # only set for mobile SDK callers
    # Monotonic, like the runtime's deadline: wall-clock changes must not move it.
    _deadline: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_deadline", time.monotonic() + self.timeout_seconds)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))
