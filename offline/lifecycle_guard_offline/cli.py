"""``lifecycle-guard``: run the real state machine offline, audit a portal, undo a run, or serve a sandbox.

Without ``--hubspot-url`` the commands work on a generated dirty portal served by the built-in HubSpot sandbox
(the demo). With it they work on any HubSpot-compatible API, a real portal included; writing to anything but the
built-in sandbox needs ``--apply``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

from hubspot_sandbox import PortalSpec, Sandbox, SandboxSettings, generate_portal
from hubspot_sandbox.cli import serve_until_signalled
from lifecycle_guard.audit import audit
from lifecycle_guard.config import ConfigError, load_config
from lifecycle_guard.crm import HubSpotError
from lifecycle_guard.gateway import HubSpotGateway
from lifecycle_guard.objects import ObjectType
from lifecycle_guard_offline.console import ProgressPrinter, before_after_table, outcome_line, report_table
from lifecycle_guard_offline.local_run import MIRROR, LocalRun

# The built-in sandbox behaves like a Professional portal: HubSpot's burst and search limits, workflows acting
# a couple of seconds after enrollment.
SANDBOX_SETTINGS = SandboxSettings(burst_limit_per_10s=190, search_limit_per_second=5, workflow_delay_seconds=2.0)
SANDBOX_LIVE_TEST_WAIT_SECONDS = 5
RUN_TIMEOUT_SECONDS = 24 * 3600


class UsageError(Exception):
    """Bad command-line input: exit status 2 with a one-line reason."""


@dataclass(frozen=True)
class Target:
    url: str
    token: str
    built_in: bool


def _target_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("HubSpot target (default: the built-in sandbox with a generated portal)")
    group.add_argument("--hubspot-url", help="base URL of a HubSpot-compatible API, e.g. https://api.hubapi.com")
    group.add_argument("--token", help="HubSpot private-app token (default: $HUBSPOT_TOKEN); never logged")
    group.add_argument("--contacts", type=int, default=5000, help="built-in sandbox: contacts to generate (5000)")
    group.add_argument("--companies", type=int, default=500, help="built-in sandbox: companies to generate (500)")
    group.add_argument("--seed", type=int, default=7, help="built-in sandbox: generator seed (7)")


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="config file (JSON; the same model the Lambdas use)")
    parser.add_argument("--rate-budget", type=int, help="HubSpot requests per 10 s this run may use")
    parser.add_argument("--out", type=Path, default=Path("out"), help="directory for runs (default ./out)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--apply", action="store_true", help="write to HubSpot (default only for the built-in sandbox)")
    mode.add_argument("--dry-run", action="store_true", help="plan and report, write nothing")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lifecycle-guard",
        description="Keep every HubSpot contact and company at a correct lifecycle stage. Runs the real AWS Step "
        "Functions state machine offline (moto), against the built-in HubSpot sandbox or any HubSpot API.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="audit, plan, fix, prevent, verify and report, through the real state machine",
        description="One full lifecycle-guard run through the real state machine on moto. Writes report.json, "
        "report.html, journal.jsonl and plan.jsonl under OUT/RUN-ID/ and prints the report's absolute path as the "
        "last line. Exit status 0 only if the run succeeded and every check passed.",
    )
    _target_options(run)
    _run_options(run)
    run.add_argument("--run-id", help="name of the run (default: a timestamped id)")

    audit_command = commands.add_parser(
        "audit",
        help="count records per lifecycle stage (read-only)",
        description="Read-only: count contacts and companies per lifecycle stage and without one.",
    )
    _target_options(audit_command)
    audit_command.add_argument("--rate-budget", type=int, help="HubSpot requests per 10 s this audit may use")
    audit_command.add_argument("--json", action="store_true", help="print the counts as JSON")

    undo = commands.add_parser(
        "undo",
        help="restore the before-values of an earlier run from its journal",
        description="Restore what run RUN-ID changed, from its journal (OUT/.bucket, where runs keep their S3 "
        "bucket, or OUT/RUN-ID/journal.jsonl). Records changed since that run are left alone unless --force. "
        "Undo needs the portal the run changed, so use --hubspot-url (e.g. a sandbox started with "
        "`lifecycle-guard sandbox`).",
    )
    undo.add_argument("--run-id", dest="undo_run_id", required=True, help="the run to undo")
    undo.add_argument("--force", action="store_true", help="also restore records changed since the run")
    _target_options(undo)
    _run_options(undo)

    sandbox = commands.add_parser(
        "sandbox",
        help="serve a generated dirty portal over HTTP until stopped",
        description="Serve the HubSpot sandbox with a generated dirty portal. Prints its URL and its token on "
        "stdout as soon as it listens; stop with Ctrl-C.",
    )
    sandbox.add_argument("--port", type=int, default=8090, help="port (default 8090; 0 picks a free one)")
    sandbox.add_argument("--contacts", type=int, default=5000, help="contacts to generate (5000)")
    sandbox.add_argument("--companies", type=int, default=500, help="companies to generate (500)")
    sandbox.add_argument("--seed", type=int, default=7, help="generator seed (7)")
    sandbox.add_argument("--workflow-delay", type=float, default=2.0, help="seconds before a workflow acts (2)")
    return parser


@contextmanager
def _hubspot(args: argparse.Namespace) -> Iterator[Target]:
    if args.hubspot_url:
        token = args.token or os.environ.get("HUBSPOT_TOKEN")
        if not token:
            raise UsageError("a token is needed with --hubspot-url: pass --token or set HUBSPOT_TOKEN")
        yield Target(args.hubspot_url.rstrip("/"), token, built_in=False)
        return
    portal = generate_portal(PortalSpec(contacts=args.contacts, companies=args.companies, seed=args.seed))
    with Sandbox(portal, SANDBOX_SETTINGS, snapshot=False) as sandbox:
        print(
            f"built-in HubSpot sandbox at {sandbox.url}: {args.contacts:,} contacts, {args.companies:,} companies "
            f"(seed {args.seed})",
            file=sys.stderr,
        )
        yield Target(sandbox.url, sandbox.token, built_in=True)


def _config(args: argparse.Namespace, target: Target) -> dict[str, Any]:
    """The config file plus what a local run needs: the whole budget for one process, the sandbox's timing."""
    budget: dict[str, Any] = {"worker_share": 1.0}  # all workers share this one process, and its pacer
    if args.rate_budget:
        budget["requests_per_10s"] = args.rate_budget
    overrides: dict[str, Any] = {"budget": budget}
    if target.built_in:
        overrides["verification"] = {"live_test_wait_seconds": SANDBOX_LIVE_TEST_WAIT_SECONDS}
    merged = load_config(args.config, overrides)  # validated here too: a bad file fails before anything starts
    return merged.model_dump(mode="json", exclude_defaults=True) | {"budget": merged.budget.model_dump(mode="json")}


