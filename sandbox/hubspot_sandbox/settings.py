"""Run-time settings of a sandbox: limits, lag, workflow delay, faults, tokens, rule enforcement.

Limits and faults default to off; where HubSpot's behaviour is unclear, the default is the harsher reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from hubspot_sandbox.history import API_SOURCE, ChangeSource

AUTOMATION_SCOPE = "automation"
ALL_SCOPES: frozenset[str] = frozenset(
    {
        "crm.objects.contacts.read",
        "crm.objects.contacts.write",
        "crm.objects.companies.read",
        "crm.objects.companies.write",
        "crm.objects.deals.read",
        "crm.objects.deals.write",
        "crm.schemas.contacts.write",  # editing a property (its options), properties.json
        "crm.schemas.companies.write",
        AUTOMATION_SCOPE,
    }
)
# A fake private-app token; it only ever unlocks a local sandbox.
DEFAULT_TOKEN = "pat-sandbox-00000000-0000-0000-0000-000000000000"  # noqa: S105


class TokenKind(StrEnum):
    """What issued a token; only legacy private-app tokens can be introspected (``api/oauth.py``)."""

    PRIVATE_APP = "private_app"
    SERVICE_KEY = "service_key"  # HubSpot's replacement for new private apps (changelog "service-keys")
    OAUTH = "oauth"  # a public app's OAuth access token


@dataclass(frozen=True, slots=True)
class FaultSettings:
    """Seeded, reproducible faults: 5xx before doing anything, 5xx after a write was applied, added latency."""

    seed: int = 0
    error_rate: float = 0.0  # share of API calls answered with a 5xx before anything happens
    lost_write_rate: float = 0.0  # share of successful writes whose response is replaced by a 502
    latency_ms: float = 0.0  # added to every API call
    error_statuses: tuple[int, ...] = (500, 502, 503, 504)


@dataclass(frozen=True, slots=True)
class SandboxSettings:
    burst_limit_per_10s: int | None = None  # all API calls, rolling 10 s window (TEN_SECONDLY_ROLLING)
    search_limit_per_second: int | None = None  # search calls, rolling 1 s window (SECONDLY)
    # Calls HubSpot's specs exempt from the ten-secondly limit stay out of the burst window; False models a portal
    # that counts them anyway (the specs' promise not holding).
    rate_limit_exemptions: bool = True
    daily_limit: int | None = None  # all API calls per UTC day (DAILY)
    index_lag_ms: int = 0  # search sees writes only once they are this old
    workflow_delay_seconds: float = 1.0  # enrollment -> action of acting flows
    faults: FaultSettings = FaultSettings()
    tokens: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({DEFAULT_TOKEN: ALL_SCOPES}))
    # Tokens of another kind than a private-app token (the default): they work, but cannot be introspected.
    token_kinds: Mapping[str, TokenKind] = field(default_factory=lambda: MappingProxyType({}))
    workflows_entitled: bool = True  # False: flows answer 403 MISSING_SCOPES even with the automation scope
    request_log: bool = False  # keep (arrival time, endpoint, status) of every API call: GET /_sandbox/requests
    # What property history records for API writes (and the record source of API-created records). HubSpot's
    # value for a private app's writes is UNCONFIRMED (history.py): "API" by default; an app's token likely
    # reads ChangeSource("INTEGRATION", "<app id>").
    api_write_source: ChangeSource = API_SOURCE
    # Whether the legacy v3 object endpoints enforce the portal's validation rules as the 2026-09 ones do.
    # UNCONFIRMED for the 2026-09 rules; on by default, the harsher case (validation_rules.py).
    validation_rules_on_v3: bool = True

    def __post_init__(self) -> None:
        unknown = set(self.token_kinds) - set(self.tokens)
        if unknown:
            raise ValueError(f"token_kinds names tokens that are not in tokens: {sorted(unknown)}")

    @property
    def token(self) -> str:
        """The private-app token with every scope (else the first token with every scope, else the first)."""
        full = [token for token, scopes in self.tokens.items() if scopes >= ALL_SCOPES]
        private = [token for token in full if self.token_kind(token) is TokenKind.PRIVATE_APP]
        return next(iter(private or full), next(iter(self.tokens)))

    def token_kind(self, token: str) -> TokenKind:
        return self.token_kinds.get(token, TokenKind.PRIVATE_APP)

    def updated(self, **changes: Any) -> SandboxSettings:
        """A copy with ``changes`` (field names); ``faults`` may be a FaultSettings or a mapping of its fields,
        ``api_write_source`` a ChangeSource or its wire form (``{"sourceType": ..., "sourceId": ...}``)."""
        known = {item.name for item in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise TypeError(f"unknown sandbox settings: {sorted(unknown)}")
        faults = changes.get("faults")
        if isinstance(faults, Mapping):
            changes["faults"] = replace(self.faults, **_fault_fields(faults))
        source = changes.get("api_write_source")
        if isinstance(source, Mapping):
            try:
                changes["api_write_source"] = ChangeSource.from_wire(source)
            except ValueError as error:
                raise TypeError(f"api_write_source: {error}") from None
        tokens = changes.get("tokens")
        if tokens is not None:
            changes["tokens"] = MappingProxyType({str(token): frozenset(scopes) for token, scopes in tokens.items()})
        kinds = changes.get("token_kinds")
        if kinds is not None:
            changes["token_kinds"] = MappingProxyType({str(token): TokenKind(kind) for token, kind in kinds.items()})
        return replace(self, **changes)

    def as_json(self) -> dict[str, Any]:
        data = {item.name: getattr(self, item.name) for item in fields(self)}
        data["faults"] = {**asdict(self.faults), "error_statuses": list(self.faults.error_statuses)}
        data["tokens"] = {token: sorted(scopes) for token, scopes in self.tokens.items()}
        data["api_write_source"] = self.api_write_source.as_wire()
        data["token_kinds"] = {token: str(kind) for token, kind in self.token_kinds.items()}
        return data


def _fault_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    known = {item.name for item in fields(FaultSettings)}
    unknown = set(raw) - known
    if unknown:
        raise TypeError(f"unknown fault settings: {sorted(unknown)}")
    result = dict(raw)
    if "error_statuses" in result:
        result["error_statuses"] = tuple(int(status) for status in result["error_statuses"])
    return result
