"""Cost of our own code: CPU, wall time and peak memory of the offline pipeline on a 100k-contact portal.

    .venv/bin/python bench/pipeline_cost.py [--repeat 3] [--contacts 100000] [--companies 10000] [--seed 1]

Each repetition serves a fresh portal in its own process (``hubspot-sandbox serve``, no rate limits) and runs the
full pipeline once (``offline_run.py``: apply mode, real state machine on moto, Lambda handlers in-process) in
another process, given an unlimited burst budget (1,000,000 requests / 10 s). Measured:

- pipeline process: wall seconds of the execution (StartExecution .. finished), CPU seconds (user + system, all
  threads) during it, split into the Lambda handlers' own, moto's serving their AWS requests (what runs on AWS's
  side in a deployment) and the rest (``cpu_split.py``), its longest garbage-collection pause, and its peak RSS
  (VmHWM over the process's life, deploying the app into moto included);
  deploying the app (template transform, moto CloudFormation) is reported apart, it is not per-run work in AWS;
- sandbox process, separately: CPU seconds while the run executes, and its peak RSS while serving (VmHWM reset
  once the portal is generated and served).

The run still paces search: ``budget.search_requests_per_second`` cannot exceed HubSpot's 5/s (the config
validates it), and the pacer admits 5 searches per 1.025 s (its 2.5 % margin). That floor is shown next to the
wall time. The live prevention test's wait (5 s here) is part of the wall time too; both are waiting, not CPU.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import (
    Stopwatch,
    by_phase,
    command_line,
    headline,
    machine,
    portal_arguments,
    portal_spec,
    progress,
    run_pipeline,
    seconds_in,
    served_sandbox,
    show,
    spread,
    table,
    verdict,
    work_dir,
    write_results,
)

from hubspot_sandbox import PortalSpec
from lifecycle_guard.budget import WINDOW_MARGIN

NAME = "pipeline_cost"
UNLIMITED = 1_000_000
SEARCH_PER_SECOND = 5
TARGET_HANDLER_CPU_SECONDS = 15  # issue #12: pipeline CPU for 100k contacts
SEARCH_PACER_WINDOW = 1.0 * (1 + WINDOW_MARGIN)  # the search pacer's window: a second plus the margin


def measure_run(spec: PortalSpec, work: Path) -> dict[str, Any]:
    with served_sandbox(spec, request_log=True) as sandbox:
        sandbox.reset_peak_rss()
        sandbox_cpu = sandbox.cpu_seconds()
        result = run_pipeline(sandbox, requests_per_10s=UNLIMITED, search_per_second=SEARCH_PER_SECOND, out=work)
        sandbox_cpu = sandbox.cpu_seconds() - sandbox_cpu
        sandbox_memory = sandbox.memory_mb()
        log = sandbox.request_log()
    process = result["process"]
    searches = sum(1 for _, key, _ in log if key.endswith("/search"))
    phases = {phase: seconds_in(intervals) for phase, intervals in result["phases"].items()}
    split = by_phase(log, result["phases"])
    return {
        "run_id": result["run_id"],
        "calls": len(log),
        "searches": searches,
        "changes_applied": result["fix"]["applied"],
        "wall_seconds": process["run_seconds"],
        "cpu_seconds": process["run_cpu_user"] + process["run_cpu_system"],
        "cpu_user": process["run_cpu_user"],
        "cpu_system": process["run_cpu_system"],
        "cpu_lambda": process["run_cpu_lambda"],
        "cpu_aws": process["run_cpu_aws"],
        "cpu_harness": process["run_cpu_user"]
        + process["run_cpu_system"]
        - process["run_cpu_lambda"]
        - process["run_cpu_aws"],
        "gc_longest_seconds": process["gc_pauses"]["longest"],
        "gc_total_seconds": process["gc_pauses"]["total"],
        "setup_seconds": process["setup_seconds"],
        "setup_cpu_seconds": process["setup_cpu_seconds"],
        "peak_rss_mb": process["peak_rss_mb"],
        "sandbox_cpu_seconds": sandbox_cpu,
        "sandbox_peak_rss_mb": sandbox_memory["peak_rss_mb"],
        "sandbox_rss_mb": sandbox_memory["rss_mb"],
        "search_pacing_floor_seconds": searches / SEARCH_PER_SECOND * SEARCH_PACER_WINDOW,
        "phase_seconds": phases,
        "phase_calls": {phase: len(entries) for phase, entries in split.items()},
    }


METRICS = (
    ("wall_seconds", "pipeline: wall seconds of the execution", 1),
    ("cpu_seconds", "pipeline: CPU seconds (user + system) during the execution", 1),
    ("cpu_user", "  of which user", 1),
    ("cpu_system", "  of which system", 1),
    ("cpu_lambda", "  of which the Lambda handlers (our code, the client side of its AWS calls included)", 1),
    ("cpu_aws", "  of which moto serving the handlers' AWS requests (AWS's side)", 1),
    ("cpu_harness", "  of which the rest: Step Functions interpreter, SQS pollers, this process's polling", 1),
    ("gc_total_seconds", "pipeline: garbage collection, seconds in all (every thread stopped)", 1),
    ("gc_longest_seconds", "pipeline: longest garbage-collection pause (seconds)", 2),
    ("peak_rss_mb", "pipeline: peak RSS (MB)", 0),
    ("setup_seconds", "pipeline: deploying the app into moto, wall seconds (not per run in AWS)", 1),
    ("setup_cpu_seconds", "pipeline: deploying the app into moto, CPU seconds", 1),
    ("sandbox_cpu_seconds", "sandbox: CPU seconds during the execution", 1),
    ("sandbox_peak_rss_mb", "sandbox: peak RSS while serving (MB)", 0),
    ("calls", "HubSpot calls", 0),
    ("changes_applied", "changes applied", 0),
    ("search_pacing_floor_seconds", "search pacing floor: searches x 1.025 s / 5 (seconds)", 1),
)


def markdown(report: dict[str, Any]) -> str:
    spec, s = report["portal"], report["summary"]
    lines = [
        "# Cost of our own code: the offline pipeline on a 100k-contact portal",
        "",
        f"Portal: {spec['contacts']:,} contacts / {spec['companies']:,} companies (seed {spec['seed']}); rate limits "
        f"off (sandbox unlimited, burst budget {UNLIMITED:,}/10 s; search paced at its 5/s maximum). "
        f"{report['run']['repeat']} runs, each in a fresh pipeline process against a freshly served sandbox process; "
        f"values are median (min..max). Command: `{report['run']['command']}`.",
        "",
        *table(["measure", "value"], [[label, show(s[key], digits)] for key, label, digits in METRICS]),
        "",
        f"Per HubSpot call: {s['cpu_ms_per_call']['median']:.1f} ms of pipeline CPU and "
        f"{s['sandbox_cpu_ms_per_call']['median']:.1f} ms of sandbox CPU; "
        f"per change applied: {s['cpu_ms_per_change']['median']:.2f} ms of pipeline CPU. The pipeline process "
        f"includes moto (S3, DynamoDB, SQS, Step Functions emulated in-process) and hubspot-api-client.",
        "",
        "## Wall time by phase (seconds)",
        "",
        *table(
            ["phase", "seconds", "calls"],
            [[phase, show(s["phases"][phase], 1), show(s["phase_calls"][phase], 0)] for phase in s["phases"]],
        ),
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    portal_arguments(parser, contacts=100_000, work=True)
    args = parser.parse_args(argv)
    spec = portal_spec(args)
    work = work_dir(args)
    clock = Stopwatch()
    runs = []
    for number in range(args.repeat):
        progress(f"{NAME}: run {number + 1}/{args.repeat} (logs in {work})")
        runs.append(measure_run(spec, work))
    summary: dict[str, Any] = {key: spread([run[key] for run in runs]) for key, _, _ in METRICS}
    summary["cpu_ms_per_call"] = spread([1000 * r["cpu_seconds"] / r["calls"] for r in runs])
    summary["sandbox_cpu_ms_per_call"] = spread([1000 * r["sandbox_cpu_seconds"] / r["calls"] for r in runs])
    summary["cpu_ms_per_change"] = spread([1000 * r["cpu_seconds"] / r["changes_applied"] for r in runs])
    phases = list(runs[0]["phase_seconds"])
    summary["phases"] = {phase: spread([r["phase_seconds"].get(phase, 0.0) for r in runs]) for phase in phases}
    summary["phase_calls"] = {phase: spread([r["phase_calls"].get(phase, 0) for r in runs]) for phase in phases}
    report = {
        "machine": machine(),
        "run": {"repeat": args.repeat, "command": command_line(), "seconds": clock.seconds},
        "portal": {"contacts": spec.contacts, "companies": spec.companies, "seed": spec.seed},
        "runs": runs,
        "summary": summary,
        "headline": [
            headline(
                f"{spec.contacts:,}-contact run, rate limits off: CPU s of the Lambda handlers (our code)",
                show(summary["cpu_lambda"]),
                f"<= {TARGET_HANDLER_CPU_SECONDS}",
                verdict(summary["cpu_lambda"]["median"] <= TARGET_HANDLER_CPU_SECONDS),
            ),
            headline(
                "same run, the whole pipeline process (handlers, moto serving their AWS requests, harness): CPU s / "
                "wall s / peak RSS MB",
                f"{show(summary['cpu_seconds'])} / {show(summary['wall_seconds'])} / {show(summary['peak_rss_mb'], 0)}",
            ),
            headline(
                "same run, sandbox process apart: CPU s / peak RSS MB while serving",
                f"{show(summary['sandbox_cpu_seconds'])} / {show(summary['sandbox_peak_rss_mb'], 0)}",
            ),
        ],
    }
    write_results(NAME, report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
