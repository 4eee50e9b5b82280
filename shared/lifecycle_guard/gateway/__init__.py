"""The HubSpot gateway: the only code in lifecycle-guard that speaks HTTP to HubSpot.

One ``HubSpotGateway`` per portal and budget: a ``Transport`` (pacing, retries, 429s, the daily watermark) shared
by the CRM endpoints (``crm``, the ``Crm`` protocol) and the endpoints without an SDK client (``flows``, the
``Flows`` protocol, and ``token`` introspection). ``HubSpot(host=...)`` redirects the generated clients but
``api_request`` reads ``base_url``, so the SDK gets both (hubspot-facts §8.2).
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable

from hubspot import HubSpot

from lifecycle_guard.budget import RateGate, shared_pacer
from lifecycle_guard.gateway.api_request import ApiRequestSender, FlowEndpoints, TokenInfo
from lifecycle_guard.gateway.crm_endpoints import CrmEndpoints
from lifecycle_guard.gateway.transport import TEN_SECOND_WINDOW, Transport
from lifecycle_guard.usage import ApiUsage

DEFAULT_BASE_URL = "https://api.hubapi.com"


def portal_key(base_url: str, token: str) -> str:
    """What names a portal's budget (HubSpot counts per account; one token reaches one account) without the token."""
    return hashlib.sha256(f"{base_url.rstrip('/')}\n{token}".encode()).hexdigest()[:16]


class HubSpotGateway:
    """Typed, paced, retried, counted access to the HubSpot endpoints lifecycle-guard uses."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        requests_per_10s: int = 100,
        search_per_second: float = 5.0,
        max_attempts: int = 6,
        daily_watermark: int = 0,
        burst_exemptions: bool = True,
        burst_gate: RateGate | None = None,
        search_gate: RateGate | None = None,
        usage: ApiUsage | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        """``burst_gate``/``search_gate``: where the budgets are kept; by default this process's pacers, shared by
        every gateway of the process for the same portal (``budget.shared_pacer``)."""
        base_url = base_url.rstrip("/")
        self.base_url = base_url
        key = portal_key(base_url, token)
        self.transport = Transport(
            pacer=burst_gate or shared_pacer(key, requests_per_10s, TEN_SECOND_WINDOW),
            search_pacer=search_gate or shared_pacer(key + ":search", max(1, int(search_per_second)), 1.0),
            max_attempts=max_attempts,
            daily_watermark=daily_watermark,
            usage=usage or ApiUsage(),
            burst_exemptions=burst_exemptions,
            sleep=sleep,
            rng=rng,
        )
        client = HubSpot(access_token=token, host=base_url, base_url=base_url, retry=False)
        self.crm = CrmEndpoints(self.transport, client.crm)
        sender = ApiRequestSender(self.transport, client)
        self.flows = FlowEndpoints(sender)
        self.token = TokenInfo(sender, token)

    @property
    def usage(self) -> ApiUsage:
        return self.transport.usage
