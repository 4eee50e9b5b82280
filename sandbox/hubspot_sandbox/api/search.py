"""CRM search: ``POST /crm/v3/objects/{objectType}/search`` (``CollectionResponseWithTotalSimplePublicObject``)."""

from __future__ import annotations

from hubspot_sandbox.api.wire import json_response, next_page, read_scopes, resolve_type, simple_public_object
from hubspot_sandbox.errors import JsonObject
from hubspot_sandbox.http_types import HttpResponse
from hubspot_sandbox.routing import RequestContext, Route, RouteKind
from hubspot_sandbox.search_query import parse_search_request


def search(ctx: RequestContext) -> HttpResponse:
    object_type = resolve_type(ctx.params)
    query = parse_search_request(ctx.request.json() or {}, object_type)
    page, records = ctx.portal.search(object_type.name, query)
    body: JsonObject = {"total": page.total, "results": [simple_public_object(record) for record in records]}
    if page.next_offset is not None:
        body["paging"] = next_page(str(page.next_offset))
    return json_response(body)


ROUTES = [
    Route(
        "POST",
        "/crm/v3/objects/{objectType}/search",
        search,
        RouteKind.SEARCH,
        read_scopes("objectType"),
        burst_exempt=True,
    ),
]
