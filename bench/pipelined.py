"""Pipelined runs under HubSpot's limits (#12): planning and fixing overlap, and the planner and four concurrent fix
workers draw on one burst budget.

    .venv/bin/python bench/pipelined.py [--repeat 1] [--contacts 100000] [--small-contacts 30000]
                                        [--extrapolate 1000000] [--budget 190] [--workers 4]

Each portal is served by the sandbox in its own process, enforcing a Professional portal's limits (190 requests
per rolling 10 s, 5 searches per rolling second) and logging every request's arrival; each run is one apply run
through the real state machine in a fresh process (``offline_run.py``: template.yaml on moto, Lambda handlers in
containers of their own, ``--workers`` fix workers at once, every process drawing on the budget in DynamoDB),
given the whole budget. Per run:

- **the time its API calls need at the budget**: max(non-exempt calls / (budget / 10 s), searches / 5 per s) -
  the calls HubSpot's specs exempt from the ten-secondly limit (search, association batch reads, flow writes) count
  only against search's own limit, or not at all;
- **the fix window**: from the first batch update HubSpot received to the last. Its rolling 10 s windows (one
  starting every 0.1 s, wholly inside it) of non-exempt requests - the planner's and the workers' together, as
  HubSpot counts them: the busiest, the 90th percentile and the mean, against the budget;
- 429s the sandbox answered; the most fix workers that ran at once.

Targets:

1. **1M contacts at 190 / 10 s within 1.15 x the floor of HubSpot's limits**, from the measured run of the large
   portal. The run's pipelined part (from the first Plan to the last fix job settled) is extrapolated to the 1M
   portal's calls (its batched minimum, ``portal_minimum.py``, times the used/minimum ratio measured here) at the
   steady rate the run held (the fix window's mean 10 s window), plus the seconds the measured part spent beyond
   that rate (its start and its end, which do not grow with the portal); the same at the part's overall
   efficiency (its calls' need at the budget / its seconds, ramp included) is shown for comparison. The audit,
   prevention, verification and live test keep their measured time, the report grows with the number of changes.
   Two floors: **HubSpot's
   limits** (every non-exempt call of the minimum and the per-run overhead at the budget, every search at 5/s, all
   at once) and **the plan-overlap floor** (the per-run overhead's steps one after another, then planning and
   fixing overlapped: non-exempt calls at the budget, or planning's searches at 5/s plus the last job's calls).
2. **Fix window with four concurrent workers**: the busiest 10 s windows >= 0.9 of the budget, never above it, no
   429.
3. **Whole run on the small portal, whose workflows act 1 s after enrollment**: <= 2 x the time its API calls
   need at the budget.
4. The small portal again, given a share of the budget (``--share``, 0.5): no 10 s window of the whole run above
   that share, no 429 (other integrations keep the rest).

(API calls against the batched minimum and the pipeline's CPU are ``api_efficiency.py`` and ``pipeline_cost.py``.)
"""

from __future__ import annotations

import argparse
import bisect
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import (
    Stopwatch,
    command_line,
    headline,
    machine,
    max_in_window,
    portal_arguments,
    portal_spec,
    progress,
    run_pipeline,
    seconds_in,
    served_sandbox,
    table,
    verdict,
    work_dir,
    write_results,
)
from portal_minimum import PortalMinimum, minimum_and_overhead, portal_minimum

from hubspot_sandbox import PortalSpec, generate_portal
from lifecycle_guard.budget import ten_secondly_exempt
from lifecycle_guard.config import FixOptions

NAME = "pipelined"
SEARCH_LIMIT = 5  # per second
WINDOW = 10.0
TARGET_VS_LIMITS = 1.15
TARGET_FILL = 0.9
TARGET_VS_NEED = 2.0
CONSTANT_PHASES = ("audit", "prevent", "verify", "live_test_wait")
# The calls of the job handed over last, which fixing still has to make once planning is done: a job's batches'
# sets, the clears of its backward moves at most, and the read-backs.
LAST_JOB_CALLS = 3 * FixOptions().job_size // FixOptions().batch_size

