"""How every request to HubSpot goes out: paced, retried, counted, and stopped at the daily watermark.

Facts that shape it (see hubspot-facts.md of the shared notes, §7-8):

- urllib3's retry skips POST, and HubSpot's 429s need a policy-aware wait, so SDK retries are off and every
  retry decision is made here: TEN_SECONDLY_ROLLING pauses the pacer for the window, SECONDLY pauses search for a
  second, DAILY stops cleanly; 5xx, 423, 477 and network errors back off with full jitter. Our writes set
  absolute values, so retrying a write whose response was lost is safe; creates are not retried.
- Each SDK sub-package has its own ApiException class; we catch the ones of the packages we call.
- Every request has a connect and a read timeout, so a stalled connection fails (and is retried) instead of
  holding the Lambda until its own timeout; and a logical request stops retrying once it has tried for
  ``REQUEST_DEADLINE_SECONDS``, so even an endpoint that stalls every attempt fails the step well inside the
  shortest Lambda timeout of the template (300 s): its last attempt ends by the deadline plus one read timeout.
- HubSpot's OpenAPI specs mark some operations ``x-hubspot-rate-limit-exemptions: ["ten-secondly"]``: CRM search
  (contacts.json, companies.json, deals.json: ``POST /crm/v3/objects/{type}/search``), the v4 association batch
  operations (assoc_v4.json, batch/read among them) and the v4 flow create and update (automationV4.json). With
  ``burst_exemptions`` (the default) they skip the burst pacer, so planning's paced searches and association reads
  leave the ten-secondly budget to the writes; search keeps its own per-second pacer. A TEN_SECONDLY_ROLLING 429
  on one of them shows the portal counting them after all: it is counted per endpoint
  (``exemption_throttled``, which the report turns into a failed check) and this transport paces every request
  from then on.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import hubspot.crm.associations.v4.exceptions as associations_exceptions
import hubspot.crm.objects.exceptions as objects_exceptions
import hubspot.crm.properties.exceptions as properties_exceptions
import requests
import urllib3

from lifecycle_guard.budget import RateGate, ten_secondly_exempt
from lifecycle_guard.crm import (
    AuthenticationFailed,
    DailyLimitReached,
    HubSpotError,
    HubSpotUnavailable,
    MissingScopes,
    NotFound,
    RequestRejected,
)
from lifecycle_guard.usage import ApiUsage

REQUEST_TIMEOUT = (5.0, 60.0)  # connect, read (seconds)
REQUEST_DEADLINE_SECONDS = 150.0  # + one read timeout: 215 s at most per logical request, under 300 s
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

# One HTTP attempt: (status, headers, raw body); status 0 for a network failure.
Call = Callable[[], tuple[int, Mapping[str, str], Any]]


def _json(raw: bytes | str | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A response header by name; HubSpot's header names vary in case, and some SDK paths carry a plain dict."""
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def _error_text(body: Any, fallback: str) -> tuple[str, str | None]:
    if isinstance(body, dict):
        return str(body.get("message") or fallback), body.get("category")
    return fallback, None


