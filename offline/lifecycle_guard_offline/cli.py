"""``lifecycle-guard``: run the real state machine offline, audit a portal, undo a run, or serve a sandbox.

Without ``--hubspot-url`` the commands work on a generated dirty portal served by the built-in HubSpot sandbox
(the demo). With it they work on any HubSpot-compatible API, a real portal included; writing to anything but the
built-in sandbox needs ``--apply``.

Exit status: 0 the command succeeded (a run: every check passed); 1 the run failed or a check failed (its report
says why); 2 bad command-line input or config; 3 the portal cannot be used (unreachable, not a HubSpot API, the
token refused); 4 another run is using OUT or writing to the portal; 128 + the signal's number when stopped by one
(130 Ctrl-C, 143 SIGTERM).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn
from uuid import uuid4

from hubspot_sandbox import PortalSpec, Sandbox, SandboxSettings, generate_portal
from hubspot_sandbox.cli import serve_until_signalled
from lifecycle_guard.audit import audit
from lifecycle_guard.config import ConfigError, GuardConfig, load_config, resolve_stage_labels, validate_for_portal
from lifecycle_guard.crm import HubSpotError
from lifecycle_guard.gateway import HubSpotGateway
from lifecycle_guard.layout import index_key
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.stages import StageCatalog
from lifecycle_guard_offline.bucket_mirror import BucketMirror
from lifecycle_guard_offline.console import (
    ProgressPrinter,
    audit_table,
    failure_lines,
    interrupted_line,
    outcome_line,
    report_table,
)
from lifecycle_guard_offline.local_run import InterruptedRun, LocalRun, LocalRunResult
from lifecycle_guard_offline.portal_marker import PortalBusyError, PortalMarker
from lifecycle_guard_offline.probes import remove_run_probes, sweep_strays
from lifecycle_guard_offline.run_lock import RunBusyError, RunLock
from lifecycle_guard_offline.stop_signals import Interrupted, StopSignals, exit_status
from lifecycle_guard_offline.target_check import TargetError, read_stage_catalogs

# The built-in sandbox behaves like a Professional portal: HubSpot's burst and search limits, workflows acting
# a couple of seconds after enrollment.
SANDBOX_SETTINGS = SandboxSettings(burst_limit_per_10s=190, search_limit_per_second=5, workflow_delay_seconds=2.0)
SANDBOX_LIVE_TEST_WAIT_SECONDS = 5
RUN_TIMEOUT_SECONDS = 24 * 3600
DEFAULT_REQUESTS_PER_10S = 100  # the gateway's own default, for the CLI's requests outside a run
DEFAULT_OUT = Path("out")
API_TIERS = ("starter", "professional", "enterprise", "api-limit-increase")  # template.yaml's HubSpotApiTier

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TARGET = 3
EXIT_BUSY = 4
# A failed step's error that is the user's input rather than the run's: the exit status says which to fix.
EXIT_FOR_ERROR = {"ConfigError": EXIT_USAGE, "AuthenticationFailed": EXIT_TARGET, "MissingScopes": EXIT_TARGET}

# A Step Functions execution name is at most 80 letters, digits, '-' and '_'; an undo's name adds 21 to the run's.
RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,59}")
EXECUTION_NAME_LENGTH = 80


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
    parser.add_argument(
        "--api-tier",
        choices=API_TIERS,
        help="the portal's HubSpot API tier (default starter): its limit bounds --rate-budget, and it sets how many "
        "fix workers run at once, as the deployed stack's HubSpotApiTier does",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="directory for runs (default ./out)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--apply", action="store_true", help="write to HubSpot (default only for the built-in sandbox)")
    mode.add_argument("--dry-run", action="store_true", help="plan and report, write nothing")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lifecycle-guard",
        description="Keep every HubSpot contact and company at a correct lifecycle stage. Runs the real AWS Step "
        "Functions state machine offline (moto), against the built-in HubSpot sandbox or any HubSpot API.",
        epilog="Exit status: 0 succeeded; 1 the run or a check failed; 2 bad command line or config; 3 the portal "
        "cannot be used; 4 another run is using OUT or writing to the portal; 130/143 stopped by SIGINT/SIGTERM.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="audit, plan, fix, prevent, verify and report, through the real state machine",
        description="One full lifecycle-guard run through the real state machine on moto. Writes report.json, "
        "report.html, journal.jsonl and plan.jsonl under OUT/RUN-ID/ and prints the report's absolute path as the "
        "last line. Exit status 0 only if the run succeeded and every check passed. Ctrl-C (or SIGTERM) stops it "
        "cleanly: the writes in flight finish their batch and the journal so far is kept for undo.",
    )
    _target_options(run)
    _run_options(run)
    run.add_argument("--run-id", help="name of the run: letters, digits, - and _ (default: a timestamped id)")

    audit_command = commands.add_parser(
        "audit",
        help="count records per lifecycle stage (read-only)",
        description="Read-only: count contacts and companies per lifecycle stage and without one, and how many a "
        "run with the default rules would fix.",
    )
    _target_options(audit_command)
    audit_command.add_argument("--rate-budget", type=int, help="HubSpot requests per 10 s this audit may use")
    audit_command.add_argument("--json", action="store_true", help="print the counts as JSON")

    undo = commands.add_parser(
        "undo",
        help="restore the before-values of an earlier run from its journal",
        description="Restore what run RUN-ID changed, from its journal (OUT/.bucket, where runs keep their S3 "
        "bucket, or OUT/RUN-ID/journal.jsonl). Records changed since that run are left alone unless --force. "
        "Undo needs the portal the run changed: --hubspot-url is required (e.g. a sandbox started with "
        "`lifecycle-guard sandbox`). The undo is named undo-RUN-ID-TIMESTAMP; a run undone once is not undone "
        "again unless --force.",
    )
    undo.add_argument("--run-id", dest="undo_run_id", required=True, help="the run to undo")
    undo.add_argument(
        "--force", action="store_true", help="also restore records changed since the run; undo a run undone before"
    )
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


def _gateway(target: Target, args: argparse.Namespace) -> HubSpotGateway:
    return HubSpotGateway(
        target.token, base_url=target.url, requests_per_10s=args.rate_budget or DEFAULT_REQUESTS_PER_10S
    )


def _catalogs(target: Target, args: argparse.Namespace) -> dict[ObjectType, StageCatalog]:
    return read_stage_catalogs(target.url, target.token, args.rate_budget or DEFAULT_REQUESTS_PER_10S)


def _load_config(args: argparse.Namespace) -> GuardConfig:
    """The config file plus what a local run needs: the whole budget for one process, the sandbox's timing. Its
    shape is checked here, before anything starts."""
    budget: dict[str, Any] = {}
    if args.rate_budget:
        budget["requests_per_10s"] = args.rate_budget
    overrides: dict[str, Any] = {"budget": budget}
    if not args.hubspot_url:  # the built-in sandbox's workflows act within seconds
        overrides["verification"] = {"live_test_wait_seconds": SANDBOX_LIVE_TEST_WAIT_SECONDS}
    return load_config(args.config, overrides)


def _fitted_to_portal(config: GuardConfig, catalogs: dict[ObjectType, StageCatalog]) -> dict[str, Any]:
    """The config with its stage labels resolved and its stages checked against the portal, as the run gets it."""
    fitted = resolve_stage_labels(config, catalogs)
    validate_for_portal(fitted, catalogs)
    return fitted.model_dump(mode="json", exclude_defaults=True) | {"budget": fitted.budget.model_dump(mode="json")}


def _mode(args: argparse.Namespace, target: Target) -> str:
    if args.dry_run:
        return "dry-run"
    return "apply" if args.apply or target.built_in else "dry-run"


def _run_id(args: argparse.Namespace) -> str:
    run_id: str = args.run_id or f"lg-{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid4().hex[:6]}"
    if not RUN_ID.fullmatch(run_id):
        raise UsageError(f"--run-id {run_id!r}: at most 59 letters, digits, '-' and '_'")
    return run_id


def _undo_id(undone: str) -> str:
    """The undo's own name says which run it undoes (shortened only if the execution name would be too long)."""
    stamp = f"-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    return f"undo-{undone}"[: EXECUTION_NAME_LENGTH - len(stamp)] + stamp


