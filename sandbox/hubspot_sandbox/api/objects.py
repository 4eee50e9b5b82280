"""CRM objects v3: single-record CRUD, listing and the batch endpoints (contacts.json/companies.json/deals.json).

Batch semantics (facts §3): at most 100 inputs; a duplicate id in batch/update is a 400; an invalid value anywhere
is a 400 VALIDATION_ERROR and nothing in the batch is applied; ids that don't exist (or are archived) come back as
one OBJECT_NOT_FOUND error with ``context.ids`` in a 207 while the rest is applied (UNCONFIRMED for batch/update,
the commonly reported shape). Updated records come back with their stored value, so a silently ignored backward
lifecycle set shows the old value (UNCONFIRMED in HubSpot; clients must read back anyway).

Writes also answer to the portal's validation rules (:mod:`hubspot_sandbox.validation_rules`): always on the
date-versioned ``POST /crm/objects/2026-09/{objectType}/batch/update`` (contacts_2026-09.json: 200 with
``errors``/``numErrors`` in the body, never 207), on the v3 endpoints while ``validation_rules_on_v3`` is on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from hubspot_sandbox.api.wire import (
    batch_inputs,
    batch_response,
    input_id,
    json_response,
    next_page,
    read_scopes,
    resolve_type,
    simple_public_object,
    standard_error,
    string_list,
    write_scopes,
)
from hubspot_sandbox.catalog import ObjectType
from hubspot_sandbox.errors import JsonObject, not_found, validation_error
from hubspot_sandbox.http_types import HttpResponse
from hubspot_sandbox.routing import RequestContext, Route, RouteKind
from hubspot_sandbox.timefmt import now_ms

MAX_HISTORY_BATCH_INPUTS = 50
DEFAULT_LIST_LIMIT = 10
MAX_LIST_LIMIT = 100  # larger limits are clamped (UNCONFIRMED: HubSpot documents 100 as the list maximum)
# With propertiesWithHistory the spec says the list's maximum page shrinks; the SDK's get_all pages 50 at a time
# then (facts §8, SDK utils/objects.py). Clamped like the plain maximum (UNCONFIRMED: clamp rather than 400).
MAX_HISTORY_LIST_LIMIT = 50


def _missing_error(object_type: ObjectType, ids: list[str]) -> JsonObject:
    return standard_error(
        "OBJECT_NOT_FOUND",
        f"Could not get some {object_type.upper_name} objects, they may be deleted or not exist. "
        "Check that ids are valid.",
        {"ids": ids},
    )


def _object_not_found(record_id: str) -> Exception:
    return not_found("Object not found.  objectId are usually numeric.", context={"id": [record_id]})


def _body_object(ctx: RequestContext) -> Mapping[str, object]:
    body = ctx.request.json()
    if not isinstance(body, Mapping):
        raise validation_error("Request body must be a JSON object")
    return body


def list_records(ctx: RequestContext) -> HttpResponse:
    object_type = resolve_type(ctx.params)
    request = ctx.request
    history = request.query_list("propertiesWithHistory")
    maximum = MAX_HISTORY_LIST_LIMIT if history else MAX_LIST_LIMIT
    limit = min(max(request.query_int("limit", DEFAULT_LIST_LIMIT), 1), maximum)
    records, following = ctx.portal.list_records(
        object_type.name,
        limit=limit,
        after=request.query_value("after"),
        properties=request.query_list("properties"),
        history_properties=history,
        archived=request.query_bool("archived"),
    )
    body: JsonObject = {"results": [simple_public_object(record) for record in records]}
    if following is not None:
        body["paging"] = next_page(following)
    return json_response(body)


def get_record(ctx: RequestContext) -> HttpResponse:
    object_type = resolve_type(ctx.params)
    request = ctx.request
    record_id = ctx.params["recordId"]
    found, _ = ctx.portal.read_records(
        object_type.name,
        [record_id],
        request.query_list("properties"),
        request.query_list("propertiesWithHistory"),
        archived=request.query_bool("archived"),
    )
    if not found:
        raise _object_not_found(record_id)
    return json_response(simple_public_object(found[0]))


def create_record(ctx: RequestContext) -> HttpResponse:
    object_type = resolve_type(ctx.params)
    created, outcome = ctx.portal.create_records(
        object_type.name, [_body_object(ctx)], ctx.write_source, check_rules=ctx.settings.validation_rules_on_v3
    )
    return HttpResponse(201, simple_public_object(created[0]), outcome=outcome)


def update_record(ctx: RequestContext) -> HttpResponse:
    object_type = resolve_type(ctx.params)
    record_id = ctx.params["recordId"]
    result = ctx.portal.update_records(
        object_type.name,
        [(record_id, _properties_of(_body_object(ctx)))],
        ctx.write_source,
        check_rules=ctx.settings.validation_rules_on_v3,
    )
    if result.missing_ids:
        raise _object_not_found(record_id)
    return HttpResponse(200, simple_public_object(result.records[0]), outcome=result.outcome)


def archive_record(ctx: RequestContext) -> HttpResponse:
    object_type = resolve_type(ctx.params)
    ctx.portal.archive_records(object_type.name, [ctx.params["recordId"]])
    return HttpResponse(204)


def batch_read(ctx: RequestContext) -> HttpResponse:
    started = now_ms()
    object_type = resolve_type(ctx.params)
    body = _body_object(ctx)
    history = string_list(body, "propertiesWithHistory")
    limit = MAX_HISTORY_BATCH_INPUTS if history else None
    inputs = batch_inputs(body) if limit is None else _history_inputs(body)
    _reject_id_property(body)
    ids = [input_id(item) for item in inputs]
    found, missing = ctx.portal.read_records(
        object_type.name, ids, string_list(body, "properties"), history, archived=bool(body.get("archived", False))
    )
    errors = [_missing_error(object_type, missing)] if missing else []
    return batch_response([simple_public_object(record) for record in found], errors, started)


def _reject_id_property(body: Mapping[str, object]) -> None:
    if body.get("idProperty") not in (None, "", "hs_object_id"):
        raise validation_error("The sandbox supports record ids only (no idProperty)")


def _history_inputs(body: Mapping[str, object]) -> list[object]:
    inputs = batch_inputs(body)
    if len(inputs) > MAX_HISTORY_BATCH_INPUTS:
        raise validation_error(
            f"The maximum number of inputs supported in a batch request for property histories "
            f"is {MAX_HISTORY_BATCH_INPUTS}. Please reduce the number of inputs."
        )
    return inputs


def _properties_of(item: object) -> Mapping[str, object]:
    properties = item.get("properties") if isinstance(item, Mapping) else None
    if not isinstance(properties, Mapping):
        raise validation_error("Each input needs a properties object")
    return properties


def batch_update(ctx: RequestContext) -> HttpResponse:
    """v3: 207 when some ids don't exist."""
    return _batch_update(ctx, check_rules=ctx.settings.validation_rules_on_v3, partial_status=207)


