"""Properties v3 and pipelines v3: what the job reads to learn stage order and closed-won stages.

``lifecyclestage`` comes back as HubSpot's full ``Property`` (enumeration, fieldType radio, options with
displayOrder). Deal pipelines carry stage metadata ``isClosed``/``probability`` as strings. Contacts and companies
also expose the lifecycle "pipeline" (facts §1.2 B, 3RD-PARTY) whose stage ids are the lifecyclestage values.
Default pipelines report ``createdAt`` = epoch 0, as the spec describes.

``PATCH /crm/v3/properties/{objectType}/lifecyclestage`` with ``options`` replaces the stage options ("Provided
fields will be overwritten", properties.json ``PropertyUpdate``): an option left out is deleted — records keep the
value, new writes of it fail with INVALID_OPTION — and ``hidden: true`` keeps it listed and writable (UNCONFIRMED:
that HubSpot still accepts API writes of a hidden option, and that it lets the Properties API edit lifecycle stages
at all rather than only the stage settings page). Contacts and companies share one stage list (facts §1.1), so a
PATCH through either changes both. No other property or field can be changed here.

Deleting a stage: HubSpot's settings page deletes only a stage no record holds and no tool uses - "If the stage
you're trying to delete contains records or is used in other HubSpot tools, you'll need to move the records to a
new stage and/or remove the stage as a reference in the HubSpot tools" [OFFICIAL-DOC
https://knowledge.hubspot.com/object-settings/create-and-customize-lifecycle-stages]. The sandbox also deletes a
stage that still has records (they keep the value): harsher than the UI, and UNCONFIRMED for any HubSpot path (the
API may refuse it like the UI). Tests that need a realistic deletion delete a stage while it is empty, e.g. a custom
target stage before the first write of it.
"""

from __future__ import annotations

from collections.abc import Mapping

from hubspot_sandbox.api.wire import json_response, read_scopes, resolve_type
from hubspot_sandbox.catalog import (
    DEALSTAGE,
    LIFECYCLESTAGE,
    PIPELINE,
    ObjectType,
    PropertyDef,
    PropertyKind,
    resolve_object_type,
)
from hubspot_sandbox.errors import JsonObject, not_found, validation_error
from hubspot_sandbox.http_types import HttpResponse
from hubspot_sandbox.pipelines import Pipeline
from hubspot_sandbox.portal import LIFECYCLE_TYPES, Portal
from hubspot_sandbox.routing import RequestContext, Route, RouteKind
from hubspot_sandbox.stages import StageOption
from hubspot_sandbox.timefmt import iso_from_ms

EPOCH = iso_from_ms(0)

# HubSpot's (type, fieldType) per kind; enumerations get their fieldType per property.
_WIRE_TYPES = {
    PropertyKind.STRING: ("string", "text"),
    PropertyKind.NUMBER: ("number", "number"),
    PropertyKind.DATETIME: ("datetime", "date"),
    PropertyKind.BOOL: ("bool", "booleancheckbox"),
    PropertyKind.ENUMERATION: ("enumeration", "select"),
}
_FIELD_TYPE_OVERRIDES = {LIFECYCLESTAGE: "radio"}


def _option(value: str, label: str, order: int, *, hidden: bool = False, description: str = "") -> JsonObject:
    return {"label": label, "value": value, "displayOrder": order, "hidden": hidden, "description": description}


def _stage_option(stage: StageOption) -> JsonObject:
    return _option(stage.value, stage.label, stage.display_order, hidden=stage.hidden, description=stage.description)


def _options(portal: Portal, object_type: ObjectType, prop: PropertyDef) -> list[JsonObject]:
    if prop.name == LIFECYCLESTAGE:
        return [_stage_option(stage) for stage in portal.lifecycle_stages(object_type.name)]
    pipelines = portal.deal_pipelines()
    if prop.name == PIPELINE:
        return [_option(pipeline.id, pipeline.label, pipeline.display_order) for pipeline in pipelines]
    if prop.name == DEALSTAGE:
        return [
            _option(stage.id, f"{stage.label} ({pipeline.label})", stage.display_order)
            for pipeline in pipelines
            for stage in pipeline.stages
        ]
    if prop.kind is PropertyKind.BOOL:
        return [_option("true", "Yes", 0), _option("false", "No", 1)]
    return []


def property_json(portal: Portal, object_type: ObjectType, prop: PropertyDef) -> JsonObject:
    """``Property``."""
    wire_type, field_type = _WIRE_TYPES[prop.kind]
    return {
        "name": prop.name,
        "label": prop.label,
        "type": wire_type,
        "fieldType": _FIELD_TYPE_OVERRIDES.get(prop.name, field_type),
        "description": "",
        "groupName": prop.group,
        "options": _options(portal, object_type, prop),
        "displayOrder": -1,
        "calculated": prop.read_only,
        "externalOptions": prop.name in (PIPELINE, DEALSTAGE),
        "hasUniqueValue": False,
        "hidden": False,
        "hubspotDefined": True,
        "formField": not prop.read_only,
        "archived": False,
        "createdAt": EPOCH,
        "updatedAt": EPOCH,
        "modificationMetadata": {
            "archivable": False,
            "readOnlyDefinition": True,
            "readOnlyValue": prop.read_only,
            "readOnlyOptions": prop.name != LIFECYCLESTAGE,
        },
    }


def list_properties(ctx: RequestContext) -> HttpResponse:
    object_type = resolve_type(ctx.params)
    return json_response(
        {"results": [property_json(ctx.portal, object_type, prop) for prop in object_type.properties.values()]}
    )


