"""HubSpot's error bodies and the exception the sandbox raises to produce them.

Standard shape (``Error`` in every spec): ``status``, ``message``, ``correlationId`` (uuid), ``category``, plus
``errors``/``context``/``subCategory``/``links`` where relevant. Rate-limit bodies differ (facts §7.2).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

JsonObject = dict[str, Any]

SCOPES_LINK = "https://developers.hubspot.com/scopes"


def correlation_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class PropertyProblem:
    """One entry of HubSpot's ``Property values were not valid: [...]`` list."""

    name: str
    error: str  # INVALID_OPTION, PROPERTY_DOESNT_EXIST, READ_ONLY_VALUE
    message: str

    def as_json(self) -> JsonObject:
        return {"isValid": False, "message": self.message, "error": self.error, "name": self.name}


@dataclass(eq=False)
class ApiError(Exception):
    status: int
    category: str
    message: str
    context: Mapping[str, Sequence[str]] | None = None
    errors: Sequence[JsonObject] = ()
    sub_category: str | None = None
    links: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(f"{self.status} {self.category}: {self.message}")

    def body(self) -> JsonObject:
        body: JsonObject = {
            "status": "error",
            "message": self.message,
            "correlationId": correlation_id(),
            "category": self.category,
        }
        if self.sub_category is not None:
            body["subCategory"] = self.sub_category
        if self.context is not None:
            body["context"] = {key: list(values) for key, values in self.context.items()}
        if self.errors:
            body["errors"] = list(self.errors)
        if self.links is not None:
            body["links"] = dict(self.links)
        return body


def validation_error(
    message: str, *, errors: Sequence[JsonObject] = (), context: Mapping[str, Sequence[str]] | None = None
) -> ApiError:
    return ApiError(400, "VALIDATION_ERROR", message, context=context, errors=errors)


def invalid_properties(problems: Sequence[PropertyProblem]) -> ApiError:
    listing = json.dumps([problem.as_json() for problem in problems], separators=(",", ":"))
    return validation_error(
        f"Property values were not valid: {listing}",
        errors=[
            {"message": problem.message, "code": problem.error, "context": {"propertyName": [problem.name]}}
            for problem in problems
        ],
    )


def not_found(message: str, *, context: Mapping[str, Sequence[str]] | None = None) -> ApiError:
    return ApiError(404, "OBJECT_NOT_FOUND", message, context=context)


def conflict(message: str) -> ApiError:
    return ApiError(409, "CONFLICT", message)


def missing_scopes(required: Sequence[str]) -> ApiError:
    """403 as HubSpot sends it for a token without the scope (or a portal without the product)."""
    return ApiError(
        403,
        "MISSING_SCOPES",
        "This app hasn't been granted all required scopes to make this call. "
        f"Read more about required scopes here: {SCOPES_LINK}.",
        errors=[
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredGranularScopes": list(required)},
            }
        ],
        links={"scopes": SCOPES_LINK},
    )


def invalid_authentication(message: str) -> ApiError:
    return ApiError(401, "INVALID_AUTHENTICATION", message)


def server_error(status: int) -> ApiError:
    """Injected 5xx. HubSpot's real 502/503/504 often come from its edge; a JSON body keeps clients simple."""
    messages = {500: "internal error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
    return ApiError(status, "INTERNAL_ERROR", messages.get(status, "internal error"))


def rate_limit_body(policy_name: str) -> JsonObject:
    """429 body (facts §7.2): no ``category``, ``errorType`` RATE_LIMIT and the policy that tripped."""
    message = {
        "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
        "SECONDLY": "You have reached your secondly limit.",
        "DAILY": "You have reached your daily limit.",
    }[policy_name]
    return {
        "status": "error",
        "message": message,
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id(),
        "policyName": policy_name,
    }
