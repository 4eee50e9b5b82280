"""The sandbox: a portal served over real HTTP on 127.0.0.1, with limits, faults and introspection.

Workflow timing: a scheduler thread applies due workflow actions as soon as they are due (polling every 25 ms),
and every request first applies whatever is due, so an HTTP client that waited the delay always sees the action.
"""

from __future__ import annotations

import gc
import re
import threading
import uuid
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from hubspot_sandbox.catalog import OBJECT_TYPES
from hubspot_sandbox.faults import DEFAULT_FAULT_STATUS, FAULT_TIMINGS, FaultInjector, QueuedFault
from hubspot_sandbox.http_server import SandboxHTTPServer
from hubspot_sandbox.http_types import HttpRequest, HttpResponse
from hubspot_sandbox.introspection import PREFIX, handle_introspection
from hubspot_sandbox.pipeline import ApiPipeline
from hubspot_sandbox.portal import Portal
from hubspot_sandbox.ratelimit import RateLimiter
from hubspot_sandbox.settings import ALL_SCOPES, SandboxSettings, TokenKind
from hubspot_sandbox.stats import Stats

SCHEDULER_POLL_SECONDS = 0.025
LARGE_PORTAL_RECORDS = 100_000
# Token shapes are the sandbox's own (HubSpot's service-key format is not documented); clients must not parse them.
_TOKEN_PREFIXES = {
    TokenKind.PRIVATE_APP: "pat-sandbox",
    TokenKind.SERVICE_KEY: "sk-sandbox",
    TokenKind.OAUTH: "oauth-sandbox",
}


class Sandbox:
    """Serve ``portal`` (default: :meth:`Portal.empty`) until :meth:`stop`; usable as a context manager.

    ``snapshot=False`` skips remembering the starting state (about 45 MB and 0.2 s at 1M contacts) and makes
    :meth:`reset_portal` unavailable.
    """

    def __init__(
        self,
        portal: Portal | None = None,
        settings: SandboxSettings | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        snapshot: bool = True,
    ) -> None:
        self.portal = portal if portal is not None else Portal.empty()
        self._address = (host, port)
        self._stats = Stats()
        self._limiter = RateLimiter()
        initial = settings if settings is not None else SandboxSettings()
        self._faults = FaultInjector(initial.faults)
        self._stopping = threading.Event()
        self._pipeline = ApiPipeline(
            self.portal, initial, self._stats, self._limiter, self._faults, stopping=self._stopping
        )
        self._apply_settings(initial)
        self._pristine = self.portal.snapshot() if snapshot else None
        self._server: SandboxHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    # --- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = SandboxHTTPServer(self._address, self.handle)
        self._threads = [
            threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="hubspot-sandbox-http",
                daemon=True,
            ),
            threading.Thread(target=self._run_scheduler, name="hubspot-sandbox-workflows", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self._freeze_large_portal()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not running; call start() or use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def token(self) -> str:
        """The token with every scope."""
        return self.settings.token

    @property
    def settings(self) -> SandboxSettings:
        return self._pipeline.settings

    # --- requests -----------------------------------------------------------------------------------------
    def handle(self, request: HttpRequest) -> HttpResponse:
        """Answer one request (the HTTP server calls this; tests may too, without sockets)."""
        if request.path.startswith(PREFIX):
            self._pipeline.run_workflows()
            return handle_introspection(self, request)
        return self._pipeline.handle(request)

    def _run_scheduler(self) -> None:
        while not self._stopping.wait(SCHEDULER_POLL_SECONDS):
            self._pipeline.run_workflows()

    # --- control ------------------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        return self._stats.snapshot()

    def requests(self) -> list[tuple[float, str, int]]:
        """The request log, ``(unix time of arrival, endpoint, status)`` per API call; empty unless
        ``SandboxSettings.request_log`` is on."""
        return self._stats.requests()

    def reset_stats(self) -> None:
        """Zero the counters (and the request log) and the rate-limit windows."""
        self._stats.reset()
        self._limiter.reset()

    def reset_portal(self) -> None:
        """Restore the portal to the state it had when the sandbox was created."""
        if self._pristine is None:
            raise RuntimeError("this sandbox was created with snapshot=False")
        self.portal.restore(self._pristine)
        self._apply_settings(self.settings)
        self._freeze_large_portal()

    def update_settings(self, **changes: Any) -> SandboxSettings:
        """Change settings at run time, e.g. ``update_settings(burst_limit_per_10s=190)``."""
        settings = self.settings.updated(**changes)
        self._apply_settings(settings)
        return settings

    def issue_token(self, kind: TokenKind | str = TokenKind.SERVICE_KEY, scopes: Iterable[str] = ALL_SCOPES) -> str:
        """A new token of ``kind`` with ``scopes``, accepted from now on (added to ``settings.tokens``)."""
        token_kind = TokenKind(kind)
        token = f"{_TOKEN_PREFIXES[token_kind]}-{uuid.uuid4()}"
        settings = self.settings
        self.update_settings(
            tokens={**settings.tokens, token: frozenset(scopes)},
            token_kinds={**settings.token_kinds, token: token_kind},
        )
        return token

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
    ) -> None:
        """Hit the next ``times`` matching API calls with a fault.

        ``when="before"``: answer ``status`` (default 503) without doing anything; ``when="after_write"``: apply the
        write, then answer ``status`` (default 503; the client loses the response); ``when="stall"``: hold the call
        ``seconds`` (None: until the sandbox stops), then answer ``status`` or, without one, handle it normally.
        """
        timing = next((item for item in FAULT_TIMINGS if item == when), None)
        if timing is None:
            raise ValueError(f"when must be one of {FAULT_TIMINGS}, got {when!r}")
        if timing != "stall" and seconds is not None:
            raise ValueError("seconds applies to stalls only")
        if timing != "stall" and status is None:
            status = DEFAULT_FAULT_STATUS
        if times < 1 or (status is not None and not 100 <= status <= 599) or (seconds is not None and seconds < 0):
            raise ValueError("times must be >= 1, status an HTTP status code and seconds not negative")
        self._faults.queue(
            QueuedFault(
                status=status,
                when=timing,
                times=times,
                method=method,
                path=path,
                path_regex=re.compile(path_regex) if path_regex else None,
                seconds=seconds,
            )
        )

    def clear_faults(self) -> None:
        self._faults.clear()

    def _freeze_large_portal(self) -> None:
        """Keep the garbage collector off a large portal's millions of references.

        A full collection traverses every list element of every column and index (~50 ms pauses at 1M contacts,
        visible in p95s). ``gc.freeze()`` moves everything alive now out of future collections; it is
        process-wide, so only portals of 100k+ records get it.
        """
        if sum(self.portal.count(name) for name in OBJECT_TYPES) >= LARGE_PORTAL_RECORDS:
            gc.collect()
            gc.freeze()

    def _apply_settings(self, settings: SandboxSettings) -> None:
        self._pipeline.settings = settings
        self._faults.configure(settings.faults)
        self.portal.configure(
            index_lag_ms=settings.index_lag_ms, workflow_delay_seconds=settings.workflow_delay_seconds
        )
