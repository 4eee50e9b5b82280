"""Test-only endpoints under ``/_sandbox/`` (a prefix HubSpot never uses): no auth, never counted or limited.

GET  /_sandbox/stats            counters (see :class:`hubspot_sandbox.stats.Stats`)
GET  /_sandbox/requests         the request log: [unix time of arrival, endpoint, status] per API call, kept only
                                while the ``request_log`` setting is on (for rolling-window checks)
POST /_sandbox/stats/reset      zero the counters and the request log (and the rate-limit windows)
GET  /_sandbox/state            dump: records, associations, flows (``?objectType=contacts&limit=100``)
POST /_sandbox/reset            restore the portal to the state it was served with
GET  /_sandbox/settings         current settings; POST with a JSON object of fields changes them
POST /_sandbox/faults           queue a fault: {method, path | path_regex, status, when, times, seconds}
                                (when: before | after_write | stall; seconds: how long a stall lasts)
DELETE /_sandbox/faults         drop queued faults
GET  /_sandbox/offenders        a generated portal's manifest: its named sources and, per object type, the records
                                each left dirty at generation ({"sources": [...], "offenders": {type: [...]}})
POST /_sandbox/dirty-records    new bad records between runs, attributed to a source:
                                {objectType, count, source: {sourceType, sourceId?, sourceLabel?, updatedByUserId?},
                                 sourceName?, stage?, existing?} -> {"ids": [...]}; ``existing: false`` (default)
                                creates records (blank, or at a disallowed ``stage``), ``true`` has the source clear
                                (``stage`` "" or absent) or set a disallowed stage on the newest clean records
POST /_sandbox/tokens           issue a token: {kind: private_app | service_key | oauth, scopes?} -> {token, ...}
GET  /_sandbox/validation-rules the portal's validation rules; POST one rule to add it, DELETE to drop them all
POST /_sandbox/lifecycle-stages/delete  delete a stage option: {value, objectTypes?} (records keep their value)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from hubspot_sandbox.errors import ApiError, not_found, server_error, validation_error
from hubspot_sandbox.history import ChangeSource
from hubspot_sandbox.http_types import HttpRequest, HttpResponse
from hubspot_sandbox.portal import LIFECYCLE_TYPES, Portal
from hubspot_sandbox.settings import ALL_SCOPES, SandboxSettings, TokenKind
from hubspot_sandbox.validation_rules import StageRule

PREFIX = "/_sandbox/"
logger = logging.getLogger(__name__)


class SandboxControl(Protocol):
    portal: Portal

    @property
    def settings(self) -> SandboxSettings: ...

    def stats(self) -> dict[str, Any]: ...

    def requests(self) -> list[tuple[float, str, int]]: ...

    def reset_stats(self) -> None: ...

    def reset_portal(self) -> None: ...

    def update_settings(self, **changes: Any) -> SandboxSettings: ...

    def queue_fault(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        path_regex: str | None = None,
        status: int | None = None,
        when: str = "before",
        times: int = 1,
        seconds: float | None = None,
    ) -> None: ...

    def clear_faults(self) -> None: ...

    def issue_token(self, kind: TokenKind | str = TokenKind.SERVICE_KEY, scopes: Iterable[str] = ALL_SCOPES) -> str: ...


def _object(request: HttpRequest) -> Mapping[str, Any]:
    body = request.json() or {}
    if not isinstance(body, Mapping):
        raise validation_error("Body must be a JSON object")
    return body


def _state(control: SandboxControl, request: HttpRequest) -> HttpResponse:
    types = request.query_list("objectType")
    limit = request.query_value("limit")
    return HttpResponse(200, control.portal.dump(types, limit=int(limit) if limit else None))


def _reset_stats(control: SandboxControl, _request: HttpRequest) -> HttpResponse:
    control.reset_stats()
    return HttpResponse(204)


def _reset_portal(control: SandboxControl, _request: HttpRequest) -> HttpResponse:
    try:
        control.reset_portal()
    except RuntimeError as error:  # a sandbox created with snapshot=False
        raise ApiError(409, "CONFLICT", str(error)) from None
    return HttpResponse(204)


def _update_settings(control: SandboxControl, request: HttpRequest) -> HttpResponse:
    try:
        settings = control.update_settings(**_object(request))
    except (TypeError, ValueError) as error:
        raise validation_error(str(error)) from None
    return HttpResponse(200, settings.as_json())


def _queue_fault(control: SandboxControl, request: HttpRequest) -> HttpResponse:
    try:
        control.queue_fault(**_object(request))
    except (TypeError, ValueError) as error:
        raise validation_error(str(error)) from None
    return HttpResponse(204)


def _clear_faults(control: SandboxControl, _request: HttpRequest) -> HttpResponse:
    control.clear_faults()
    return HttpResponse(204)


def _offenders(control: SandboxControl, _request: HttpRequest) -> HttpResponse:
    generation = control.portal.generation
    if generation is None:
        raise not_found("This portal was not generated: it has no offenders manifest")
    return HttpResponse(200, generation.as_json())


def _dirty_records(control: SandboxControl, request: HttpRequest) -> HttpResponse:
    body = _object(request)
    raw_source, count, stage, name = body.get("source"), body.get("count"), body.get("stage"), body.get("sourceName")
    if not isinstance(raw_source, Mapping) or isinstance(count, bool) or not isinstance(count, int):
        raise validation_error("dirty-records needs a source object and an integer count")
    if not all(value is None or isinstance(value, str) for value in (stage, name)):
        raise validation_error("stage and sourceName must be strings")
    try:
        source = ChangeSource.from_wire(raw_source)
        if body.get("existing", False):
            ids = control.portal.set_dirty_stages(str(body.get("objectType")), count, source, stage or "")
        else:
            ids = control.portal.add_dirty_records(
                str(body.get("objectType")), count, source, stage=stage, source_name=name
            )
    except (KeyError, ValueError) as error:
        raise validation_error(str(error)) from None
    return HttpResponse(200, {"ids": ids})


def _issue_token(control: SandboxControl, request: HttpRequest) -> HttpResponse:
    body = _object(request)
    scopes = body.get("scopes", sorted(ALL_SCOPES))
    if not isinstance(scopes, list):
        raise validation_error("scopes must be a list of scope names")
    try:
        kind = TokenKind(body.get("kind", TokenKind.SERVICE_KEY))
    except ValueError:
        raise validation_error(f"kind must be one of {[str(kind) for kind in TokenKind]}") from None
    token = control.issue_token(kind, [str(scope) for scope in scopes])
    return HttpResponse(201, {"token": token, "kind": str(kind), "scopes": sorted(control.settings.tokens[token])})


def _validation_rules(control: SandboxControl, _request: HttpRequest) -> HttpResponse:
    return HttpResponse(200, {"rules": [rule.as_json() for rule in control.portal.validation_rules()]})


def _add_validation_rule(control: SandboxControl, request: HttpRequest) -> HttpResponse:
    try:
        rule = StageRule.from_json(_object(request))
    except (KeyError, ValueError) as error:
        raise validation_error(str(error)) from None
    control.portal.add_validation_rule(rule)
    return HttpResponse(201, rule.as_json())


def _clear_validation_rules(control: SandboxControl, _request: HttpRequest) -> HttpResponse:
    control.portal.clear_validation_rules()
    return HttpResponse(204)


def _delete_lifecycle_stage(control: SandboxControl, request: HttpRequest) -> HttpResponse:
    body = _object(request)
    types = body.get("objectTypes", list(LIFECYCLE_TYPES))
    if not isinstance(body.get("value"), str) or not isinstance(types, list):
        raise validation_error("Body needs value (a stage) and optionally objectTypes (a list)")
    try:
        control.portal.remove_lifecycle_stage(body["value"], [str(name) for name in types])
    except (KeyError, ValueError) as error:
        raise validation_error(str(error)) from None
    return HttpResponse(204)


_ENDPOINTS: dict[tuple[str, str], Callable[[SandboxControl, HttpRequest], HttpResponse]] = {
    ("GET", "stats"): lambda control, _request: HttpResponse(200, control.stats()),
    ("GET", "requests"): lambda control, _request: HttpResponse(
        200, {"enabled": control.settings.request_log, "requests": control.requests()}
    ),
    ("POST", "stats/reset"): _reset_stats,
    ("GET", "state"): _state,
    ("POST", "reset"): _reset_portal,
    ("GET", "settings"): lambda control, _request: HttpResponse(200, control.settings.as_json()),
    ("POST", "settings"): _update_settings,
    ("POST", "faults"): _queue_fault,
    ("DELETE", "faults"): _clear_faults,
    ("GET", "offenders"): _offenders,
    ("POST", "dirty-records"): _dirty_records,
    ("POST", "tokens"): _issue_token,
    ("GET", "validation-rules"): _validation_rules,
    ("POST", "validation-rules"): _add_validation_rule,
    ("DELETE", "validation-rules"): _clear_validation_rules,
    ("POST", "lifecycle-stages/delete"): _delete_lifecycle_stage,
}


def handle_introspection(control: SandboxControl, request: HttpRequest) -> HttpResponse:
    endpoint = _ENDPOINTS.get((request.method, request.path.removeprefix(PREFIX).rstrip("/")))
    if endpoint is None:
        return HttpResponse(404, ApiError(404, "OBJECT_NOT_FOUND", f"No sandbox endpoint {request.path}").body())
    try:
        return endpoint(control, request)
    except ApiError as error:
        return HttpResponse(error.status, error.body())
    except Exception:
        logger.exception("sandbox introspection failed: %s %s", request.method, request.path)
        return HttpResponse(500, server_error(500).body())