Log = list[tuple[float, str, int]]


def is_search(endpoint: str) -> bool:
    return endpoint.endswith("/search")


def need_seconds(paced: float, searches: float, budget: int) -> float:
    """How long calls take at HubSpot's limits, everything at once: the binding one of the two."""
    return max(paced / (budget / WINDOW), searches / SEARCH_LIMIT)


def window_counts(times: Sequence[float], start: float, end: float, step: float = 0.1) -> list[int]:
    """Requests in each rolling window starting every ``step`` s and lying wholly in [start, end]."""
    ordered = sorted(times)
    count = int((end - start - WINDOW) / step) + 1
    return [
        bisect.bisect_left(ordered, s + WINDOW) - bisect.bisect_left(ordered, s)
        for s in (start + i * step for i in range(max(0, count)))
    ]


def measure(
    spec: PortalSpec, args: argparse.Namespace, work: Path, workflow_delay: float, budget: int | None = None
) -> dict[str, Any]:
    """One run given ``budget`` (default: the whole of the portal's limit, ``--budget``)."""
    budget = budget or args.budget
    with served_sandbox(
        spec, burst_limit=args.budget, search_limit=SEARCH_LIMIT, request_log=True, workflow_delay=workflow_delay
    ) as sandbox:
        result = run_pipeline(
            sandbox,
            requests_per_10s=budget,
            out=work,
            search_per_second=args.search_per_second,
            workers=args.workers,
        )
        stats, log = sandbox.stats(), sandbox.request_log()
    start, end = result["execution"]
    paced = [at for at, key, _ in log if not ten_secondly_exempt(key)]
    writes = [at for at, key, _ in log if key.endswith("/batch/update")]
    fix_start, fix_end = min(writes), max(writes)
    counts = window_counts(paced, fix_start, fix_end)
    phases = {name: seconds_in(intervals) for name, intervals in result["phases"].items()}
    plan_start = min(interval[0] for interval in result["phases"]["plan"])
    pipelined_end = max(interval[1] for interval in result["phases"]["fix"])
    pipelined: Log = [entry for entry in log if plan_start <= entry[0] <= pipelined_end]
    return {
        "run_id": result["run_id"],
        "execution_seconds": end - start,
        "calls": len(log),
        "paced_calls": len(paced),
        "searches": sum(1 for _, key, _ in log if is_search(key)),
        "need_seconds": need_seconds(len(paced), sum(1 for _, key, _ in log if is_search(key)), budget),
        "busiest": max_in_window(paced, WINDOW),
        "rate_limited": stats["rate_limited"],
        "peak_workers": result["peak_workers"],
        "fix_window_seconds": fix_end - fix_start,
        "fix_busiest": max_in_window([t for t in paced if fix_start <= t <= fix_end], WINDOW),
        "fix_p90": statistics.quantiles(counts, n=10)[-1] if len(counts) > 1 else (counts or [0])[0],
        "fix_mean": statistics.mean(counts) if counts else 0.0,
        "phases": phases,
        "pipelined": {
            "seconds": pipelined_end - plan_start,
            "paced": sum(1 for _, key, _ in pipelined if not ten_secondly_exempt(key)),
            "searches": sum(1 for _, key, _ in pipelined if is_search(key)),
            "calls": len(pipelined),
        },
        "changes_applied": result["fix"]["applied"],
        "process": result["process"],
    }


def _paced(calls: dict[tuple[str, str], int] | dict[str, int]) -> int:
    return sum(n for key, n in calls.items() if not ten_secondly_exempt(key[1] if isinstance(key, tuple) else key))


def _searches(calls: dict[tuple[str, str], int] | dict[str, int]) -> int:
    return sum(n for key, n in calls.items() if is_search(key[1] if isinstance(key, tuple) else key))


