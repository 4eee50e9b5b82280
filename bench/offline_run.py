"""One lifecycle-guard apply run through the real state machine on moto, measured from inside its own process.

    .venv/bin/python bench/offline_run.py --url URL --token TOKEN [--budget 190] [--search-per-second 4]
                                          [--api-tier professional] [--workers N] [--out DIR]

The benchmarks start this once per repetition (``common.run_pipeline``), so each run has a fresh process: its own
moto, its own pacers (they are per process) and its own peak RSS. The wiring is that of
``lifecycle-guard run --hubspot-url URL --apply`` (``OfflineApp``: template.yaml transformed and deployed into moto,
the real ASL executing, Lambda handlers dispatched in-process, SQS pollers, every process drawing on the one
budget in DynamoDB; ``ProgressPollSeconds`` 1; the portal's tier ``--api-tier``, whose FixWorkers run at once
unless ``--workers`` says otherwise), without the CLI's progress display and bucket mirror, which are not part of
the pipeline. The live prevention test waits for the workflows at most ``--live-test-wait`` seconds (the deployed
default, 120), checking every few seconds.

Prints one JSON line on stdout:

- ``outcome``, ``failures``, ``api`` (the report's own API counters), ``fix``, ``changes`` (per rule and move kind);
- ``execution``: [start, end] unix seconds (ExecutionStarted .. the final event), ``phases``: ``{phase: [[start,
  end], ...]}`` from the execution history, one interval per visit of a state of the phase: audit (Begin), plan,
  fix (Dispatch, then the wait/progress-check loop), prevent, verify (StartProbe, Verify), live_test_wait, report;
- ``peak_workers``: the most fix worker invocations that ran at once;
- ``process``: ``setup_seconds`` / ``setup_cpu_seconds`` (deploying the app into moto), ``run_seconds``
  (start_execution .. finished), ``run_cpu_user`` / ``run_cpu_system`` (CPU of this process, all threads, during
  the execution), ``run_cpu_lambda`` / ``run_cpu_aws`` (of that, the Lambda handlers' own and moto's serving AWS
  requests, ``cpu_split``), ``gc_pauses`` (collections during the execution, the longest and the total
  seconds), ``peak_rss_mb`` (VmHWM of this process over its whole life) and ``rss_mb`` at the end.

Lambda log lines (Powertools writes JSON to stdout) go to ``DIR/lambda.log``.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
import time
import uuid
import warnings
from collections.abc import Sequence
from contextlib import redirect_stdout
from pathlib import Path

from common import memory_mb, phase_windows
from cpu_split import AWS, LAMBDA, CpuSplit

from lifecycle_guard.config import load_config
from lifecycle_guard_offline.executions import wait_for_execution
from lifecycle_guard_offline.harness import OfflineApp
from lifecycle_guard_offline.phase_watch import PHASES


class GcPauses:
    """How long the process stood still for the garbage collector: every thread stops, so requests admitted
    before a pause go out together after it."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._started = 0.0

    def __call__(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._started)

    def summary(self) -> dict[str, float]:
        return {"collections": len(self.pauses), "longest": max(self.pauses, default=0.0), "total": sum(self.pauses)}


POLL_SECONDS = 0.5  # how often the finished state is checked: rarely, this process is what is measured
# The CLI's phases, with the live test's wait for the workflows apart from the verification's work.
PHASE_OF_STATE = {**PHASES, "WaitForPrevention": "live_test_wait", "CheckProbe": "live_test_wait"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--budget", type=int, default=190, help="budget.requests_per_10s (default 190)")
    parser.add_argument("--search-per-second", type=float, default=5.0, help="budget.search_requests_per_second")
    parser.add_argument("--live-test-wait", type=int, default=120, help="verification.live_test_wait_seconds (120)")
    parser.add_argument("--api-tier", default="professional", help="HubSpotApiTier (professional: 4 fix workers)")
    parser.add_argument("--workers", type=int, help="fix workers at once (default: the tier's)")
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args(argv)

    overrides = {
        "budget": {
            "requests_per_10s": args.budget,
            "search_requests_per_second": args.search_per_second,
        },
        "verification": {"live_test_wait_seconds": args.live_test_wait},
    }
    config = load_config(None, overrides).model_dump(mode="json", exclude_defaults=True)
    run_id = f"bench-{uuid.uuid4().hex[:10]}"
    args.out.mkdir(parents=True, exist_ok=True)
    logging.getLogger("moto.cloudformation.parsing").setLevel(logging.ERROR)
    started, cpu_started = time.perf_counter(), os.times()
    with (
        CpuSplit().installed() as split,
        (args.out / "lambda.log").open("a") as log,
        warnings.catch_warnings(),
        redirect_stdout(log),
        OfflineApp(
            hubspot_token=args.token,
            hubspot_base_url=args.url,
            guard_config=config,
            parameters={"ProgressPollSeconds": "1"},
            api_tier=args.api_tier,
            sqs_concurrency=args.workers,
        ) as app,
    ):
        warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
        deployed, cpu_deployed, split_deployed = time.perf_counter(), os.times(), split.snapshot()
        gc_pauses = GcPauses()
        gc.callbacks.append(gc_pauses)
        arn = app.start_execution({"action": "run", "mode": "apply", "source": "bench"}, name=run_id)
        result = wait_for_execution(app.client("stepfunctions"), arn, args.timeout, poll_seconds=POLL_SECONDS)
        finished, cpu_finished, split_finished = time.perf_counter(), os.times(), split.snapshot()
        gc.callbacks.remove(gc_pauses)
        report_key = next(key for key in app.list_keys("runs/") if key.endswith(f"/{run_id}/report.json"))
        report = app.read_json(report_key)
        peak_workers = app.peak_concurrency("FixWorkerFunction")
    history = result.history
    output = {
        "run_id": run_id,
        "status": result.status,
        "outcome": report["outcome"],
        "failures": report["failures"],
        "api": report["api"],
        "fix": {key: value for key, value in report["fix"].items() if key != "residue"},
        "changes": report["changes"],
        "checks": {check["name"]: check["status"] for check in report["checks"]},
        "execution": [history[0]["timestamp"].timestamp(), history[-1]["timestamp"].timestamp()],
        "phases": phase_windows(history, PHASE_OF_STATE),
        "peak_workers": peak_workers,
        "process": {
            "setup_seconds": deployed - started,
            "setup_cpu_seconds": (cpu_deployed.user + cpu_deployed.system) - (cpu_started.user + cpu_started.system),
            "run_seconds": finished - deployed,
            "run_cpu_user": cpu_finished.user - cpu_deployed.user,
            "run_cpu_system": cpu_finished.system - cpu_deployed.system,
            "run_cpu_lambda": split_finished[LAMBDA] - split_deployed[LAMBDA],
            "run_cpu_aws": split_finished[AWS] - split_deployed[AWS],
            "gc_pauses": gc_pauses.summary(),
            **memory_mb(),
        },
    }
    print(json.dumps(output))
    return 0 if result.status == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
