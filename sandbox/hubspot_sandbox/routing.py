"""Route table: path templates compiled to regexes, with what the pipeline needs to know about each route."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, NamedTuple

from hubspot_sandbox.history import ChangeSource
from hubspot_sandbox.http_types import HttpRequest, HttpResponse
from hubspot_sandbox.settings import SandboxSettings

if TYPE_CHECKING:
    from hubspot_sandbox.portal import Portal

# Path parameters that are record/flow/pipeline ids; stats keys show them as "{id}".
ID_PARAMETERS = frozenset({"recordId", "fromId", "toId", "flowId", "pipelineId"})


class RouteKind(Enum):
    READ = "read"
    WRITE = "write"  # counted in write_requests, eligible for lost-write faults
    SEARCH = "search"  # the search rate limit applies, no rate-limit headers


@dataclass(frozen=True, slots=True)
class RequestContext:
    request: HttpRequest
    params: Mapping[str, str]
    portal: Portal
    settings: SandboxSettings  # as when the request arrived: tokens for introspection, rule enforcement

    @property
    def write_source(self) -> ChangeSource:
        """What property history records for this request's writes."""
        return self.settings.api_write_source


Handler = Callable[[RequestContext], HttpResponse]
ScopeRule = Callable[[Mapping[str, str]], tuple[str, ...]]  # path params -> scopes of which any one suffices


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    template: str
    handler: Handler
    kind: RouteKind
    scopes: ScopeRule
    needs_workflows: bool = False  # also requires the portal's workflows entitlement
    bearer: bool = True  # False: the route authenticates by its body (token introspection), not the header
    # HubSpot's spec marks the operation x-hubspot-rate-limit-exemptions: ["ten-secondly"] (ratelimit.py).
    burst_exempt: bool = False

    @property
    def pattern(self) -> re.Pattern[str]:
        return _compile(self.template)

    def stats_key(self, params: Mapping[str, str]) -> str:
        shown = {name: "{id}" if name in ID_PARAMETERS else value for name, value in params.items()}
        return f"{self.method} {self.template.format(**shown)}"


_PARAMETER = re.compile(r"\{(\w+)\}")
_COMPILED: dict[str, re.Pattern[str]] = {}


def _compile(template: str) -> re.Pattern[str]:
    pattern = _COMPILED.get(template)
    if pattern is None:
        pattern = _COMPILED[template] = re.compile(
            "^" + _PARAMETER.sub(lambda match: f"(?P<{match.group(1)}>[^/]+)", template) + "$"
        )
    return pattern


class RouteMatch(NamedTuple):
    route: Route | None  # None: the path exists but not for this method (405)
    params: Mapping[str, str]


class Router:
    def __init__(self, routes: Iterable[Route]) -> None:
        self._routes = list(routes)

    def match(self, method: str, path: str) -> RouteMatch | None:
        path_exists = False
        for route in self._routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method == method:
                return RouteMatch(route, found.groupdict())
            path_exists = True
        return RouteMatch(None, {}) if path_exists else None