def _imported_journal(out: Path, mirror: BucketMirror, run_id: str) -> dict[str, bytes]:
    """For undo: a journal copied into OUT/RUN-ID/ (e.g. `aws s3 cp` from the deployed bucket) that the local
    bucket mirror does not hold yet."""
    if mirror.has_run(run_id):
        return {}
    journal = out / run_id / "journal.jsonl"
    if not journal.exists():
        raise UsageError(f"no journal of run {run_id} in {mirror.root} or {journal}")
    prefix = f"runs/imported/{run_id}/"
    return {
        f"{prefix}journal.jsonl": journal.read_bytes(),
        index_key(run_id): json.dumps({"prefix": prefix}).encode(),
    }


def _undo_seed(args: argparse.Namespace, out: Path, mirror: BucketMirror) -> dict[str, bytes]:
    """What an undo needs in the bucket; refuses an undo of a run an undo has restored already, unless forced."""
    seed = _imported_journal(out, mirror, args.undo_run_id)
    undone_by = mirror.finished_undo_of(args.undo_run_id)
    if undone_by and not args.force:
        raise UsageError(f"run {args.undo_run_id} was undone already, by {undone_by}; pass --force to undo it again")
    return seed


def _execute(args: argparse.Namespace, action: str, stop: StopSignals) -> int:
    out: Path = args.out.resolve()
    if action == "undo" and not args.hubspot_url:
        raise UsageError(
            "undo needs the portal the run changed: pass --hubspot-url (and --token); the built-in sandbox's "
            "portal lived only as long as the run that changed it"
        )
    run_id = _undo_id(args.undo_run_id) if action == "undo" else _run_id(args)
    loaded = _load_config(args)
    _check_out(out)
    with RunLock(out, run_id):
        mirror = BucketMirror(out)
        seed = _undo_seed(args, out, mirror) if action == "undo" else {}
        with _hubspot(args) as target:
            config = _fitted_to_portal(loaded, _catalogs(target, args))
            mode = _mode(args, target)
            with _portal_marker(target, args, run_id, out, mode) as marker:
                if mode == "apply" and not target.built_in:
                    _sweep_stray_probes(target, args, mirror)
                request: dict[str, Any] = {"action": action, "mode": mode, "source": "cli"}
                if action == "undo":
                    request |= {"undo_run_id": args.undo_run_id, "force": args.force}
                run_dir = out / run_id
                run_dir.mkdir(parents=True, exist_ok=True)
                print(f"run {run_id}: {action} ({mode}) against {target.url}", file=sys.stderr)
                stop.defer()  # from here on a signal stops the run cleanly instead of raising
                with (run_dir / "lambda.log").open("w") as log:
                    local = LocalRun(
                        base_url=target.url,
                        token=target.token,
                        guard_config=config,
                        out_dir=out,
                        log=log,
                        parameters={"HubSpotApiTier": args.api_tier} if args.api_tier else None,
                    )
                    try:
                        outcome = local.execute(
                            request, run_id, ProgressPrinter(sys.stderr), RUN_TIMEOUT_SECONDS, stop=stop, seed=seed
                        )
                    except Exception as exc:  # a bug of the CLI or the harness, not of the run: the log gets it
                        traceback.print_exc(file=log)
                        print(
                            f"lifecycle-guard: internal error: {exc!r}; the traceback is in {log.name}", file=sys.stderr
                        )
                        return EXIT_FAILED
                    _warn_if_taken_over(marker)
                    if isinstance(outcome, InterruptedRun):
                        status = _interrupted(outcome, args, target, action, mode, stop)
                        if outcome.handler_abandoned:
                            if marker is not None:
                                marker.release()
                            _end_now(status)  # a handler still runs in moto, logging here: nothing may be torn down
                        return status
                return _finished(outcome, run_dir / "lambda.log")


