"""Endpoints the SDK has no generated client for: Automation v4 flows and private-app token introspection.

hubspot-api-client 12 reaches them through ``client.api_request(options)``, which builds the request (base URL
from ``base_url``, not ``host``; the bearer token; JSON body) and sends it with a bare ``requests.<method>`` call:
no timeout, no connection reuse, and it prints errors to stdout (``hubspot/utils/requests/http_request_builder.py``).
So the SDK's own ``Request`` builds each request here, exactly as ``api_request`` would, and it is sent on one
keep-alive ``requests.Session`` with our timeout: a stalled flows endpoint fails the attempt instead of holding
the Lambda until its own timeout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from hubspot import HubSpot
from hubspot.utils.requests.http_request_builder import Request

from lifecycle_guard.crm import AuthenticationFailed, MissingScopes, NotFound, RequestRejected
from lifecycle_guard.gateway.transport import REQUEST_TIMEOUT, Transport

FLOWS_PAGE_SIZE = 100
TOKEN_INFO_PATH = "/oauth/v2/private-apps/get/access-token-info"  # noqa: S105 - a path, not a secret


class ApiRequestSender:
    """Sends one ``api_request``-style call: built by the SDK, sent with our session and timeout."""

    def __init__(self, transport: Transport, client: HubSpot) -> None:
        self._transport = transport
        self._config = client.config
        self._session = requests.Session()

    def send(self, endpoint: str, options: Mapping[str, Any], *, idempotent: bool = True) -> dict[str, Any]:
        def call() -> tuple[int, Mapping[str, str], bytes]:
            request = Request(self._config, dict(options))
            response = self._session.request(
                request.get_method(), request.get_url(), timeout=REQUEST_TIMEOUT, **request.get_options_for_sending()
            )
            return response.status_code, response.headers, response.content

        return self._transport.send(endpoint, call, idempotent=idempotent)


@dataclass(frozen=True)
class TokenCheck:
    """What HubSpot's introspection says of the token: its scopes and its portal (``hubId``), each None when
    HubSpot cannot say (an OAuth token, a service key): a missing scope then shows as a 403 instead."""

    scopes: frozenset[str] | None
    portal_id: int | None


class TokenInfo:
    def __init__(self, sender: ApiRequestSender, token: str) -> None:
        self._sender = sender
        self._token = token

    def check(self) -> TokenCheck:
        """Private-app token introspection: one request."""
        options = {"method": "POST", "path": TOKEN_INFO_PATH, "body": {"tokenKey": self._token}}
        try:
            reply = self._sender.send(f"POST {TOKEN_INFO_PATH}", options)
        except (RequestRejected, NotFound, MissingScopes, AuthenticationFailed):
            return TokenCheck(None, None)
        scopes, hub_id = reply.get("scopes"), reply.get("hubId")
        return TokenCheck(
            frozenset(str(scope) for scope in scopes) if isinstance(scopes, list) else None,
            hub_id if isinstance(hub_id, int) and not isinstance(hub_id, bool) else None,
        )


class FlowEndpoints:
    """The ``Flows`` protocol: Automation v4 flows."""

    def __init__(self, sender: ApiRequestSender) -> None:
        self._send = sender.send

    def list_flows(self) -> list[dict[str, Any]]:
        flows: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            query: dict[str, Any] = {"limit": FLOWS_PAGE_SIZE}
            if after:
                query["after"] = after
            reply = self._send(
                "GET /automation/v4/flows", {"method": "GET", "path": "/automation/v4/flows", "qs": query}
            )
            flows.extend(reply.get("results", []))
            after = ((reply.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return flows

    def get_flow(self, flow_id: str) -> dict[str, Any]:
        return self._send("GET /automation/v4/flows/{id}", {"method": "GET", "path": f"/automation/v4/flows/{flow_id}"})

    def create_flow(self, flow: Mapping[str, Any]) -> dict[str, Any]:
        options = {"method": "POST", "path": "/automation/v4/flows", "body": dict(flow)}
        return self._send("POST /automation/v4/flows", options, idempotent=False)

    def replace_flow(self, flow_id: str, flow: Mapping[str, Any]) -> dict[str, Any]:
        options = {"method": "PUT", "path": f"/automation/v4/flows/{flow_id}", "body": dict(flow)}
        return self._send("PUT /automation/v4/flows/{id}", options)
