"""Automation v4 flows: list, create, batch read, get, full-replace PUT, delete (automationV4.json).

Every route needs the ``automation`` scope and the portal's workflows entitlement (403 MISSING_SCOPES otherwise,
facts §6.1). Validation rules live in :mod:`hubspot_sandbox.flows`.
"""

from __future__ import annotations

from hubspot_sandbox.api.wire import (
    automation_scopes,
    batch_inputs,
    batch_response,
    input_id,
    json_response,
    next_page,
    standard_error,
)
from hubspot_sandbox.errors import JsonObject
from hubspot_sandbox.flows import flow_not_found
from hubspot_sandbox.http_types import HttpResponse
from hubspot_sandbox.routing import RequestContext, Route, RouteKind
from hubspot_sandbox.timefmt import now_ms

DEFAULT_LIST_LIMIT = 100


def list_flows(ctx: RequestContext) -> HttpResponse:
    """``CollectionResponseApiFlowListingForwardPaging``; ``after`` is an offset cursor."""
    listings = ctx.portal.flow_listings()
    limit = max(ctx.request.query_int("limit", DEFAULT_LIST_LIMIT), 1)
    offset = max(ctx.request.query_int("after", 0), 0)
    body: JsonObject = {"results": listings[offset : offset + limit]}
    if offset + limit < len(listings):
        body["paging"] = next_page(str(offset + limit))
    return json_response(body)


def create_flow(ctx: RequestContext) -> HttpResponse:
    flow = ctx.portal.create_flow(ctx.request.json())
    return json_response(flow, 201, {"Location": f"{ctx.request.base_url}/automation/v4/flows/{flow['id']}"})


def get_flow(ctx: RequestContext) -> HttpResponse:
    flow = ctx.portal.flow(ctx.params["flowId"])
    if flow is None:
        raise flow_not_found(ctx.params["flowId"])
    return json_response(flow)


def replace_flow(ctx: RequestContext) -> HttpResponse:
    return json_response(ctx.portal.replace_flow(ctx.params["flowId"], ctx.request.json()))


def delete_flow(ctx: RequestContext) -> HttpResponse:
    ctx.portal.delete_flow(ctx.params["flowId"])
    return HttpResponse(204)


def batch_read_flows(ctx: RequestContext) -> HttpResponse:
    """Inputs ``[{"flowId": ..., "type": "FLOW_ID"}]``; unknown ids come back as 207 errors."""
    started = now_ms()
    ids = [input_id(item, "flowId") for item in batch_inputs(ctx.request.json())]
    flows = [(flow_id, ctx.portal.flow(flow_id)) for flow_id in ids]
    missing = [flow_id for flow_id, flow in flows if flow is None]
    errors = [standard_error("OBJECT_NOT_FOUND", "Some flows do not exist", {"flowIds": missing})] if missing else []
    return batch_response([flow for _, flow in flows if flow is not None], errors, started)


_FLOWS = "/automation/v4/flows"
ROUTES = [
    Route("GET", _FLOWS, list_flows, RouteKind.READ, automation_scopes, needs_workflows=True),
    # automationV4.json exempts the flow create and update from the ten-secondly limit.
    Route("POST", _FLOWS, create_flow, RouteKind.WRITE, automation_scopes, needs_workflows=True, burst_exempt=True),
    Route("POST", _FLOWS + "/batch/read", batch_read_flows, RouteKind.READ, automation_scopes, needs_workflows=True),
    Route("GET", _FLOWS + "/{flowId}", get_flow, RouteKind.READ, automation_scopes, needs_workflows=True),
    Route(
        "PUT",
        _FLOWS + "/{flowId}",
        replace_flow,
        RouteKind.WRITE,
        automation_scopes,
        needs_workflows=True,
        burst_exempt=True,
    ),
    Route("DELETE", _FLOWS + "/{flowId}", delete_flow, RouteKind.WRITE, automation_scopes, needs_workflows=True),
]