def extrapolate(
    run: dict[str, Any], small: PortalMinimum, large: PortalMinimum, fixed: dict[str, int], budget: int
) -> dict[str, Any]:
    """The large portal's run time from the measured run, and the two floors it is held to."""
    measured = run["pipelined"]
    efficiency = need_seconds(measured["paced"], measured["searches"], budget) / measured["seconds"]
    paced_ratio = measured["paced"] / _paced(small.calls)
    search_ratio = measured["searches"] / _searches(small.calls)
    paced, searches = _paced(large.calls) * paced_ratio, _searches(large.calls) * search_ratio
    steady_rate = run["fix_mean"] / WINDOW  # non-exempt requests a second while the pipeline was full
    ramp = max(0.0, measured["seconds"] - measured["paced"] / steady_rate)
    pipelined_seconds = ramp + max(paced / steady_rate, searches / SEARCH_LIMIT)
    proportional_seconds = need_seconds(paced, searches, budget) / efficiency
    changes = sum(large.counts[f"{t}_dirty"] for t in ("companies", "contacts"))
    small_changes = sum(small.counts[f"{t}_dirty"] for t in ("companies", "contacts"))
    constant = sum(run["phases"].get(phase, 0.0) for phase in CONSTANT_PHASES)
    report = run["phases"].get("report", 0.0) * changes / small_changes
    total = constant + pipelined_seconds + report
    plan_searches = sum(n for (phase, endpoint), n in large.calls.items() if phase == "plan" and is_search(endpoint))
    limits_floor = need_seconds(_paced(large.calls) + _paced(fixed), _searches(large.calls) + _searches(fixed), budget)
    overlap_floor = (
        _searches(fixed) / SEARCH_LIMIT
        + _paced(fixed) / (budget / WINDOW)
        + max(
            _paced(large.calls) / (budget / WINDOW), plan_searches / SEARCH_LIMIT + LAST_JOB_CALLS / (budget / WINDOW)
        )
    )
    return {
        "counts": large.counts,
        "efficiency": efficiency,
        "calls": {"paced": paced, "searches": searches, "minimum": large.total + sum(fixed.values())},
        "steady_rate": steady_rate,
        "ramp_seconds": ramp,
        "seconds": {"constant": constant, "pipelined": pipelined_seconds, "report": report, "total": total},
        "proportional_total_seconds": constant + proportional_seconds + report,
        "limits_floor_seconds": limits_floor,
        "overlap_floor_seconds": overlap_floor,
        "vs_limits_floor": total / limits_floor,
        "vs_overlap_floor": total / overlap_floor,
    }


