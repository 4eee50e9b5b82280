"""Stdlib HTTP/1.1 keep-alive server that hands every request to a plain function."""

from __future__ import annotations

import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from hubspot_sandbox.http_types import HttpRequest, HttpResponse

App = Callable[[HttpRequest], HttpResponse]


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's urllib3 pool expects
    disable_nagle_algorithm = True  # headers and body go out in separate writes; don't let Nagle delay the body
    server: SandboxHTTPServer

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        request = HttpRequest.build(self.command, self.path, dict(self.headers.items()), body, f"http://{host}")
        started = time.perf_counter()
        response = self.server.app(request)
        if response.close_unanswered:
            self.close_connection = True
            return
        payload = response.encoded_body()
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.send_response(response.status)
        # Standard W3C header (not HubSpot's): lets benchmarks separate server time from client and network time.
        self.send_header("Server-Timing", f"app;dur={elapsed_ms:.3f}")
        if payload:
            self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a benchmark makes millions of calls."""


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App) -> None:
        super().__init__(address, _RequestHandler)
        self.app = app