def _check_out(out: Path) -> None:
    """OUT must be a directory this process can make files in: said in one line before anything starts."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot be made: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: not writable")


@contextmanager
def _portal_marker(
    target: Target, args: argparse.Namespace, run_id: str, out: Path, mode: str
) -> Iterator[PortalMarker | None]:
    """The portal's marker, held while a run may write to a portal other processes can reach (portal_marker)."""
    if mode != "apply" or target.built_in:
        yield None
        return
    with PortalMarker(_gateway(target, args).flows, run_id, out) as marker:
        if marker.unavailable:
            print(
                f"lifecycle-guard: no marker in the portal ({marker.unavailable}); only OUT/.lock keeps another run "
                "out",
                file=sys.stderr,
            )
        yield marker


def _warn_if_taken_over(marker: PortalMarker | None) -> None:
    if marker is not None and marker.lost_to:
        print(
            f"lifecycle-guard: warning: run {marker.lost_to} took the portal's marker over while this run wrote (this "
            "process missed its heartbeats, e.g. asleep): check both runs' reports",
            file=sys.stderr,
        )


def _sweep_stray_probes(target: Target, args: argparse.Namespace, mirror: BucketMirror) -> None:
    removed = sweep_strays(_gateway(target, args).crm, mirror.run_ids())
    if removed:
        runs = ", ".join(sorted({probe.run_id for probe in removed}))
        print(f"removed {len(removed)} probe records that earlier runs left (run {runs})", file=sys.stderr)


