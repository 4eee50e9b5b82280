"""Wall-clock helpers: the sandbox keeps every timestamp as integer epoch milliseconds and formats on output."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def iso_from_ms(ms: int) -> str:
    """HubSpot's wire format, e.g. ``2024-01-31T09:15:00.123Z`` (dateutil-parsable, as the SDK needs)."""
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def ms_from_text(text: str) -> int | None:
    """Epoch ms from either an epoch-ms string or an ISO-8601 string (how HubSpot accepts date filters)."""
    stripped = text.strip()
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)
