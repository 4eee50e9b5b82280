"""The request pipeline every API call goes through, in HubSpot's order of concerns.

route -> auth (401) -> scopes/entitlement (403) -> rate limits (429) -> stall -> injected 5xx -> added latency
-> handler -> lost-write fault (502 after the write applied) -> rate-limit headers. Due workflow actions run before
each request (and on the scheduler thread), so a client that waited the delay always observes them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

from hubspot_sandbox.api import associations, flows, oauth, objects, schema, search
from hubspot_sandbox.errors import ApiError, invalid_authentication, missing_scopes, rate_limit_body, server_error
from hubspot_sandbox.faults import FaultInjector
from hubspot_sandbox.http_types import HttpRequest, HttpResponse
from hubspot_sandbox.portal import Portal
from hubspot_sandbox.ratelimit import RateLimiter
from hubspot_sandbox.routing import RequestContext, Route, RouteKind, Router
from hubspot_sandbox.settings import AUTOMATION_SCOPE, SandboxSettings
from hubspot_sandbox.stats import Stats

logger = logging.getLogger(__name__)

API_ROUTES: tuple[Route, ...] = (
    *objects.ROUTES,
    *search.ROUTES,
    *associations.ROUTES,
    *schema.ROUTES,
    *flows.ROUTES,
    *oauth.ROUTES,
)
MISSING_CREDENTIALS = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
REJECTED_CREDENTIALS = "The access token provided is invalid or has been revoked."  # wording UNCONFIRMED


def error_response(error: ApiError) -> HttpResponse:
    return HttpResponse(error.status, error.body(), dict(error.headers))


def bearer_token(request: HttpRequest) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class ApiPipeline:
    def __init__(
        self,
        portal: Portal,
        settings: SandboxSettings,
        stats: Stats,
        limiter: RateLimiter,
        faults: FaultInjector,
        *,
        sleep: Callable[[float], None] = time.sleep,
        stopping: threading.Event | None = None,
    ) -> None:
        self.portal = portal
        self.settings = settings  # replaced wholesale by Sandbox.update_settings (frozen value: no torn reads)
        self._stats = stats
        self._limiter = limiter
        self._faults = faults
        self._sleep = sleep
        self._stopping = stopping if stopping is not None else threading.Event()  # set: release stalled calls
        self._router = Router(API_ROUTES)

    def run_workflows(self) -> None:
        for result in self.portal.run_due_workflow_actions():
            self._stats.workflow_action(backward_sets_ignored=result.outcome.ignored_backward)

    def handle(self, request: HttpRequest) -> HttpResponse:
        arrived = time.time() if self.settings.request_log else None
        self.run_workflows()
        match = self._router.match(request.method, request.path)
        if match is None or match.route is None:
            status, what = (404, "No route") if match is None else (405, "Method not allowed")
            response = error_response(
                ApiError(
                    status,
                    "OBJECT_NOT_FOUND" if status == 404 else "METHOD_NOT_ALLOWED",
                    f"{what} for {request.method} {request.path}",
                )
            )
            self._stats.call(f"{request.method} <unrouted>", response.status, arrived=arrived)
            return response
        response = self._serve(request, match.route, match.params)
        self._stats.call(match.route.stats_key(match.params), response.status, arrived=arrived)
        return response

    def _serve(self, request: HttpRequest, route: Route, params: Mapping[str, str]) -> HttpResponse:
        settings = self.settings
        denied = self._authorize(request, route, params, settings)
        if denied is not None:
            return denied
        decision = self._limiter.admit(
            settings, is_search=route.kind is RouteKind.SEARCH, burst_exempt=route.burst_exempt
        )
        if decision.policy is not None:
            self._stats.rate_limited(decision.policy)
            return HttpResponse(429, rate_limit_body(decision.policy), dict(decision.headers))
        response = self._run(request, route, params, settings)
        response.headers.update(decision.headers)
        return response

    def _authorize(
        self, request: HttpRequest, route: Route, params: Mapping[str, str], settings: SandboxSettings
    ) -> HttpResponse | None:
        if not route.bearer:
            return None
        token = bearer_token(request)
        if token is None:
            return error_response(invalid_authentication(MISSING_CREDENTIALS))
        scopes = settings.tokens.get(token)
        if scopes is None:
            return error_response(invalid_authentication(REJECTED_CREDENTIALS))
        required = route.scopes(params)
        if required and scopes.isdisjoint(required):
            return error_response(missing_scopes([required[0]]))
        if route.needs_workflows and not settings.workflows_entitled:
            return error_response(missing_scopes([AUTOMATION_SCOPE]))
        return None

    def _run(
        self, request: HttpRequest, route: Route, params: Mapping[str, str], settings: SandboxSettings
    ) -> HttpResponse:
        stall = self._faults.stall(request.method, request.path)
        if stall is not None:
            self._stats.fault("stall")
            if self._stopping.wait(stall.seconds):
                return HttpResponse(0, close_unanswered=True)
            if stall.status is not None:
                return error_response(server_error(stall.status))
        injected = self._faults.before(request.method, request.path)
        if injected is not None:
            self._stats.fault("error")
            return error_response(server_error(injected))
        latency = self._faults.latency_seconds
        if latency > 0:
            self._stats.fault("latency")
            self._sleep(latency)
        try:
            response = route.handler(RequestContext(request, params, self.portal, settings))
        except ApiError as error:
            return error_response(error)
        except Exception:
            logger.exception("sandbox handler failed: %s %s", request.method, request.path)
            return error_response(server_error(500))
        if route.kind is RouteKind.WRITE and 200 <= response.status < 300:
            outcome = response.outcome
            self._stats.write(
                property_changes=outcome.changed if outcome else 0,
                backward_sets_ignored=outcome.ignored_backward if outcome else 0,
            )
            lost = self._faults.after_write(request.method, request.path)
            if lost is not None:
                self._stats.fault("lost_write")
                return error_response(server_error(lost))
        return response