def _interrupted(
    stopped: InterruptedRun, args: argparse.Namespace, target: Target, action: str, mode: str, stop: StopSignals
) -> int:
    undo_command = None
    if not target.built_in:
        out = "" if args.out == DEFAULT_OUT else f" --out {args.out}"
        undo_command = f"lifecycle-guard undo --run-id {stopped.run_id} --hubspot-url {target.url}{out} --apply"
        if action == "run" and mode == "apply":
            try:
                remove_run_probes(_gateway(target, args).crm, stopped.run_id, stopped.probes)
            except HubSpotError as exc:
                print(f"lifecycle-guard: the probe records stay until the next run: {exc}", file=sys.stderr)
    print(interrupted_line(stopped, action=action, apply=mode == "apply", undo_command=undo_command), file=sys.stderr)
    assert stop.received is not None  # only a signal interrupts a run
    return exit_status(stop.received)


def _end_now(status: int) -> NoReturn:
    """End the process where it stands: the lock is the kernel's and goes with it, the mirror is synced."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__):
        if stream is not None:
            stream.flush()
    os._exit(status)


def _finished(result: LocalRunResult, log: Path) -> int:
    report = result.report
    if report.outcome != "failed":  # a failed run's table has no after-counts to show
        print(report_table(report))
    if report.outcome == "succeeded":
        print(outcome_line(report))
    elif report.outcome == "failed":
        print("\n".join(failure_lines(report, result.failed_step, log)), file=sys.stderr)
    else:
        print(outcome_line(report), file=sys.stderr)
    print(f"report: {result.run_dir / 'report.html'}", file=sys.stderr)
    print(result.report_path)
    if report.outcome == "succeeded":
        return 0
    return EXIT_FOR_ERROR.get(result.failed_step.error, EXIT_FAILED) if result.failed_step else EXIT_FAILED


def _audit(args: argparse.Namespace) -> int:
    with _hubspot(args) as target:
        catalogs = _catalogs(target, args)
        gateway = _gateway(target, args)
        snapshot = audit(gateway.crm, catalogs)
    if args.json:
        print(snapshot.model_dump_json(indent=2))
        return 0
    print(audit_table(catalogs, snapshot, GuardConfig()))
    print(f"{gateway.usage.total_calls} HubSpot requests; 'would fix' by the default rules", file=sys.stderr)
    return 0


def _serve(args: argparse.Namespace) -> int:
    spec = PortalSpec(contacts=args.contacts, companies=args.companies, seed=args.seed)
    settings = replace(SANDBOX_SETTINGS, workflow_delay_seconds=args.workflow_delay)
    serve_until_signalled(spec, settings, port=args.port, program="lifecycle-guard sandbox")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "sandbox":
        return _serve(args)  # it stops on SIGINT/SIGTERM itself
    with StopSignals() as stop:
        try:
            if args.command == "audit":
                return _audit(args)
            return _execute(args, args.command, stop)
        except Interrupted as exc:
            print("lifecycle-guard: interrupted before the run started", file=sys.stderr)
            return exit_status(exc.received)
        except (UsageError, ConfigError) as exc:
            print(f"lifecycle-guard: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except TargetError as exc:
            print(f"lifecycle-guard: {exc}\nhint: {exc.hint}", file=sys.stderr)
            return EXIT_TARGET
        except (RunBusyError, PortalBusyError) as exc:
            print(f"lifecycle-guard: {exc}", file=sys.stderr)
            return EXIT_BUSY
        except HubSpotError as exc:
            print(f"lifecycle-guard: {exc}", file=sys.stderr)
            return EXIT_FAILED
