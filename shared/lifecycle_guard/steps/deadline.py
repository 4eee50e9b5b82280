"""When a looping step must hand back to the state machine: well before its Lambda would be stopped."""

import time

LAMBDA_SAFETY_MS = 120_000  # stop looping this long before the Lambda would time out


def deadline(remaining_ms: int) -> float:
    """A ``time.monotonic()`` value ``LAMBDA_SAFETY_MS`` before the invocation's end."""
    return time.monotonic() + max(0, remaining_ms - LAMBDA_SAFETY_MS) / 1000
