"""Budget use: how much of the API budget a run achieves under HubSpot's limits, and whether it causes 429s.

    .venv/bin/python bench/budget_use.py [--repeat 3] [--contacts 100000] [--budget 190] [--share 0.5]
                                         [--extrapolate 1000000]

The sandbox enforces a Professional portal's limits (190 requests per rolling 10 s, 5 searches per rolling second;
``--burst-limit``/``--search-limit``) and logs every request's arrival time. Each repetition serves a fresh portal
and makes one apply run through the real state machine, given the whole budget (``--budget``, default 190) and
then a share of it (``--share``, default 0.5: 95). Per run:

- 429s we caused: the sandbox's ``rate_limited`` counter (target 0);
- achieved rate per phase = the phase's calls / the seconds its states ran (execution history), as a fraction of
  the budget's rate. **The fraction of the budget** (target >= 0.9) is the fix phase's, the phase the burst budget
  binds (writes and read-backs, no search): the mean number of requests in HubSpot's rolling 10 s window during
  the phase (windows starting every 0.1 s between its first and last request) / the budget; that mean / 10 s is
  the phase's steady rate (its plain average is higher: the pacer lets a full window through at once). Planning,
  the audit and the verification are bound by search (HubSpot's separate 5/s limit; lifecycle-guard paces search
  at ``budget.search_requests_per_second`` = 4 per 1.025 s), so their search rate is shown next to it;
- the busiest rolling 10 s window of the sandbox's request log (of the calls the burst limit counts: all but the
  ones HubSpot's specs exempt) and rolling 1 s window (searches): with a share, every 10 s window must stay <= the
  share (e.g. 95).

The extrapolation to ``--extrapolate`` contacts (default 1M, companies / 10, same seed) generates that portal in
this process, computes its batched minimum (``portal_minimum.py``), scales it by the used/minimum ratio measured
here per phase, and divides each phase's calls by the rate measured here (planning: calls / phase seconds; fixing:
its steady rate); the audit, prevention and verification phases keep their measured time (their calls do not grow
with the portal), the report phase grows with the number of changes. It is compared with two floors: HubSpot's
limits alone (every call the specs do not exempt from the ten-secondly limit at 190/10 s, searches at 5/s, all
overlapping) and lifecycle-guard's sequence (fixing cannot start before the plan is complete: planning's searches at
5/s overlap its other paced reads at 190/10 s, then fixing at 190/10 s; plus the per-run overhead, its searches at
5/s and its other paced calls at 190/10 s).
"""

from __future__ import annotations

import argparse
import statistics
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
    max_in_window,
    mean_window_fill,
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
from portal_minimum import PortalMinimum, minimum_and_overhead, portal_minimum

from hubspot_sandbox import PortalSpec, generate_portal
from lifecycle_guard.budget import ten_secondly_exempt

NAME = "budget_use"
TARGET_FRACTION = 0.9
SEARCH_LIMIT_PER_SECOND = 5
PHASE_ORDER = ("audit", "plan", "fix", "prevent", "verify", "live_test_wait", "report")
CONSTANT_PHASES = ("audit", "prevent", "verify", "live_test_wait")


def is_search(endpoint: str) -> bool:
    return endpoint.endswith("/search")