def batch_update_2026_09(ctx: RequestContext) -> HttpResponse:
    """API version 2026-09: validation rules always apply; missing ids come back in a 200's ``errors``."""
    return _batch_update(ctx, check_rules=True, partial_status=200)


def _batch_update(ctx: RequestContext, *, check_rules: bool, partial_status: int) -> HttpResponse:
    started = now_ms()
    object_type = resolve_type(ctx.params)
    body = _body_object(ctx)
    inputs = batch_inputs(body)
    _reject_id_property(body)
    for item in inputs:
        if isinstance(item, Mapping):
            _reject_id_property(item)
    updates = [(input_id(item), _properties_of(item)) for item in inputs]
    duplicates = sorted(
        record_id for record_id, count in Counter(record_id for record_id, _ in updates).items() if count > 1
    )
    if duplicates:
        raise validation_error(f"Duplicate IDs found in batch input: [{', '.join(duplicates)}]. IDs must be unique")
    result = ctx.portal.update_records(object_type.name, updates, ctx.write_source, check_rules=check_rules)
    errors = [_missing_error(object_type, result.missing_ids)] if result.missing_ids else []
    response = batch_response(
        [simple_public_object(record) for record in result.records], errors, started, partial_status=partial_status
    )
    response.outcome = result.outcome
    return response


def batch_create(ctx: RequestContext) -> HttpResponse:
    started = now_ms()
    object_type = resolve_type(ctx.params)
    inputs = batch_inputs(ctx.request.json())
    for item in inputs:
        _properties_of(item)
    created, outcome = ctx.portal.create_records(
        object_type.name, inputs, ctx.write_source, check_rules=ctx.settings.validation_rules_on_v3
    )
    response = batch_response([simple_public_object(record) for record in created], [], started, 201)
    response.outcome = outcome
    return response


def batch_archive(ctx: RequestContext) -> HttpResponse:
    object_type = resolve_type(ctx.params)
    ids = [input_id(item) for item in batch_inputs(ctx.request.json())]
    ctx.portal.archive_records(object_type.name, ids)
    return HttpResponse(204)


_OBJECT = "/crm/v3/objects/{objectType}"
ROUTES = [
    Route("GET", _OBJECT, list_records, RouteKind.READ, read_scopes("objectType")),
    Route("POST", _OBJECT, create_record, RouteKind.WRITE, write_scopes()),
    Route("POST", _OBJECT + "/batch/read", batch_read, RouteKind.READ, read_scopes("objectType")),
    Route("POST", _OBJECT + "/batch/update", batch_update, RouteKind.WRITE, write_scopes()),
    Route("POST", _OBJECT + "/batch/create", batch_create, RouteKind.WRITE, write_scopes()),
    Route("POST", _OBJECT + "/batch/archive", batch_archive, RouteKind.WRITE, write_scopes()),
    Route("GET", _OBJECT + "/{recordId}", get_record, RouteKind.READ, read_scopes("objectType")),
    Route("PATCH", _OBJECT + "/{recordId}", update_record, RouteKind.WRITE, write_scopes()),
    Route("DELETE", _OBJECT + "/{recordId}", archive_record, RouteKind.WRITE, write_scopes()),
    Route(
        "POST", "/crm/objects/2026-09/{objectType}/batch/update", batch_update_2026_09, RouteKind.WRITE, write_scopes()
    ),
]
