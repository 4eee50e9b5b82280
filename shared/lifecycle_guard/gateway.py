"""The HubSpot gateway: the only code in lifecycle-guard that speaks HTTP to HubSpot.

Built on hubspot-api-client 12: its generated clients for CRM calls, ``api_request`` for the Automation v4 flows
(the SDK has no flows client). Facts that shape it (see docs/hubspot-facts.md of the shared notes):

- ``HubSpot(host=...)`` redirects the generated clients but ``api_request`` reads ``base_url``: we pass both.
- The SDK builds a new ApiClient (and connection pool) on every ``client.crm.objects.search_api`` access, so the
  API objects are created once here and reused, keeping connections alive.
- urllib3's retry skips POST, and HubSpot's 429s need a policy-aware wait, so SDK retries are off
  (``retry=False``) and every retry decision is made here: TEN_SECONDLY_ROLLING pauses the pacer for the
  window, SECONDLY pauses search for a second, DAILY stops cleanly; 5xx and network errors back off with full
  jitter. Our writes set absolute values, so retrying a write whose response was lost is safe.
- Responses are read with ``_preload_content=False`` and parsed as plain JSON: deserialising every record into
  SDK models (a dateutil parse per timestamp) would dominate CPU on a million-record portal.
- Each SDK sub-package has its own ApiException class; we catch the ones of the packages we call.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import hubspot.crm.associations.v4.exceptions as associations_exceptions
import hubspot.crm.objects.exceptions as objects_exceptions
import hubspot.crm.properties.exceptions as properties_exceptions
import requests
import urllib3
from hubspot import HubSpot

from lifecycle_guard.budget import shared_pacer
from lifecycle_guard.objects import LIFECYCLE_STAGE, ObjectType, Record
from lifecycle_guard.stages import StageCatalog
from lifecycle_guard.usage import ApiUsage

DEFAULT_BASE_URL = "https://api.hubapi.com"
SEARCH_PAGE_SIZE = 200
BATCH_SIZE = 100
ASSOCIATION_BATCH_SIZE = 1000
FLOWS_PAGE_SIZE = 100
REQUEST_TIMEOUT = (5.0, 60.0)  # connect, read (seconds)
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 30.0
TEN_SECOND_WINDOW = 10.0

_SDK_API_EXCEPTIONS = (
    objects_exceptions.ApiException,
    associations_exceptions.ApiException,
    properties_exceptions.ApiException,
)
_NETWORK_EXCEPTIONS = (urllib3.exceptions.HTTPError, requests.RequestException, OSError)
# 423 Locked and 477 Migration in progress are HubSpot's "come back shortly" statuses.
_RETRYABLE_STATUSES = frozenset({0, 408, 423, 477, 500, 502, 503, 504, 524})

FilterGroups = list[list[dict[str, Any]]]


class HubSpotError(Exception):
    """HubSpot answered with an error we cannot retry away; ``status`` and ``category`` say which."""

    def __init__(self, message: str, *, status: int | None = None, category: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.category = category


class AuthenticationFailed(HubSpotError):
    """401: the token is wrong, expired or revoked."""


class MissingScopes(HubSpotError):
    """403: the token lacks a scope, or the portal lacks the entitlement (HubSpot says MISSING_SCOPES for both)."""


class NotFound(HubSpotError):
    """404."""


class RequestRejected(HubSpotError):
    """Another 4xx, e.g. 400 VALIDATION_ERROR: our request is wrong for this portal."""


class HubSpotUnavailable(HubSpotError):
    """5xx, network errors or throttling persisted through every attempt; the step may be retried later."""


class DailyLimitReached(HubSpotError):
    """HubSpot's daily limit (or our watermark below it) is reached: stop cleanly and report, do not retry."""


@dataclass(frozen=True, slots=True)
class Association:
    to_id: str
    type_ids: frozenset[int]


@dataclass
class WriteResult:
    """A batch write's outcome: the records HubSpot returned and per-id failures (``"<CATEGORY>: message"``)."""

    records: dict[str, Record] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchPage:
    records: list[Record]
    total: int
    has_more: bool


# ---- search filters: a filter group is a list of ANDed filters; groups are ORed ----


def stage_missing() -> list[dict[str, Any]]:
    return [{"propertyName": LIFECYCLE_STAGE, "operator": "NOT_HAS_PROPERTY"}]