def measure_run(spec: PortalSpec, budget: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    with served_sandbox(
        spec, burst_limit=args.burst_limit, search_limit=args.search_limit, request_log=True
    ) as sandbox:
        result = run_pipeline(sandbox, requests_per_10s=budget, out=work)
        stats, log = sandbox.stats(), sandbox.request_log()
    split = by_phase(log, result["phases"])
    phases = {}
    for phase in PHASE_ORDER:
        entries = split.get(phase, [])
        seconds = seconds_in(result["phases"].get(phase, []))
        searches = sum(1 for _, key, _ in entries if is_search(key))
        phases[phase] = {
            "seconds": seconds,
            "calls": len(entries),
            "searches": searches,
            "rate": len(entries) / seconds if seconds else 0.0,
            "search_rate": searches / seconds if seconds else 0.0,
        }
    fix_times = [at for at, _, _ in split.get("fix", [])]
    fix_fill = mean_window_fill(fix_times, 10.0)
    # The calls the burst limit counts: HubSpot's specs exempt search and association batch reads from it.
    paced_times = [at for at, key, _ in log if not ten_secondly_exempt(key)]
    execution = result["execution"][1] - result["execution"][0]
    budget_rate = budget / 10
    return {
        "run_id": result["run_id"],
        "budget": budget,
        "calls": len(log),
        "calls_outside_states": len(split["between"]),
        "rate_limited": stats["rate_limited"],
        "rate_limited_total": sum(stats["rate_limited"].values()),
        "client_throttled": result["api"]["throttled"],
        "client_paced_seconds": result["api"]["paced_seconds"],
        "execution_seconds": execution,
        "overall_rate": len(log) / execution,
        "overall_fraction": len(paced_times) / execution / budget_rate,
        "phases": phases,
        "fix_seconds": max(fix_times) - min(fix_times) if fix_times else 0.0,
        "fix_fraction": fix_fill / budget,
        "fix_steady_rate": fix_fill / 10,
        "overall_window_fill": mean_window_fill(paced_times, 10.0) / budget,
        "max_calls_in_10s": max_in_window(paced_times, 10.0),
        "max_searches_in_1s": max_in_window([at for at, key, _ in log if is_search(key)], 1.0),
        "changes_applied": result["fix"]["applied"],
    }


def extrapolate(
    runs: list[dict[str, Any]],
    small: PortalMinimum,
    large: PortalMinimum,
    budget: int,
    fixed_calls: int,
    fixed: dict[str, int],
) -> dict[str, Any]:
    """Wall time of a run on the large portal at ``budget``, from the rates and used/minimum ratios measured."""
    calls, seconds = {}, {}
    for phase in ("plan", "fix"):
        ratio = statistics.median([r["phases"][phase]["calls"] for r in runs]) / small.phase_total(phase)
        calls[phase] = large.phase_total(phase) * ratio
        # Fixing at its steady rate (0 when the phase was shorter than a window: its average then).
        rates = [(r["fix_steady_rate"] if phase == "fix" else 0.0) or r["phases"][phase]["rate"] for r in runs]
        seconds[phase] = calls[phase] / statistics.median(rates)
    for phase in CONSTANT_PHASES:
        seconds[phase] = statistics.median([r["phases"][phase]["seconds"] for r in runs])
    changes = sum(large.counts[f"{t}_dirty"] for t in ("companies", "contacts"))
    small_changes = sum(small.counts[f"{t}_dirty"] for t in ("companies", "contacts"))
    seconds["report"] = statistics.median([r["phases"]["report"]["seconds"] for r in runs]) * changes / small_changes
    total_calls = calls["plan"] + calls["fix"] + fixed_calls
    plan_searches = (
        large.calls[("plan", "POST /crm/v3/objects/companies/search")]
        + large.calls[("plan", "POST /crm/v3/objects/contacts/search")]
    )
    fixed_searches = sum(n for endpoint, n in fixed.items() if is_search(endpoint))
    minimum_calls = large.total + sum(fixed.values())
    minimum_searches = plan_searches + fixed_searches
    # Only the calls HubSpot's specs do not exempt from the ten-secondly limit count against the burst budget.
    paced_fixed = sum(n for endpoint, n in fixed.items() if not ten_secondly_exempt(endpoint))
    paced_plan = sum(n for (phase, e), n in large.calls.items() if phase == "plan" and not ten_secondly_exempt(e))
    paced_minimum = paced_fixed + sum(n for (_, e), n in large.calls.items() if not ten_secondly_exempt(e))
    budget_rate = budget / 10
    limits_floor = max(paced_minimum / budget_rate, minimum_searches / SEARCH_LIMIT_PER_SECOND)
    # Fixing cannot start before the plan is complete; planning's searches (5/s) overlap its other reads (budget).
    sequence_floor = (
        fixed_searches / SEARCH_LIMIT_PER_SECOND
        + paced_fixed / budget_rate
        + max(plan_searches / SEARCH_LIMIT_PER_SECOND, paced_plan / budget_rate)
        + large.phase_total("fix") / budget_rate
    )
    total_seconds = sum(seconds.values())
    return {
        "contacts": large.counts,
        "calls": {**calls, "fixed": fixed_calls, "total": total_calls},
        "seconds": seconds,
        "total_seconds": total_seconds,
        "minimum_calls": minimum_calls,
        "minimum_searches": minimum_searches,
        "limits_floor_seconds": limits_floor,
        "sequence_floor_seconds": sequence_floor,
        "vs_limits_floor": total_seconds / limits_floor,
        "vs_sequence_floor": total_seconds / sequence_floor,
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def over(key: str) -> dict[str, Any]:
        return spread([run[key] for run in runs])

    return {
        "calls": over("calls"),
        "rate_limited": over("rate_limited_total"),
        "execution_seconds": over("execution_seconds"),
        "overall_fraction": over("overall_fraction"),
        "fix_fraction": over("fix_fraction"),
        "fix_steady_rate": over("fix_steady_rate"),
        "overall_window_fill": over("overall_window_fill"),
        "max_calls_in_10s": over("max_calls_in_10s"),
        "max_searches_in_1s": over("max_searches_in_1s"),
        "client_paced_seconds": over("client_paced_seconds"),
        "phases": {
            phase: {
                key: spread([run["phases"][phase][key] for run in runs])
                for key in ("seconds", "calls", "searches", "rate", "search_rate")
            }
            for phase in PHASE_ORDER
        },
    }


def markdown(report: dict[str, Any]) -> str:
    spec, limits = report["portal"], report["limits"]
    lines = [
        "# Budget use under HubSpot's rate limits",
        "",
        f"Portal: {spec['contacts']:,} contacts / {spec['companies']:,} companies (seed {spec['seed']}). The sandbox "
        f"enforces {limits['burst']} requests per rolling 10 s and {limits['search']} searches per rolling second "
        f"(a Professional portal) and logs each request's arrival. {report['run']['repeat']} apply runs per budget; "
        f"values are median (min..max). Command: `{report['run']['command']}`.",
        "",
        "**Fraction of the budget** = how full the fix phase keeps HubSpot's rolling 10 s window: the mean number "
        "of requests in a 10 s window (windows starting every 0.1 s between the phase's first and last request) / "
        "the budget. The fix phase is where the burst budget is the binding limit. The other phases are bound by "
        "search (HubSpot: 5/s; lifecycle-guard paces search at 4 per 1.025 s), so their rates are shown against "
        "that. Phase seconds = the time the phase's states ran (execution history).",
        "",
    ]
    for label, summary in report["budgets"].items():
        budget = summary["budget"]
        s = summary["summary"]
        lines += [
            f"## Budget {budget} requests / 10 s ({label})",
            "",
            *table(
                ["measure", "value", "target", "verdict"],
                [
                    [
                        "429s caused (sandbox `rate_limited`)",
                        show(s["rate_limited"], 0),
                        "0",
                        verdict(s["rate_limited"]["max"] == 0),
                    ],
                    [
                        "**fix phase: fraction of the budget** (mean fill of its rolling 10 s windows)",
                        show(s["fix_fraction"], 3),
                        f">= {TARGET_FRACTION}",
                        verdict(s["fix_fraction"]["median"] >= TARGET_FRACTION),
                    ],
                    [
                        "fix phase: steady rate (that mean / 10 s), requests/s",
                        show(s["fix_steady_rate"], 2),
                        f"{budget / 10:g} = the budget",
                        "",
                    ],
                    [
                        "busiest rolling 10 s window (non-exempt requests)",
                        show(s["max_calls_in_10s"], 0),
                        f"<= {budget}",
                        verdict(s["max_calls_in_10s"]["max"] <= budget),
                    ],
                    [
                        "busiest rolling 1 s window (searches)",
                        show(s["max_searches_in_1s"], 0),
                        f"<= {limits['search']}",
                        verdict(s["max_searches_in_1s"]["max"] <= limits["search"]),
                    ],
                    [
                        "whole run: calls / execution time, fraction of the budget",
                        show(s["overall_fraction"], 3),
                        "",
                        "",
                    ],
                    [
                        "whole run: mean fill of its rolling 10 s windows",
                        show(s["overall_window_fill"], 3),
                        "",
                        "",
                    ],
                    ["calls per run", show(s["calls"], 0), "", ""],
                    ["execution (s)", show(s["execution_seconds"], 1), "", ""],
                    [
                        "time the run's pacers held requests (report `api.paced_seconds`)",
                        show(s["client_paced_seconds"], 1),
                        "",
                        "",
                    ],
                ],
                "lrrl",
            ),
            "",
            *table(
                ["phase", "seconds", "calls", "of which searches", "requests/s", "fraction of budget", "searches/s"],
                [
                    [
                        phase,
                        show(p["seconds"], 1),
                        show(p["calls"], 0),
                        show(p["searches"], 0),
                        show(p["rate"], 2),
                        f"{p['rate']['median'] / (budget / 10):.3f}",
                        show(p["search_rate"], 2),
                    ]
                    for phase, p in s["phases"].items()
                ],
            ),
            "",
        ]
    x = report["extrapolation"]
    lines += [
        f"## Extrapolation: {x['contacts']['contacts_dirty']:,} dirty contacts of a "
        f"{report['extrapolate_contacts']:,}-contact portal at {report['budgets']['full']['budget']} / 10 s",
        "",
        *table(
            ["", "calls", "seconds"],
            [
                [
                    "planning (minimum x measured ratio, at the measured plan rate)",
                    f"{x['calls']['plan']:,.0f}",
                    f"{x['seconds']['plan']:,.0f}",
                ],
                [
                    "fixing (same, at the fix phase's measured steady rate)",
                    f"{x['calls']['fix']:,.0f}",
                    f"{x['seconds']['fix']:,.0f}",
                ],
                [
                    "audit, prevention, verification, live-test wait (as measured)",
                    f"{x['calls']['fixed']:,.0f}",
                    f"{sum(x['seconds'][p] for p in CONSTANT_PHASES):,.0f}",
                ],
                ["report (grows with the changes)", "", f"{x['seconds']['report']:,.0f}"],
                [
                    "**extrapolated run**",
                    f"**{x['calls']['total']:,.0f}**",
                    f"**{x['total_seconds']:,.0f}** ({x['total_seconds'] / 60:.1f} min)",
                ],
                [
                    "floor of HubSpot's limits alone (non-exempt calls at the budget, searches at 5/s, overlapped)",
                    f"{x['minimum_calls']:,}",
                    f"{x['limits_floor_seconds']:,.0f}",
                ],
                [
                    "floor of the plan-then-fix sequence (fixing after the complete plan; planning's searches "
                    "at 5/s overlap its other reads at the budget)",
                    f"{x['minimum_calls']:,}",
                    f"{x['sequence_floor_seconds']:,.0f}",
                ],
            ],
        ),
        "",
        f"Extrapolated / limits floor = {x['vs_limits_floor']:.2f}; extrapolated / sequence floor = "
        f"{x['vs_sequence_floor']:.2f}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    portal_arguments(parser, contacts=100_000, work=True)
    parser.add_argument("--budget", type=int, default=190, help="the run's requests per 10 s (default 190)")
    parser.add_argument("--share", type=float, default=0.5, help="also run at this share of the budget (0.5)")
    parser.add_argument("--burst-limit", type=int, default=190, help="the sandbox's limit per 10 s (190)")
    parser.add_argument("--search-limit", type=int, default=SEARCH_LIMIT_PER_SECOND, help="searches per second (5)")
    parser.add_argument("--extrapolate", type=int, default=1_000_000, help="contacts to extrapolate to (1M)")
    args = parser.parse_args(argv)
    spec = portal_spec(args)
    work = work_dir(args)
    clock = Stopwatch()

    budgets = {"full": args.budget, f"{args.share:.0%} share": max(1, int(args.budget * args.share))}
    measured: dict[str, Any] = {}
    for label, budget in budgets.items():
        runs = []
        for number in range(args.repeat):
            progress(f"{NAME}: budget {budget}/10 s, run {number + 1}/{args.repeat} (logs in {work})")
            runs.append(measure_run(spec, budget, args, work))
        measured[label] = {"budget": budget, "runs": runs, "summary": summarise(runs)}

    progress(f"{NAME}: minimum calls of {spec.contacts:,} and {args.extrapolate:,} contacts")
    small, fixed = minimum_and_overhead(spec)
    large_spec = PortalSpec(contacts=args.extrapolate, companies=max(args.extrapolate // 10, 1), seed=args.seed)
    large = portal_minimum(generate_portal(large_spec))
    full = measured["full"]
    fixed_calls = statistics.median(
        [sum(p["calls"] for name, p in r["phases"].items() if name not in ("plan", "fix")) for r in full["runs"]]
    )
    extrapolation = extrapolate(full["runs"], small, large, args.budget, int(fixed_calls), fixed)
    share_label = next(label for label in budgets if label != "full")
    share = measured[share_label]["summary"]
    report = {
        "machine": machine(),
        "run": {"repeat": args.repeat, "command": command_line(), "seconds": clock.seconds},
        "portal": {"contacts": spec.contacts, "companies": spec.companies, "seed": spec.seed},
        "limits": {"burst": args.burst_limit, "search": args.search_limit},
        "budgets": measured,
        "extrapolate_contacts": args.extrapolate,
        "minimum": {"measured_portal": small.to_json(), "extrapolated_portal": large.to_json()},
        "extrapolation": extrapolation,
        "headline": [
            headline(
                f"fix phase at budget {args.budget}/10 s: fraction of the budget",
                show(full["summary"]["fix_fraction"], 3),
                f">= {TARGET_FRACTION}",
                verdict(full["summary"]["fix_fraction"]["median"] >= TARGET_FRACTION),
            ),
            headline(
                f"whole run at budget {args.budget}/10 s: calls / execution time, fraction of the budget",
                show(full["summary"]["overall_fraction"], 3),
            ),
            headline(
                f"429s caused at budget {args.budget} (sandbox enforcing {args.burst_limit}/10 s, "
                f"{args.search_limit}/s search)",
                show(full["summary"]["rate_limited"], 0),
                "0",
                verdict(full["summary"]["rate_limited"]["max"] == 0),
            ),
            headline(
                f"{share_label} ({budgets[share_label]}/10 s): busiest rolling 10 s window; 429s",
                f"{show(share['max_calls_in_10s'], 0)}; {show(share['rate_limited'], 0)}",
                f"<= {budgets[share_label]}; 0",
                verdict(share["max_calls_in_10s"]["max"] <= budgets[share_label] and share["rate_limited"]["max"] == 0),
            ),
            headline(
                f"{args.extrapolate:,} contacts at {args.budget}/10 s: extrapolated wall time vs floors",
                f"{extrapolation['total_seconds'] / 60:.1f} min; limits floor "
                f"{extrapolation['limits_floor_seconds'] / 60:.1f} min (x{extrapolation['vs_limits_floor']:.2f}), "
                f"plan-then-fix floor {extrapolation['sequence_floor_seconds'] / 60:.1f} min "
                f"(x{extrapolation['vs_sequence_floor']:.2f})",
            ),
        ],
    }
    write_results(NAME, report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
