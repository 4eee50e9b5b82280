"""Associations v4: batch read, per-record listing, create (labelled / default) and delete (assoc_v4.json).

Batch read (facts §4.1): at most 1000 inputs; per input at most 500 associations, then ``paging.next.after``
(to send back with that input's ``id``). An input with no associations — or that doesn't exist — comes back as a
207 error of category OBJECT_NOT_FOUND with subCategory ``crm.associations.NO_ASSOCIATIONS_FOUND`` and
``context.fromObjectId``, the shape several public integrations report from real portals (3RD-PARTY; the spec
itself is silent). ``toObjectId`` is sent as an integer as HubSpot does on the wire, although the spec types it
as a string (the SDK's ``str`` model accepts both).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from hubspot_sandbox.api.wire import (
    batch_inputs,
    batch_response,
    input_id,
    json_response,
    next_page,
    read_scopes,
    resolve_type,
    standard_error,
    write_scopes,
)
from hubspot_sandbox.associations import PRIMARY_LABEL, association_kind
from hubspot_sandbox.catalog import ObjectType
from hubspot_sandbox.errors import JsonObject, validation_error
from hubspot_sandbox.http_types import HttpResponse
from hubspot_sandbox.portal import AssociatedRecord
from hubspot_sandbox.routing import RequestContext, Route, RouteKind
from hubspot_sandbox.timefmt import now_ms

MAX_BATCH_READ_INPUTS = 1000
ASSOCIATIONS_PAGE_SIZE = 500
HUBSPOT_DEFINED = "HUBSPOT_DEFINED"


def _types(params: Mapping[str, str]) -> tuple[ObjectType, ObjectType]:
    return resolve_type(params, "fromObjectType"), resolve_type(params, "toObjectType")


@cache
def _association_types(source: str, target: str, type_ids: tuple[int, ...]) -> tuple[JsonObject, ...]:
    """``AssociationSpecWithLabel`` entries; cached because a 1000-input read repeats the same few (read-only)."""
    kind = association_kind(source, target)
    primary = kind.direction(source).primary if kind is not None else None
    return tuple(
        {"category": HUBSPOT_DEFINED, "typeId": type_id, "label": PRIMARY_LABEL if type_id == primary else None}
        for type_id in type_ids
    )


def _to_entry(source: ObjectType, target: ObjectType, link: AssociatedRecord) -> JsonObject:
    """``MultiAssociatedObjectWithLabel``."""
    return {
        "toObjectId": int(link.to_id),
        "associationTypes": _association_types(source.name, target.name, link.type_ids),
    }


def batch_read(ctx: RequestContext) -> HttpResponse:
    started = now_ms()
    source, target = _types(ctx.params)
    inputs = batch_inputs(ctx.request.json(), limit=MAX_BATCH_READ_INPUTS)
    requests = [(input_id(item), _after_of(item)) for item in inputs]
    pages = ctx.portal.association_pages(source.name, target.name, requests, ASSOCIATIONS_PAGE_SIZE)
    results: list[JsonObject] = []
    errors: list[JsonObject] = []
    for (record_id, _), page in zip(requests, pages, strict=True):
        if page is None:
            errors.append(
                standard_error(
                    "OBJECT_NOT_FOUND",
                    f"No {target.singular} is associated with {source.singular} {record_id}.",
                    {
                        "fromObjectId": [record_id],
                        "fromObjectType": [source.singular],
                        "toObjectType": [target.singular],
                    },
                    sub_category="crm.associations.NO_ASSOCIATIONS_FOUND",
                )
            )
            continue
        result: JsonObject = {"from": {"id": record_id}, "to": [_to_entry(source, target, link) for link in page.links]}
        if page.next_after is not None:
            result["paging"] = next_page(page.next_after)
        results.append(result)
    return batch_response(results, errors, started)


def _after_of(item: object) -> str | None:
    after = item.get("after") if isinstance(item, Mapping) else None
    return None if after is None else str(after)


def list_for_record(ctx: RequestContext) -> HttpResponse:
    source, target = _types(ctx.params)
    limit = min(max(ctx.request.query_int("limit", ASSOCIATIONS_PAGE_SIZE), 1), ASSOCIATIONS_PAGE_SIZE)
    record_id = ctx.params["fromId"]
    page = ctx.portal.association_pages(
        source.name, target.name, [(record_id, ctx.request.query_value("after"))], limit
    )[0]
    body: JsonObject = {"results": [] if page is None else [_to_entry(source, target, link) for link in page.links]}
    if page is not None and page.next_after is not None:
        body["paging"] = next_page(page.next_after)
    return json_response(body)


def create_labelled(ctx: RequestContext) -> HttpResponse:
    source, target = _types(ctx.params)
    specs = ctx.request.json()
    if not isinstance(specs, list) or not specs:
        raise validation_error("Body must be a non-empty list of {associationCategory, associationTypeId}")
    type_ids: list[int] = []
    for spec in specs:
        if not isinstance(spec, Mapping) or spec.get("associationCategory") != HUBSPOT_DEFINED:
            raise validation_error("The sandbox supports HUBSPOT_DEFINED association types only")
        type_ids.append(int(spec.get("associationTypeId", 0)))
    from_id, to_id = ctx.params["fromId"], ctx.params["toId"]
    ctx.portal.associate(source.name, from_id, target.name, to_id, type_ids)
    link = next(item for item in ctx.portal.associations(source.name, from_id, target.name) if item.to_id == to_id)
    labels = [spec["label"] for spec in _association_types(source.name, target.name, link.type_ids) if spec["label"]]
    return json_response(
        {
            "fromObjectTypeId": source.type_id,
            "fromObjectId": from_id,
            "toObjectTypeId": target.type_id,
            "toObjectId": to_id,
            "labels": labels,
        },
        201,
    )


def create_default(ctx: RequestContext) -> HttpResponse:
    """The default (unlabeled) type, both directions reported, as ``BatchResponsePublicDefaultAssociation``."""
    started = now_ms()
    source, target = _types(ctx.params)
    from_id, to_id = ctx.params["fromId"], ctx.params["toId"]
    ctx.portal.associate(source.name, from_id, target.name, to_id)
    kind = association_kind(source.name, target.name)
    assert kind is not None  # associate() rejected unknown pairs
    results = [
        {
            "from": {"id": a_id},
            "to": {"id": b_id},
            "associationSpec": {
                "associationCategory": HUBSPOT_DEFINED,
                "associationTypeId": kind.direction(a_type.name).unlabeled,
            },
        }
        for a_type, a_id, b_id in ((source, from_id, to_id), (target, to_id, from_id))
    ]
    return batch_response(results, [], started)


def delete_association(ctx: RequestContext) -> HttpResponse:
    source, target = _types(ctx.params)
    ctx.portal.dissociate(source.name, ctx.params["fromId"], target.name, ctx.params["toId"])
    return HttpResponse(204)


_RECORD_ASSOCIATIONS = "/crm/v4/objects/{fromObjectType}/{fromId}/associations"
ROUTES = [
    Route(
        "POST",
        "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read",
        batch_read,
        RouteKind.READ,
        read_scopes("fromObjectType", "toObjectType"),
        burst_exempt=True,  # assoc_v4.json
    ),
    Route(
        "GET",
        _RECORD_ASSOCIATIONS + "/{toObjectType}",
        list_for_record,
        RouteKind.READ,
        read_scopes("fromObjectType", "toObjectType"),
    ),
    Route(
        "PUT",
        _RECORD_ASSOCIATIONS + "/default/{toObjectType}/{toId}",
        create_default,
        RouteKind.WRITE,
        write_scopes("fromObjectType"),
    ),
    Route(
        "PUT",
        _RECORD_ASSOCIATIONS + "/{toObjectType}/{toId}",
        create_labelled,
        RouteKind.WRITE,
        write_scopes("fromObjectType"),
    ),
    Route(
        "DELETE",
        _RECORD_ASSOCIATIONS + "/{toObjectType}/{toId}",
        delete_association,
        RouteKind.WRITE,
        write_scopes("fromObjectType"),
    ),
]
