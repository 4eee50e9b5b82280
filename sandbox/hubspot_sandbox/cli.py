"""``hubspot-sandbox serve``: serve a generated portal on a port until SIGINT/SIGTERM.

Prints the base URL on the first stdout line and the full-scope token on the second, as soon as it listens.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from hubspot_sandbox.generator import PortalSpec, generate_portal
from hubspot_sandbox.sandbox import Sandbox
from hubspot_sandbox.settings import ALL_SCOPES, SandboxSettings


def serve_forever(
    spec: PortalSpec,
    settings: SandboxSettings,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    on_ready: Callable[[Sandbox], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Generate the portal, serve it, call ``on_ready(sandbox)`` once listening, return when ``stop`` is set."""
    stop = stop or threading.Event()
    with Sandbox(generate_portal(spec), settings, host=host, port=port) as sandbox:
        if on_ready is not None:
            on_ready(sandbox)
        stop.wait()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hubspot-sandbox", description="A stateful HubSpot CRM emulator for tests and benchmarks."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve a generated dirty portal over HTTP",
        description="Generate a deterministic dirty portal and serve it until SIGINT/SIGTERM. Prints the base URL "
        "(first line) and the full-scope bearer token (second line) on stdout once listening. Point "
        "hubspot-api-client at it with HubSpot(access_token=TOKEN, host=URL, base_url=URL).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one (default)")
    serve.add_argument("--contacts", type=int, default=1000, help="number of contacts (default 1000)")
    serve.add_argument("--companies", type=int, default=100, help="number of companies (default 100)")
    serve.add_argument("--seed", type=int, default=0, help="generator seed; same seed, same portal (default 0)")
    serve.add_argument("--token", help="bearer token to accept, with every scope (default: a fixed sandbox token)")
    serve.add_argument("--burst-limit", type=int, help="API calls per rolling 10 s (429 TEN_SECONDLY_ROLLING)")
    serve.add_argument("--search-limit", type=int, help="search calls per second (429 SECONDLY)")
    serve.add_argument("--daily-limit", type=int, help="API calls per day (429 DAILY)")
    serve.add_argument(
        "--workflow-delay",
        type=float,
        default=1.0,
        help="seconds between a flow's enrollment and its action (default 1.0)",
    )
    serve.add_argument(
        "--index-lag-ms", type=int, default=0, help="search sees writes only after this many ms (default 0)"
    )
    serve.add_argument(
        "--request-log",
        action="store_true",
        help="log every API call's arrival time, endpoint and status (GET /_sandbox/requests)",
    )
    return parser


def settings_from_args(args: argparse.Namespace) -> SandboxSettings:
    settings = SandboxSettings(
        burst_limit_per_10s=args.burst_limit,
        search_limit_per_second=args.search_limit,
        daily_limit=args.daily_limit,
        index_lag_ms=args.index_lag_ms,
        workflow_delay_seconds=args.workflow_delay,
        request_log=args.request_log,
    )
    return settings.updated(tokens={args.token: ALL_SCOPES}) if args.token else settings


def serve_until_signalled(
    spec: PortalSpec, settings: SandboxSettings, *, host: str = "127.0.0.1", port: int = 0, program: str
) -> None:
    """Serve until SIGINT/SIGTERM; print the URL and the token on stdout (two lines) as soon as it listens."""
    stop = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda _number, _frame: stop.set())

    def announce(sandbox: Sandbox) -> None:
        print(sandbox.url, flush=True)
        print(sandbox.token, flush=True)
        print(
            f"{program}: serving {spec.contacts:,} contacts / {spec.companies:,} companies (seed {spec.seed}) "
            f"at {sandbox.url}; Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )

    serve_forever(spec, settings, host=host, port=port, on_ready=announce, stop=stop)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    spec = PortalSpec(contacts=args.contacts, companies=args.companies, seed=args.seed)
    serve_until_signalled(spec, settings_from_args(args), host=args.host, port=args.port, program="hubspot-sandbox")
    return 0