def _property(ctx: RequestContext) -> tuple[ObjectType, PropertyDef]:
    object_type = resolve_type(ctx.params)
    name = ctx.params["propertyName"]
    prop = object_type.properties.get(name)
    if prop is None:
        raise not_found(f"Unable to find property {name} for {object_type.name}", context={"propertyName": [name]})
    return object_type, prop


def get_property(ctx: RequestContext) -> HttpResponse:
    return json_response(property_json(ctx.portal, *_property(ctx)))


def update_property(ctx: RequestContext) -> HttpResponse:
    object_type, prop = _property(ctx)
    body = ctx.request.json()
    if prop.name != LIFECYCLESTAGE or not isinstance(body, Mapping) or set(body) != {"options"}:
        raise validation_error("The sandbox can change only the options of lifecyclestage (body: {options: [...]})")
    options = body["options"]
    if not isinstance(options, list) or not options:
        raise validation_error("options must be a non-empty list of OptionInput")
    try:
        stages = [_stage_input(option, position) for position, option in enumerate(options)]
        ctx.portal.set_lifecycle_stages(stages, LIFECYCLE_TYPES)
    except ValueError as error:  # duplicate values
        raise validation_error(str(error)) from None
    return json_response(property_json(ctx.portal, object_type, prop))


def _stage_input(option: object, position: int) -> StageOption:
    """``OptionInput``: ``hidden``, ``label``, ``value`` required; ``displayOrder`` defaults to the position."""
    if not isinstance(option, Mapping) or not all(key in option for key in ("hidden", "label", "value")):
        raise validation_error("Each option needs hidden, label and value")
    value, label, hidden = option["value"], option["label"], option["hidden"]
    order = option.get("displayOrder", position)
    if not (isinstance(value, str) and value and isinstance(label, str) and isinstance(hidden, bool)):
        raise validation_error("An option's value and label are non-empty strings, hidden a boolean")
    if not isinstance(order, int) or isinstance(order, bool):
        raise validation_error("An option's displayOrder is an integer")
    return StageOption(value, label, order, hidden=hidden, description=str(option.get("description") or ""))


def _stage_json(stage_id: str, label: str, order: int, metadata: dict[str, str]) -> JsonObject:
    return {
        "id": stage_id,
        "label": label,
        "displayOrder": order,
        "metadata": metadata,
        "archived": False,
        "createdAt": EPOCH,
        "updatedAt": EPOCH,
        "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
    }


def _pipeline_json(pipeline_id: str, label: str, order: int, stages: list[JsonObject]) -> JsonObject:
    """``Pipeline``."""
    return {
        "id": pipeline_id,
        "label": label,
        "displayOrder": order,
        "stages": stages,
        "archived": False,
        "createdAt": EPOCH,
        "updatedAt": EPOCH,
    }


def _deal_pipeline_json(pipeline: Pipeline) -> JsonObject:
    return _pipeline_json(
        pipeline.id,
        pipeline.label,
        pipeline.display_order,
        [_stage_json(stage.id, stage.label, stage.display_order, stage.metadata) for stage in pipeline.stages],
    )


def _pipelines(portal: Portal, object_type: ObjectType) -> list[JsonObject]:
    if object_type.has_lifecycle:
        stages = [
            _stage_json(stage.value, stage.label, stage.display_order, {})
            for stage in portal.lifecycle_stages(object_type.name)
        ]
        return [_pipeline_json(f"{object_type.name}-lifecycle-pipeline", "Lifecycle Stage Pipeline", 0, stages)]
    return [_deal_pipeline_json(pipeline) for pipeline in portal.deal_pipelines()]


def _pipeline(ctx: RequestContext) -> JsonObject:
    object_type = resolve_type(ctx.params)
    pipeline_id = ctx.params["pipelineId"]
    found = next((item for item in _pipelines(ctx.portal, object_type) if item["id"] == pipeline_id), None)
    if found is None:
        raise not_found(f"Unable to find pipeline {pipeline_id}", context={"pipelineId": [pipeline_id]})
    return found


def list_pipelines(ctx: RequestContext) -> HttpResponse:
    return json_response({"results": _pipelines(ctx.portal, resolve_type(ctx.params))})


def get_pipeline(ctx: RequestContext) -> HttpResponse:
    return json_response(_pipeline(ctx))


def list_pipeline_stages(ctx: RequestContext) -> HttpResponse:
    return json_response({"results": _pipeline(ctx)["stages"]})


def _schema_write_scopes(params: Mapping[str, str]) -> tuple[str, ...]:
    resolved = resolve_object_type(params["objectType"])
    return (f"crm.schemas.{resolved.name}.write",) if resolved is not None else ()


_SCOPES = read_scopes("objectType")
ROUTES = [
    Route("GET", "/crm/v3/properties/{objectType}", list_properties, RouteKind.READ, _SCOPES),
    Route("GET", "/crm/v3/properties/{objectType}/{propertyName}", get_property, RouteKind.READ, _SCOPES),
    Route(
        "PATCH",
        "/crm/v3/properties/{objectType}/{propertyName}",
        update_property,
        RouteKind.WRITE,
        _schema_write_scopes,
    ),
    Route("GET", "/crm/v3/pipelines/{objectType}", list_pipelines, RouteKind.READ, _SCOPES),
    Route("GET", "/crm/v3/pipelines/{objectType}/{pipelineId}", get_pipeline, RouteKind.READ, _SCOPES),
    Route("GET", "/crm/v3/pipelines/{objectType}/{pipelineId}/stages", list_pipeline_stages, RouteKind.READ, _SCOPES),
]