def stage_is(stage: str) -> list[dict[str, Any]]:
    return [{"propertyName": LIFECYCLE_STAGE, "operator": "EQ", "value": stage}]


def stage_in(stages: Sequence[str]) -> list[dict[str, Any]]:
    return [{"propertyName": LIFECYCLE_STAGE, "operator": "IN", "values": list(stages)}]


def _json(raw: bytes | str | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        # Exceptions from some SDK paths carry a plain dict; HubSpot's header names vary in case.
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def _error_text(body: Any, fallback: str) -> tuple[str, str | None]:
    if isinstance(body, dict):
        return str(body.get("message") or fallback), body.get("category")
    return fallback, None


class HubSpotGateway:
    """Typed, paced, retried, counted access to the HubSpot endpoints lifecycle-guard uses."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        requests_per_10s: int = 100,
        search_per_second: float = 4.0,
        max_attempts: int = 6,
        daily_watermark: int = 0,
        usage: ApiUsage | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        base_url = base_url.rstrip("/")
        self.base_url = base_url
        self.usage = usage or ApiUsage()
        self._max_attempts = max_attempts
        self._daily_watermark = daily_watermark
        self._finishing = 0
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        portal_key = hashlib.sha256(f"{base_url}\n{token}".encode()).hexdigest()[:16]
        self._pacer = shared_pacer(portal_key, requests_per_10s, TEN_SECOND_WINDOW)
        search_limit = max(1, int(search_per_second))
        self._search_pacer = shared_pacer(portal_key + ":search", search_limit, 1.0)
        self._token = token
        self._client = HubSpot(access_token=token, host=base_url, base_url=base_url, retry=False)
        crm = self._client.crm
        self._search_api = crm.objects.search_api
        self._batch_api = crm.objects.batch_api
        self._basic_api = crm.objects.basic_api
        self._associations_api = crm.associations.v4.batch_api
        self._properties_api = crm.properties.core_api

    # ---------------- the token ----------------

    def token_scopes(self) -> frozenset[str] | None:
        """The token's scopes, from HubSpot's private-app token introspection; None when HubSpot cannot say
        (an OAuth token, a service key): callers then learn of a missing scope from a 403 instead."""
        options = {
            "method": "POST",
            "path": "/oauth/v2/private-apps/get/access-token-info",
            "body": {"tokenKey": self._token},
        }
        try:
            reply = self._flows("POST /oauth/v2/private-apps/get/access-token-info", options)
        except (RequestRejected, NotFound, MissingScopes, AuthenticationFailed):
            return None
        scopes = reply.get("scopes")
        return frozenset(str(scope) for scope in scopes) if isinstance(scopes, list) else None

    # ---------------- CRM reads ----------------

    def stage_catalog(self, object_type: ObjectType) -> StageCatalog:
        body = self._sdk(
            f"GET /crm/v3/properties/{object_type.value}/{LIFECYCLE_STAGE}",
            self._properties_api.get_by_name,
            object_type.value,
            LIFECYCLE_STAGE,
        )
        return StageCatalog.from_property(object_type, body)

    def count(self, object_type: str, filter_groups: FilterGroups) -> int:
        """The number of records matching, from search's ``total`` (one request, no paging)."""
        body = {
            "filterGroups": [{"filters": group} for group in filter_groups],
            "properties": ["hs_object_id"],
            "limit": 1,
        }
        reply = self._search(object_type, body)
        return int(reply.get("total", 0))

    def search_after(
        self,
        object_type: str,
        filter_groups: FilterGroups,
        properties: Sequence[str],
        after_id: int,
        limit: int = SEARCH_PAGE_SIZE,
    ) -> SearchPage:
        """One keyset page: records matching ``filter_groups`` with ``hs_object_id > after_id``, by id ascending.

        Keyset paging instead of ``after`` offsets: offsets skip records when the pages we already read are fixed
        (they leave the result set and everything slides up), and offsets stop at HubSpot's 10,000-result cap.
        """
        beyond = {"propertyName": "hs_object_id", "operator": "GT", "value": str(after_id)}
        groups = [[*group, beyond] for group in filter_groups] or [[beyond]]
        body = {
            "filterGroups": [{"filters": group} for group in groups],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": list(properties),
            "limit": limit,
        }
        reply = self._search(object_type, body)
        records = [Record(str(item["id"]), item.get("properties") or {}) for item in reply.get("results", [])]
        has_more = bool((reply.get("paging") or {}).get("next")) and len(records) == limit
        return SearchPage(records=records, total=int(reply.get("total", 0)), has_more=has_more)

    def iter_pages(
        self,
        object_type: str,
        filter_groups: FilterGroups,
        properties: Sequence[str],
        after_id: int = 0,
    ) -> Iterator[list[Record]]:
        """Every matching record, a keyset page at a time, stable while the records change under us."""
        while True:
            page = self.search_after(object_type, filter_groups, properties, after_id)
            if page.records:
                yield page.records
                after_id = int(page.records[-1].id)
            if not page.has_more:
                return

    def read(self, object_type: str, ids: Sequence[str], properties: Sequence[str]) -> dict[str, Record]:
        """Batch-read records by id, 100 per request; ids HubSpot does not know are absent from the result."""
        found: dict[str, Record] = {}
        for start in range(0, len(ids), BATCH_SIZE):
            chunk = ids[start : start + BATCH_SIZE]
            body = {"inputs": [{"id": object_id} for object_id in chunk], "properties": list(properties)}
            reply = self._sdk(
                f"POST /crm/v3/objects/{object_type}/batch/read",
                self._batch_api.read,
                object_type,
                body,
            )
            for item in reply.get("results", []):
                found[str(item["id"])] = Record(str(item["id"]), item.get("properties") or {})
        return found

    def associations(self, from_type: str, to_type: str, ids: Sequence[str]) -> dict[str, dict[str, Association]]:
        """Associations of many records, 1000 inputs per request, following each record's own paging.

        Returns ``{from_id: {to_id: Association}}``; records without associations map to ``{}`` (HubSpot may
        report them as per-input errors of a 207, which carry nothing we need).
        """
        linked: dict[str, dict[str, Association]] = {object_id: {} for object_id in ids}
        pending: list[dict[str, str]] = [{"id": object_id} for object_id in ids]
        while pending:
            chunk, pending = pending[:ASSOCIATION_BATCH_SIZE], pending[ASSOCIATION_BATCH_SIZE:]
            reply = self._sdk(
                f"POST /crm/v4/associations/{from_type}/{to_type}/batch/read",
                self._associations_api.get_page,
                from_type,
                to_type,
                {"inputs": chunk},
            )
            for item in reply.get("results", []):
                from_id = str(item["from"]["id"])
                targets = linked.setdefault(from_id, {})
                for target in item.get("to", []):
                    to_id = str(target["toObjectId"])
                    type_ids = frozenset(int(kind["typeId"]) for kind in target.get("associationTypes", []))
                    known = targets.get(to_id)
                    targets[to_id] = Association(to_id, type_ids | known.type_ids if known else type_ids)
                after = ((item.get("paging") or {}).get("next") or {}).get("after")
                if after:
                    pending.append({"id": from_id, "after": str(after)})
        return linked

    def get(self, object_type: str, object_id: str, properties: Sequence[str]) -> Record | None:
        try:
            reply = self._sdk(
                f"GET /crm/v3/objects/{object_type}/{{id}}",
                self._basic_api.get_by_id,
                object_type,
                object_id,
                properties=list(properties),
            )
        except NotFound:
            return None
        return Record(str(reply["id"]), reply.get("properties") or {})

    # ---------------- CRM writes ----------------

    def update(self, object_type: str, properties_by_id: Mapping[str, Mapping[str, str]]) -> WriteResult:
        """One batch update of at most 100 records; a 207's per-id errors come back in ``failed``."""
        if len(properties_by_id) > BATCH_SIZE:
            raise ValueError(f"a batch update takes at most {BATCH_SIZE} records")
        body = {
            "inputs": [
                {"id": object_id, "properties": dict(properties)} for object_id, properties in properties_by_id.items()
            ]
        }
        reply = self._sdk(
            f"POST /crm/v3/objects/{object_type}/batch/update",
            self._batch_api.update,
            object_type,
            body,
        )
        result = WriteResult()
        for item in reply.get("results", []):
            result.records[str(item["id"])] = Record(str(item["id"]), item.get("properties") or {})
        for error in reply.get("errors", []):
            reason = f"{error.get('category') or 'ERROR'}: {error.get('message') or ''}".strip()
            for object_id in (error.get("context") or {}).get("ids", []):
                result.failed[str(object_id)] = reason
        return result

    def create(self, object_type: str, properties: Mapping[str, str], *, retry: bool = False) -> Record:
        """Create one record. Not retried on 5xx unless ``retry`` (the caller can clean up a duplicate): unlike our
        updates, a repeated create is not idempotent."""
        reply = self._sdk(
            f"POST /crm/v3/objects/{object_type}",
            self._basic_api.create,
            object_type,
            {"properties": dict(properties), "associations": []},
            idempotent=retry,
        )
        return Record(str(reply["id"]), reply.get("properties") or {})

    def archive(self, object_type: str, object_id: str) -> None:
        try:
            self._sdk(
                f"DELETE /crm/v3/objects/{object_type}/{{id}}",
                self._basic_api.archive,
                object_type,
                object_id,
            )
        except NotFound:
            return

    # ---------------- Automation v4 flows (api_request: the SDK has no flows client) ----------------

    def list_flows(self) -> list[dict[str, Any]]:
        flows: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            query: dict[str, Any] = {"limit": FLOWS_PAGE_SIZE}
            if after:
                query["after"] = after
            reply = self._flows(
                "GET /automation/v4/flows", {"method": "GET", "path": "/automation/v4/flows", "qs": query}
            )
            flows.extend(reply.get("results", []))
            after = ((reply.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return flows

    def get_flow(self, flow_id: str) -> dict[str, Any]:
        return self._flows(
            "GET /automation/v4/flows/{id}", {"method": "GET", "path": f"/automation/v4/flows/{flow_id}"}
        )

    def create_flow(self, flow: Mapping[str, Any]) -> dict[str, Any]:
        return self._flows(
            "POST /automation/v4/flows",
            {"method": "POST", "path": "/automation/v4/flows", "body": dict(flow)},
            idempotent=False,
        )

    def replace_flow(self, flow_id: str, flow: Mapping[str, Any]) -> dict[str, Any]:
        return self._flows(
            "PUT /automation/v4/flows/{id}",
            {"method": "PUT", "path": f"/automation/v4/flows/{flow_id}", "body": dict(flow)},
        )

    def delete_flow(self, flow_id: str) -> None:
        self._flows("DELETE /automation/v4/flows/{id}", {"method": "DELETE", "path": f"/automation/v4/flows/{flow_id}"})

    # ---------------- transport ----------------

    def _search(self, object_type: str, body: dict[str, Any]) -> Any:
        return self._sdk(
            f"POST /crm/v3/objects/{object_type}/search",
            self._search_api.do_search,
            object_type,
            body,
            search=True,
        )

    def _sdk(
        self,
        endpoint: str,
        method: Callable[..., Any],
        *args: Any,
        search: bool = False,
        idempotent: bool = True,
        **kwargs: Any,
    ) -> Any:
        def call() -> tuple[int, Mapping[str, str], bytes]:
            response = method(*args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT, **kwargs)
            try:
                return response.status, response.headers, response.data
            finally:
                response.release_conn()

        return self._send(endpoint, call, search=search, idempotent=idempotent)

    def _flows(self, endpoint: str, options: dict[str, Any], *, idempotent: bool = True) -> dict[str, Any]:
        """A call through the SDK's ``api_request`` (flows, token introspection): endpoints without a client."""

        def call() -> tuple[int, Mapping[str, str], bytes]:
            response = self._client.api_request(options)
            return response.status_code, response.headers, response.content

        return self._send(endpoint, call, search=False, idempotent=idempotent)

    def _send(
        self,
        endpoint: str,
        call: Callable[[], tuple[int, Mapping[str, str], bytes]],
        *,
        search: bool,
        idempotent: bool,
    ) -> dict[str, Any]:
        failures = 0
        throttles = 0
        while True:
            if not self._finishing:
                self.check_daily_watermark()
            # Search pacer first, so a burst slot is not held while search waits; the burst stamp then moves to
            # the answer (``sent``): a request delayed after its admission (a GC pause, the search pacer) must not
            # land in a later HubSpot window than the pacer counted it in, or that window gets limit + 1: a 429.
            if search:
                self.usage.paced_seconds += self._search_pacer.acquire().waited
            admission = self._pacer.acquire()
            self.usage.paced_seconds += admission.waited
            try:
                status, headers, raw = self._attempt(call)
            finally:
                self._pacer.sent(admission)
            self.usage.record(endpoint, str(status) if status else "network")
            self._observe(headers)
            if 200 <= status < 300:
                reply = _json(raw)
                return reply if isinstance(reply, dict) else {}
            body = _json(raw)
            message, category = _error_text(body, f"HTTP {status}" if status else "network error")
            if status == 429:
                throttles += 1
                if throttles > self._max_attempts * 3:
                    raise HubSpotUnavailable(f"{endpoint}: still rate limited: {message}", status=429)
                self._wait_out_throttle(body, headers, search=search)
                self.usage.retries += 1
                continue
            if status in _RETRYABLE_STATUSES and idempotent:
                failures += 1
                if failures >= self._max_attempts:
                    raise HubSpotUnavailable(
                        f"{endpoint}: {message} (gave up after {failures} attempts)", status=status, category=category
                    )
                delay = self._backoff(failures, headers, status)
                self.usage.retries += 1
                self.usage.backoff_seconds += delay
                self._sleep(delay)
                continue
            raise self._error_for(status, endpoint, message, category)

    @staticmethod
    def _attempt(call: Callable[[], tuple[int, Mapping[str, str], bytes]]) -> tuple[int, Mapping[str, str], Any]:
        try:
            return call()
        except _SDK_API_EXCEPTIONS as exc:
            # status 0 is the SDK's wrapper for SSL/protocol errors: a network failure to us.
            return exc.status or 0, exc.headers or {}, exc.body
        except _NETWORK_EXCEPTIONS:
            return 0, {}, None

    def _wait_out_throttle(self, body: Any, headers: Mapping[str, str], *, search: bool) -> None:
        policy = body.get("policyName") if isinstance(body, dict) else None
        message = str(body.get("message", "")) if isinstance(body, dict) else ""
        if policy is None and "secondly limit" in message:
            policy = "SECONDLY"  # HubSpot's own SDKs key the search limit on this message
        self.usage.throttled[policy or "UNKNOWN"] += 1
        if policy == "DAILY":
            raise DailyLimitReached(f"HubSpot's daily API limit is reached: {message}", status=429, category="DAILY")
        if policy == "SECONDLY" or (search and policy is None):
            self._search_pacer.pause(1.0)
        else:
            interval = _header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
            self._pacer.pause(int(interval) / 1000 if interval and interval.isdigit() else TEN_SECOND_WINDOW)

    def _backoff(self, failures: int, headers: Mapping[str, str], status: int) -> float:
        retry_after = _header(headers, "Retry-After")
        if status == 477 and retry_after and retry_after.isdigit():
            return float(retry_after)
        if status == 423:
            return 2.0
        return self._rng.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (failures - 1)))

    def _observe(self, headers: Mapping[str, str]) -> None:
        remaining = _header(headers, "X-HubSpot-RateLimit-Daily-Remaining")
        if remaining and remaining.lstrip("-").isdigit():
            self.usage.daily_remaining = int(remaining)

    @contextmanager
    def finishing(self) -> Iterator[None]:
        """Requests that finish work already begun go out even below the daily watermark (HubSpot's own limit
        still applies): stopping a write batch between its clear and its set would leave records blank."""
        self._finishing += 1
        try:
            yield
        finally:
            self._finishing -= 1

    def check_daily_watermark(self) -> None:
        """Raise DailyLimitReached now if HubSpot last reported fewer daily requests left than the watermark."""
        remaining = self.usage.daily_remaining
        if remaining is not None and remaining < self._daily_watermark:
            raise DailyLimitReached(
                f"only {remaining} daily HubSpot requests are left, below the configured watermark "
                f"{self._daily_watermark}; stopping so other integrations keep working",
                category="WATERMARK",
            )

    @staticmethod
    def _error_for(status: int, endpoint: str, message: str, category: str | None) -> HubSpotError:
        text = f"{endpoint}: HTTP {status}: {message}"
        if status == 401:
            return AuthenticationFailed(f"HubSpot rejected the token (401): {message}", status=401, category=category)
        if status == 403:
            return MissingScopes(f"{text} (category {category})", status=403, category=category)
        if status == 404:
            return NotFound(text, status=404, category=category)
        if status in _RETRYABLE_STATUSES:
            return HubSpotUnavailable(text, status=status, category=category)
        return RequestRejected(text, status=status, category=category)
