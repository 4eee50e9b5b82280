"""Framework-free request/response values passed between the HTTP server and the handlers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from hubspot_sandbox.errors import validation_error
from hubspot_sandbox.writes import WriteOutcome


@dataclass(slots=True)
class HttpRequest:
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    base_url: str  # scheme://host:port the client used, for Location headers and links

    @classmethod
    def build(cls, method: str, target: str, headers: Mapping[str, str], body: bytes, base_url: str) -> HttpRequest:
        path, _, query = target.partition("?")
        return cls(
            method.upper(),
            path,
            parse_qs(query, keep_blank_values=True),
            {name.lower(): value for name, value in headers.items()},
            body,
            base_url,
        )

    def json(self) -> Any:
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise validation_error(f"Invalid input JSON: {error}") from None

    def query_list(self, name: str) -> list[str] | None:
        """A multi-valued query parameter: repeated (``?p=a&p=b``, as the SDK sends) or comma-separated."""
        raw = self.query.get(name)
        if raw is None:
            return None
        return [item for value in raw for item in value.split(",") if item]

    def query_value(self, name: str) -> str | None:
        raw = self.query.get(name)
        return raw[-1] if raw else None

    def query_int(self, name: str, default: int) -> int:
        raw = self.query_value(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise validation_error(f"Invalid {name}: {raw!r} is not an integer") from None

    def query_bool(self, name: str) -> bool:
        return (self.query_value(name) or "").lower() == "true"


@dataclass(slots=True)
class HttpResponse:
    status: int
    body: Any = None  # JSON-able, or None for an empty body
    headers: dict[str, str] = field(default_factory=dict)
    outcome: WriteOutcome | None = None  # what a write changed, for the stats (never sent)
    close_unanswered: bool = False  # send nothing and close the connection (a stalled call when the sandbox stops)

    def encoded_body(self) -> bytes:
        if self.body is None:
            return b""
        return json.dumps(self.body, separators=(",", ":")).encode()
