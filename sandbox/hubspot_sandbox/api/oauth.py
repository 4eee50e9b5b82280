"""Private-app token introspection: ``POST /oauth/v2/private-apps/get/access-token-info``.

HubSpot documents it for private-app tokens: the body names the token (``{"tokenKey": ...}``), no bearer header
is needed, and the answer lists the token's scopes, which lets a client check its scopes before it writes. The
answer for an unknown token is UNCONFIRMED; we answer 400 BAD_REQUEST, the safest reading for a client (an error
it must not mistake for "no scopes").
"""

from __future__ import annotations

from hubspot_sandbox.api.wire import json_response
from hubspot_sandbox.errors import ApiError
from hubspot_sandbox.http_types import HttpResponse
from hubspot_sandbox.routing import RequestContext, Route, RouteKind

PORTAL_ID = 1234567


def token_info(ctx: RequestContext) -> HttpResponse:
    body = ctx.request.json()
    token = body.get("tokenKey") if isinstance(body, dict) else None
    scopes = ctx.tokens.get(token) if isinstance(token, str) else None
    if scopes is None:
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
