"""Private-app token introspection: ``POST /oauth/v2/private-apps/get/access-token-info``.

HubSpot documents it for private-app tokens: the body names the token (``{"tokenKey": ...}``), no bearer header
is needed, and the answer lists the token's scopes, which lets a client check its scopes before it writes
[OFFICIAL-DOC https://developers.hubspot.com/docs/apps/legacy-apps/private-apps/overview]. Only legacy private-app
tokens can be introspected here: service keys (HubSpot's replacement for new private apps, changelog
https://developers.hubspot.com/changelog/service-keys) and OAuth tokens (which have ``/oauth/v1/access-tokens/{token}``)
are not private-app tokens. They still work for every CRM call, with their own scopes, so a missing scope shows only
as a 403 when it is used. The answer for an unknown token, and for a token of another kind, is UNCONFIRMED; both get
400 BAD_REQUEST, the safest reading for a client (an error it must not mistake for "no scopes").
"""

from __future__ import annotations

from hubspot_sandbox.api.wire import json_response
from hubspot_sandbox.errors import ApiError
from hubspot_sandbox.http_types import HttpResponse
from hubspot_sandbox.routing import RequestContext, Route, RouteKind
from hubspot_sandbox.settings import TokenKind

PORTAL_ID = 1234567


def token_info(ctx: RequestContext) -> HttpResponse:
    body = ctx.request.json()
    token = body.get("tokenKey") if isinstance(body, dict) else None
    settings = ctx.settings
    scopes = settings.tokens.get(token) if isinstance(token, str) else None
    if scopes is None or settings.token_kind(str(token)) is not TokenKind.PRIVATE_APP:
        raise ApiError(400, "BAD_REQUEST", "The token key is not a valid private app access token.")
    return json_response({"userId": 1, "hubId": PORTAL_ID, "appId": 1, "scopes": sorted(scopes)})


ROUTES = [
    Route(
        "POST",
        "/oauth/v2/private-apps/get/access-token-info",
        token_info,
        RouteKind.READ,
        lambda _params: (),
        bearer=False,
    )
]