class Transport:
    """Sends one logical request through as many attempts as it takes, within the pacers' budgets."""

    def __init__(
        self,
        *,
        pacer: RateGate,
        search_pacer: RateGate,
        max_attempts: int,
        daily_watermark: int,
        usage: ApiUsage,
        burst_exemptions: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.usage = usage
        self._clock = clock
        self._pacer = pacer
        self._search_pacer = search_pacer
        self._max_attempts = max_attempts
        self._daily_watermark = daily_watermark
        self._exemptions_hold = burst_exemptions
        self._finishing = 0
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security

    def send(self, endpoint: str, call: Call, *, search: bool = False, idempotent: bool = True) -> dict[str, Any]:
        """The 2xx JSON body of ``call``; HubSpot's errors as ``HubSpotError`` subclasses."""
        failures = 0
        throttles = 0
        deadline = self._clock() + REQUEST_DEADLINE_SECONDS
        while True:
            status, headers, raw = self._paced_attempt(endpoint, call, search=search)
            if 200 <= status < 300:
                reply = _json(raw)
                return reply if isinstance(reply, dict) else {}
            body = _json(raw)
            message, category = _error_text(body, f"HTTP {status}" if status else "network error")
            if status == 429:
                throttles += 1
                if throttles > self._max_attempts * 3:
                    raise HubSpotUnavailable(f"{endpoint}: still rate limited: {message}", status=429)
                self._wait_out_throttle(endpoint, body, headers, search=search)
            elif status in _RETRYABLE_STATUSES and idempotent:
                failures += 1
                delay = self._backoff(failures, headers, status)
                out_of_time = self._clock() + delay > deadline
                if failures >= self._max_attempts or out_of_time:
                    spent = self._clock() - deadline + REQUEST_DEADLINE_SECONDS
                    within = f" and {spent:.0f} s" if out_of_time and failures < self._max_attempts else ""
                    raise HubSpotUnavailable(
                        f"{endpoint}: {message} (gave up after {failures} attempts{within})",
                        status=status,
                        category=category,
                    )
                self.usage.backoff_seconds += delay
                self._sleep(delay)
            else:
                raise _error_for(status, endpoint, message, category, _required_scopes(body))
            self.usage.retries += 1

    def _paced_attempt(self, endpoint: str, call: Call, *, search: bool) -> tuple[int, Mapping[str, str], Any]:
        if not self._finishing:
            self.check_daily_watermark()
        # Search pacer first, so a burst slot is not held while search waits; both stamps then move to the
        # answer (``sent``): a request delayed after its admission (a GC pause, the search pacer) must not land
        # in a later HubSpot window than the pacer counted it in, or that window gets limit + 1: a 429.
        searching = self._search_pacer.acquire() if search else None
        try:
            if searching is not None:
                self.usage.paced_seconds += searching.waited
            if self._burst_exempt(endpoint):
                status, headers, raw = _attempt(call)
            else:
                admission = self._pacer.acquire()
                self.usage.paced_seconds += admission.waited
                try:
                    status, headers, raw = _attempt(call)
                finally:
                    self._pacer.sent(admission)
        finally:
            if searching is not None:
                self._search_pacer.sent(searching)
        self.usage.record(endpoint, str(status) if status else "network")
        remaining = header(headers, "X-HubSpot-RateLimit-Daily-Remaining")
        if remaining and remaining.lstrip("-").isdigit():
            self.usage.daily_remaining = int(remaining)
        return status, headers, raw

    def _burst_exempt(self, endpoint: str) -> bool:
        return self._exemptions_hold and ten_secondly_exempt(endpoint)

    def _wait_out_throttle(self, endpoint: str, body: Any, headers: Mapping[str, str], *, search: bool) -> None:
        policy = body.get("policyName") if isinstance(body, dict) else None
        message = str(body.get("message", "")) if isinstance(body, dict) else ""
        if policy is None and "secondly limit" in message:
            policy = "SECONDLY"  # HubSpot's own SDKs key the search limit on this message
        self.usage.throttled[policy or "UNKNOWN"] += 1
        if policy == "TEN_SECONDLY_ROLLING" and self._burst_exempt(endpoint):
            self.usage.exemption_throttled[endpoint] += 1
            self._exemptions_hold = False
        if policy == "DAILY":
            raise DailyLimitReached(f"HubSpot's daily API limit is reached: {message}", status=429, category="DAILY")
        if policy == "SECONDLY" or (search and policy is None):
            self._search_pacer.pause(1.0)
            return
        interval = header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
        self._pacer.pause(int(interval) / 1000 if interval and interval.isdigit() else TEN_SECOND_WINDOW)

    def _backoff(self, failures: int, headers: Mapping[str, str], status: int) -> float:
        retry_after = header(headers, "Retry-After")
        if status == 477 and retry_after and retry_after.isdigit():
            return float(retry_after)
        if status == 423:
            return 2.0
        return self._rng.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (failures - 1)))

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
        remaining = self.usage.daily_remaining
        if remaining is not None and remaining < self._daily_watermark:
            raise DailyLimitReached(
                f"only {remaining} daily HubSpot requests are left, below the configured watermark "
                f"{self._daily_watermark}; stopping so other integrations keep working",
                category="WATERMARK",
            )


def _attempt(call: Call) -> tuple[int, Mapping[str, str], Any]:
    try:
        return call()
    except _SDK_API_EXCEPTIONS as exc:
        # status 0 is the SDK's wrapper for SSL/protocol errors: a network failure to us.
        return exc.status or 0, exc.headers or {}, exc.body
    except _NETWORK_EXCEPTIONS:
        return 0, {}, None


def _required_scopes(body: Any) -> list[str]:
    """The scopes a 403 names: HubSpot's MISSING_SCOPES body lists them under ``errors[].context``, as
    ``requiredScopes`` (seen in real responses: HubSpot/hubspot-api-nodejs#268, 3RD-PARTY) or
    ``requiredGranularScopes`` (UNCONFIRMED spelling, which the sandbox sends); either may be absent."""
    errors = body.get("errors") if isinstance(body, dict) else None
    scopes: list[str] = []
    for error in errors if isinstance(errors, list) else []:
        context = error.get("context") if isinstance(error, dict) else None
        for key in ("requiredGranularScopes", "requiredScopes"):
            named = context.get(key) if isinstance(context, dict) else None
            scopes += [str(scope) for scope in named or () if str(scope) not in scopes]
    return scopes


def _error_for(
    status: int, endpoint: str, message: str, category: str | None, required_scopes: list[str]
) -> HubSpotError:
    text = f"{endpoint}: HTTP {status}: {message}"
    kind: type[HubSpotError] = RequestRejected
    if status == 401:
        kind, text = AuthenticationFailed, f"HubSpot rejected the token (401): {message}"
    elif status == 403:
        # Said plainly, because this is where a token whose scopes could not be checked in advance (a service key,
        # an OAuth token: no introspection) first shows what it lacks.
        needs = f" The token needs one of the scopes {', '.join(required_scopes)}." if required_scopes else ""
        kind, text = MissingScopes, f"HubSpot refused the token at {text} (category {category}).{needs}"
    elif status == 404:
        kind = NotFound
    elif status in _RETRYABLE_STATUSES:
        kind = HubSpotUnavailable
    return kind(text, status=status, category=category, hubspot_message=message)