def markdown(report: dict[str, Any]) -> str:
    budget, large, small, x = report["budget"], report["large"], report["small"], report["extrapolation"]
    lines = [
        "# Pipelined runs under HubSpot's limits",
        "",
        f"Command: `{report['run']['command']}`. The sandbox enforces {budget} requests per rolling 10 s and "
        f"{SEARCH_LIMIT} searches per rolling second; each run is given the whole budget, {report['workers']} fix "
        "workers at once. Seconds are execution-history time; request times are the sandbox's arrival times.",
        "",
    ]
    for label, run in (("large", large), ("small", small)):
        spec = report["portals"][label]
        lines += [
            f"## {spec['contacts']:,} contacts / {spec['companies']:,} companies (workflows act "
            f"{spec['workflow_delay']:g} s after enrollment)",
            "",
            *table(
                ["measure", "value"],
                [
                    ["execution (s)", f"{run['execution_seconds']:.1f}"],
                    [
                        "calls (non-exempt / searches)",
                        f"{run['calls']:,} ({run['paced_calls']:,} / {run['searches']:,})",
                    ],
                    ["time its API calls need at the budget (s)", f"{run['need_seconds']:.1f}"],
                    ["execution / that need", f"{run['execution_seconds'] / run['need_seconds']:.2f}"],
                    ["429s", str(sum(run["rate_limited"].values()))],
                    ["fix workers at once (most)", str(run["peak_workers"])],
                    ["fix window (s)", f"{run['fix_window_seconds']:.1f}"],
                    [
                        "fix window: busiest / 90th percentile / mean 10 s window (non-exempt)",
                        f"{run['fix_busiest']} / {run['fix_p90']:.0f} / {run['fix_mean']:.1f} of {budget}",
                    ],
                    ["phases (s)", ", ".join(f"{k} {v:.1f}" for k, v in run["phases"].items())],
                    ["changes applied", f"{run['changes_applied']:,}"],
                ],
                "lr",
            ),
            "",
        ]
    share = report["share"]
    lines += [
        f"## The small portal given {share['budget']} of the {budget} / 10 s "
        "(a share: other integrations keep the rest)",
        "",
        f"Busiest rolling 10 s window of non-exempt requests over the whole run: **{share['busiest']}** "
        f"(<= {share['budget']}); 429s: {sum(share['rate_limited'].values())}; "
        f"execution {share['execution_seconds']:.1f} s.",
        "",
    ]
    lines += [
        f"## Extrapolation to {x['counts']['contacts_dirty']:,} dirty contacts of a "
        f"{report['extrapolate_contacts']:,}-contact portal at {budget} / 10 s",
        "",
        *table(
            ["", "seconds"],
            [
                ["audit, prevention, verification, live test (as measured)", f"{x['seconds']['constant']:,.0f}"],
                [
                    f"planning and fixing, pipelined ({x['calls']['paced']:,.0f} non-exempt calls, "
                    f"{x['calls']['searches']:,.0f} searches) at the steady {x['steady_rate']:.2f} requests/s the "
                    f"run held, plus its {x['ramp_seconds']:.1f} s of start and end",
                    f"{x['seconds']['pipelined']:,.0f}",
                ],
                ["report (grows with the changes)", f"{x['seconds']['report']:,.0f}"],
                ["**extrapolated run**", f"**{x['seconds']['total']:,.0f}** ({x['seconds']['total'] / 60:.1f} min)"],
                ["floor of HubSpot's limits (everything at once)", f"{x['limits_floor_seconds']:,.0f}"],
                [
                    "plan-overlap floor (overhead steps in turn, then planning and fixing overlapped)",
                    f"{x['overlap_floor_seconds']:,.0f}",
                ],
            ],
            "lr",
        ),
        "",
        f"Extrapolated / limits floor = **{x['vs_limits_floor']:.3f}** (target <= {TARGET_VS_LIMITS}; the median of "
        f"{len(x['vs_limits_floor_runs'])} runs: {', '.join(f'{v:.3f}' for v in x['vs_limits_floor_runs'])}); "
        f"/ plan-overlap floor = {x['vs_overlap_floor']:.2f}. At the measured part's overall efficiency "
        f"({x['efficiency']:.3f} of the limits, its start and end scaled with it): "
        f"{x['proportional_total_seconds']:,.0f} s, "
        f"x{x['proportional_total_seconds'] / x['limits_floor_seconds']:.2f}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    portal_arguments(parser, contacts=100_000, work=True)
    parser.add_argument("--small-contacts", type=int, default=30_000, help="the small portal's contacts (30k)")
    parser.add_argument("--budget", type=int, default=190, help="the run's and the sandbox's requests per 10 s")
    parser.add_argument("--search-per-second", type=float, default=5.0, help="budget.search_requests_per_second")
    parser.add_argument("--workers", type=int, default=4, help="fix workers at once (4)")
    parser.add_argument("--share", type=float, default=0.5, help="the small portal again at this share (0.5)")
    parser.add_argument("--extrapolate", type=int, default=1_000_000, help="contacts to extrapolate to (1M)")
    args = parser.parse_args(argv)
    large_spec = portal_spec(args)
    small_spec = PortalSpec(contacts=args.small_contacts, companies=max(1, args.small_contacts // 10), seed=args.seed)
    work = work_dir(args)
    clock = Stopwatch()

    larges = []
    for number in range(args.repeat):
        progress(f"{NAME}: {large_spec.contacts:,} contacts, run {number + 1}/{args.repeat} (logs in {work})")
        larges.append(measure(large_spec, args, work / f"large-{number}", workflow_delay=1.0))
    progress(f"{NAME}: {small_spec.contacts:,} contacts, workflows acting after 1 s")
    small = measure(small_spec, args, work / "small", workflow_delay=1.0)
    share_budget = max(1, int(args.budget * args.share))
    progress(f"{NAME}: {small_spec.contacts:,} contacts given {share_budget} of the portal's {args.budget} / 10 s")
    shared = measure(small_spec, args, work / "share", workflow_delay=1.0, budget=share_budget)
    progress(f"{NAME}: minimum calls of {large_spec.contacts:,} and {args.extrapolate:,} contacts")
    measured_minimum, fixed = minimum_and_overhead(large_spec)
    huge = PortalSpec(contacts=args.extrapolate, companies=max(1, args.extrapolate // 10), seed=args.seed)
    huge_minimum = portal_minimum(generate_portal(huge))
    # The large portal's runs, each extrapolated; the report shows the median one and the spread of the ratio.
    extrapolations = sorted(
        ((extrapolate(run, measured_minimum, huge_minimum, fixed, args.budget), run) for run in larges),
        key=lambda pair: pair[0]["vs_limits_floor"],
    )
    extrapolation, large = extrapolations[len(extrapolations) // 2]
    extrapolation["vs_limits_floor_runs"] = [x["vs_limits_floor"] for x, _ in extrapolations]

    fill_met = (
        args.budget >= large["fix_busiest"] >= TARGET_FILL * args.budget
        and not large["rate_limited"]
        and large["peak_workers"] >= args.workers
    )
    small_ratio = small["execution_seconds"] / small["need_seconds"]
    ratios = ", ".join(f"{v:.3f}" for v in extrapolation["vs_limits_floor_runs"])
    report = {
        "machine": machine(),
        "run": {"command": command_line(), "seconds": clock.seconds},
        "budget": args.budget,
        "workers": args.workers,
        "portals": {
            "large": {"contacts": large_spec.contacts, "companies": large_spec.companies, "workflow_delay": 1.0},
            "small": {"contacts": small_spec.contacts, "companies": small_spec.companies, "workflow_delay": 1.0},
        },
        "large": large,
        "small": small,
        "share": {"budget": share_budget, **shared},
        "extrapolate_contacts": args.extrapolate,
        "extrapolation": extrapolation,
        "headline": [
            headline(
                f"{args.extrapolate:,} contacts at {args.budget}/10 s: extrapolated run vs HubSpot's limits floor",
                f"{extrapolation['seconds']['total'] / 60:.1f} min; limits floor "
                f"{extrapolation['limits_floor_seconds'] / 60:.1f} min "
                f"(x{extrapolation['vs_limits_floor']:.3f}, median of {args.repeat}: {ratios}); "
                f"plan-overlap floor {extrapolation['overlap_floor_seconds'] / 60:.1f} min "
                f"(x{extrapolation['vs_overlap_floor']:.2f})",
                f"<= x{TARGET_VS_LIMITS}",
                verdict(extrapolation["vs_limits_floor"] <= TARGET_VS_LIMITS),
            ),
            headline(
                f"fix window, {large['peak_workers']} workers at once: busiest 10 s window; 429s",
                f"{large['fix_busiest']} of {args.budget} (90th percentile {large['fix_p90']:.0f}, mean "
                f"{large['fix_mean']:.0f}); {sum(large['rate_limited'].values())}",
                f">= {TARGET_FILL * args.budget:.0f}, <= {args.budget}; 0",
                verdict(fill_met),
            ),
            headline(
                f"{small_spec.contacts:,}-contact run, workflows acting in 1 s: execution / its calls' need",
                f"{small['execution_seconds']:.0f} s / {small['need_seconds']:.0f} s = {small_ratio:.2f}",
                f"<= {TARGET_VS_NEED}",
                verdict(small_ratio <= TARGET_VS_NEED),
            ),
            headline(
                f"{small_spec.contacts:,}-contact run given {share_budget} of {args.budget} / 10 s: busiest 10 s "
                "window of the whole run; 429s",
                f"{shared['busiest']}; {sum(shared['rate_limited'].values())}",
                f"<= {share_budget}; 0",
                verdict(shared["busiest"] <= share_budget and not shared["rate_limited"]),
            ),
        ],
    }
    write_results(NAME, report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