def _mode(args: argparse.Namespace, target: Target) -> str:
    if args.dry_run:
        return "dry-run"
    return "apply" if args.apply or target.built_in else "dry-run"


def _imported_journal(out: Path, run_id: str) -> dict[str, bytes]:
    """For undo: a journal copied into OUT/RUN-ID/ (e.g. `aws s3 cp` from the deployed bucket) that the local
    bucket mirror does not hold yet."""
    if (out / MIRROR / "runs" / "index" / f"{run_id}.json").exists():
        return {}
    journal = out / run_id / "journal.jsonl"
    if not journal.exists():
        raise UsageError(f"no journal of run {run_id} in {out / MIRROR} or {journal}")
    prefix = f"runs/imported/{run_id}/"
    return {
        f"{prefix}journal.jsonl": journal.read_bytes(),
        f"runs/index/{run_id}.json": json.dumps({"prefix": prefix}).encode(),
    }


def _execute(args: argparse.Namespace, request: dict[str, Any]) -> int:
    out: Path = args.out.resolve()
    seed = _imported_journal(out, request["undo_run_id"]) if request["action"] == "undo" else {}
    with _hubspot(args) as target:
        config = _config(args, target)
        request = {**request, "mode": _mode(args, target), "source": "cli"}
        run_id = getattr(args, "run_id", None) or f"lg-{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid4().hex[:6]}"
        (out / run_id).mkdir(parents=True, exist_ok=True)
        print(f"run {run_id}: {request['action']} ({request['mode']}) against {target.url}", file=sys.stderr)
        with (out / run_id / "lambda.log").open("w") as log:
            local = LocalRun(base_url=target.url, token=target.token, guard_config=config, out_dir=out, log=log)
            result = local.execute(request, run_id, ProgressPrinter(sys.stderr), RUN_TIMEOUT_SECONDS, seed=seed)
    print(report_table(result.report))
    line = outcome_line(result.report)
    succeeded = result.report.outcome == "succeeded"
    print(line, file=sys.stdout if succeeded else sys.stderr)
    print(f"report: {result.run_dir / 'report.html'}", file=sys.stderr)
    print(result.report_path)
    return 0 if succeeded else 1


def _audit(args: argparse.Namespace) -> int:
    with _hubspot(args) as target:
        gateway = HubSpotGateway(target.token, base_url=target.url, requests_per_10s=args.rate_budget or 100)
        catalogs = {object_type: gateway.crm.stage_catalog(object_type) for object_type in ObjectType}
        snapshot = audit(gateway.crm, catalogs)
    if args.json:
        print(snapshot.model_dump_json(indent=2))
        return 0
    stages = {t: [(s.value, s.label) for s in c.stages] for t, c in catalogs.items()}
    print(before_after_table(stages, snapshot, None, after_title="(now)"))
    print(f"{gateway.usage.total_calls} HubSpot requests", file=sys.stderr)
    return 0


def _serve(args: argparse.Namespace) -> int:
    spec = PortalSpec(contacts=args.contacts, companies=args.companies, seed=args.seed)
    settings = replace(SANDBOX_SETTINGS, workflow_delay_seconds=args.workflow_delay)
    serve_until_signalled(spec, settings, port=args.port, program="lifecycle-guard sandbox")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return _execute(args, {"action": "run"})
        if args.command == "undo":
            return _execute(args, {"action": "undo", "undo_run_id": args.undo_run_id, "force": args.force})
        if args.command == "audit":
            return _audit(args)
        return _serve(args)
    except (UsageError, ConfigError, OSError, ValueError) as exc:
        print(f"lifecycle-guard: {exc}", file=sys.stderr)
        return 2
    except HubSpotError as exc:
        print(f"lifecycle-guard: {exc}", file=sys.stderr)
        return 1
