"""API efficiency: the HubSpot calls one apply run uses, per endpoint, against the batched minimum of the portal.

    .venv/bin/python bench/api_efficiency.py [--repeat 3] [--contacts 100000] [--companies 10000] [--seed 1]

Each repetition serves a freshly generated portal (``hubspot-sandbox serve``, no rate limits, request log on) and
runs the full pipeline once through the real state machine (``offline_run.py``, apply mode). The sandbox's request
log is the source of truth for calls; each call is attributed to the phase of the run whose state was executing
(from the execution history). The same portal is generated in this process to compute the minimum
(``portal_minimum.py``):

- *batched work* = the calls of the planning and fixing phases, compared per (phase, endpoint) with the batched
  minimum (search pages of 200, association reads of 1000, object reads/writes of 100, two writes per backward
  move, one read-back per 100 written). Target: used / minimum <= 1.05;
- *whole run* = every call, compared with the minimum plus the fixed per-run overhead the module
  ``portal_minimum`` defines (stage properties, token check, audit counts before and after, verification counts,
  spot check, prevention flows, live-test probes). The calls outside planning and fixing are listed against that
  overhead endpoint by endpoint.

Rate limits are off here (sandbox unlimited, run budget 1,000,000 requests / 10 s) because they do not change
which calls are made: ``pipelined.py`` runs under HubSpot's limits and reports the same totals with 0 429s.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import (
    Stopwatch,
    calls_by_phase,
    command_line,
    headline,
    machine,
    portal_arguments,
    portal_spec,
    progress,
    run_pipeline,
    served_sandbox,
    show,
    spread,
    table,
    verdict,
    work_dir,
    write_results,
)
from portal_minimum import minimum_and_overhead

from hubspot_sandbox import PortalSpec

NAME = "api_efficiency"
TARGET = 1.05
BATCHED_PHASES = ("plan", "fix")
UNLIMITED = 1_000_000  # requests per 10 s: the run's own pacer never waits (search keeps its 5/s maximum)


def measure_run(spec: PortalSpec, work: Path) -> dict[str, Any]:
    with served_sandbox(spec, request_log=True) as sandbox:
        result = run_pipeline(sandbox, requests_per_10s=UNLIMITED, search_per_second=5, out=work)
        stats, log = sandbox.stats(), sandbox.request_log()
    by_phase = calls_by_phase(log, result["phases"])
    return {
        "run_id": result["run_id"],
        "calls": [{"phase": p, "endpoint": e, "used": n} for (p, e), n in sorted(by_phase.items())],
        "sandbox_total": sum(stats["calls"].values()),
        "client_total": result["api"]["total_calls"],
        "rate_limited": stats["rate_limited"],
        "changes_applied": result["fix"]["applied"],
        "wall_seconds": result["execution"][1] - result["execution"][0],
    }


def ratio(used: float, minimum: float) -> str:
    return f"{used / minimum:.3f}" if minimum else "-"


def summarise(runs: list[dict[str, Any]], minimum: dict[tuple[str, str], int], fixed: dict[str, int]) -> dict[str, Any]:
    """Per (phase, endpoint) and per endpoint: median used (with spread) against the minimum."""
    used: list[Counter[tuple[str, str]]] = [
        Counter({(c["phase"], c["endpoint"]): c["used"] for c in run["calls"]}) for run in runs
    ]
    batched_keys = sorted(
        {k for u in used for k in u if k[0] in BATCHED_PHASES} | set(minimum),
        key=lambda key: (BATCHED_PHASES.index(key[0]), key[1]),
    )
    batched: list[dict[str, Any]] = [
        {
            "phase": phase,
            "endpoint": endpoint,
            "used": spread([u[(phase, endpoint)] for u in used]),
            "minimum": minimum.get((phase, endpoint), 0),
        }
        for phase, endpoint in batched_keys
    ]
    endpoints = sorted({e for u in used for _, e in u} | set(fixed))
    whole = []
    for endpoint in endpoints:
        outside = [sum(n for (p, e), n in u.items() if e == endpoint and p not in BATCHED_PHASES) for u in used]
        everything = [sum(n for (_, e), n in u.items() if e == endpoint) for u in used]
        batched_minimum = sum(n for (_, e), n in minimum.items() if e == endpoint)
        whole.append(
            {
                "endpoint": endpoint,
                "used": spread(everything),
                "outside_plan_fix": spread(outside),
                "fixed_overhead": fixed.get(endpoint, 0),
                "minimum_plus_fixed": batched_minimum + fixed.get(endpoint, 0),
            }
        )
    # An endpoint's planning and fixing calls together: the two phases overlap (#12), so which of them a call is
    # attributed to (by time) says nothing; only the sum has a minimum to compare with.
    by_endpoint: list[dict[str, Any]] = [
        {
            "endpoint": endpoint,
            "used": spread([sum(n for (p, e), n in u.items() if e == endpoint and p in BATCHED_PHASES) for u in used]),
            "minimum": sum(n for (_, e), n in minimum.items() if e == endpoint),
        }
        for endpoint in sorted({e for _, e in batched_keys})
    ]
    batched_used = spread([sum(n for k, n in u.items() if k[0] in BATCHED_PHASES) for u in used])
    whole_used = spread([sum(u.values()) for u in used])
    batched_min = sum(minimum.values())
    whole_min = batched_min + sum(fixed.values())
    return {
        "batched": batched,
        "whole": whole,
        "batched_total": {"used": batched_used, "minimum": batched_min, "ratio": batched_used["median"] / batched_min},
        "whole_total": {"used": whole_used, "minimum_plus_fixed": whole_min, "ratio": whole_used["median"] / whole_min},
        "worst_endpoint": max(
            by_endpoint, key=lambda row: row["used"]["median"] / row["minimum"] if row["minimum"] else 0.0
        ),
    }


def markdown(report: dict[str, Any]) -> str:
    spec, counts, summary = report["portal"], report["minimum"]["counts"], report["summary"]
    lines = [
        "# API efficiency: calls used vs the batched minimum",
        "",
        f"Portal: {spec['contacts']:,} contacts / {spec['companies']:,} companies (seed {spec['seed']}). "
        f"Dirty (missing or subscriber/other/evangelist): {counts['companies_dirty']:,} companies "
        f"({counts['companies_forward']:,} forward, {counts['companies_backward']:,} backward moves), "
        f"{counts['contacts_dirty']:,} contacts ({counts['contacts_forward']:,} forward, "
        f"{counts['contacts_backward']:,} backward). Context: {counts['companies_needing_deals']:,} companies read "
        f"their deals ({counts['deals_of_dirty_companies']:,} unique deals), "
        f"{counts['contacts_needing_company']:,} contacts read their primary company "
        f"({counts['primary_companies_not_planned']:,} unique companies not planned in this run).",
        "",
        f"{report['run']['repeat']} apply runs through the real state machine, sandbox without rate limits; calls "
        "counted by the sandbox (its request log), attributed to the run's phase. Values: median (min..max) when "
        f"the runs differ. Command: `{report['run']['command']}`.",
        "",
        "## Batched work (planning and fixing) vs its minimum",
        "",
    ]
    rows = [
        [
            row["phase"],
            f"`{row['endpoint']}`",
            show(row["used"], 0),
            row["minimum"],
            ratio(row["used"]["median"], row["minimum"]),
        ]
        for row in summary["batched"]
    ]
    total = summary["batched_total"]
    rows.append(
        ["**all**", "", f"**{show(total['used'], 0)}**", f"**{total['minimum']}**", f"**{total['ratio']:.3f}**"]
    )
    lines += table(["phase", "endpoint", "used", "minimum", "used / minimum"], rows, "llrrr")
    lines += ["", "## Whole run vs minimum + fixed overhead", ""]
    rows = [
        [
            f"`{row['endpoint']}`",
            show(row["used"], 0),
            show(row["outside_plan_fix"], 0),
            row["fixed_overhead"],
            row["minimum_plus_fixed"],
            ratio(row["used"]["median"], row["minimum_plus_fixed"]),
        ]
        for row in summary["whole"]
    ]
    total = summary["whole_total"]
    fixed_total = sum(row["fixed_overhead"] for row in summary["whole"])
    outside = sum(row["outside_plan_fix"]["median"] for row in summary["whole"])
    rows.append(
        [
            "**all**",
            f"**{show(total['used'], 0)}**",
            f"**{outside:,.0f}**",
            f"**{fixed_total}**",
            f"**{total['minimum_plus_fixed']}**",
            f"**{total['ratio']:.3f}**",
        ]
    )
    lines += table(
        ["endpoint", "used (whole run)", "of which outside plan/fix", "fixed overhead", "minimum + fixed", "ratio"],
        rows,
    )
    runs = report["runs"]
    lines += [
        "",
        "## Runs",
        "",
        *table(
            ["run", "calls (sandbox)", "calls (run's own report)", "429s", "changes applied", "wall (s)"],
            [
                [
                    r["run_id"],
                    r["sandbox_total"],
                    r["client_total"],
                    sum(r["rate_limited"].values()),
                    f"{r['changes_applied']:,}",
                    f"{r['wall_seconds']:.0f}",
                ]
                for r in runs
            ],
        ),
        "",
        "What the minimum counts and why is in `bench/portal_minimum.py`; the overhead is what lifecycle-guard's "
        "audit, verification, prevention and live test cost per run, whatever the portal's size.",
        "",
        "Where calls exceed the minimum, by design: the planner reads context for 10,000 records at a time "
        "(`planning.CONTEXT_BUFFER`, whole association reads), and the primary companies and deals those records "
        "name are read 100 at a time, so each gathering ends with one part-filled company or deal read; and fix "
        "jobs hold forward moves (one set) and backward moves (a clear, then a set) apart in full batches, so each "
        "object type ends with a part-filled batch of each kind; where the two fit in one batch they share a mixed "
        "job (a clear call, a set call and one read-back, instead of three writes and two read-backs). The minimum "
        "packs every write into full requests whatever its order, so that is at most a call or two per object type.",
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

    progress(f"{NAME}: computing the minimum of a {spec.contacts:,}-contact portal")
    minimum, fixed = minimum_and_overhead(spec)
    runs = []
    for number in range(args.repeat):
        progress(f"{NAME}: run {number + 1}/{args.repeat} (logs in {work})")
        runs.append(measure_run(spec, work))
    summary = summarise(runs, minimum.calls, fixed)
    worst = summary["worst_endpoint"]
    worst_ratio = worst["used"]["median"] / worst["minimum"]
    report = {
        "machine": machine(),
        "run": {"repeat": args.repeat, "command": command_line(), "seconds": clock.seconds},
        "portal": {"contacts": spec.contacts, "companies": spec.companies, "seed": spec.seed},
        "minimum": minimum.to_json(),
        "fixed_overhead": fixed,
        "runs": runs,
        "summary": summary,
        "headline": [
            headline(
                "API calls, batched work / its minimum",
                f"{summary['batched_total']['ratio']:.3f} ({summary['batched_total']['used']['median']:,.0f} / "
                f"{summary['batched_total']['minimum']:,})",
                f"<= {TARGET}",
                verdict(summary["batched_total"]["ratio"] <= TARGET),
            ),
            headline(
                "API calls, whole run / (minimum + fixed overhead)",
                f"{summary['whole_total']['ratio']:.3f} ({summary['whole_total']['used']['median']:,.0f} / "
                f"{summary['whole_total']['minimum_plus_fixed']:,})",
                f"<= {TARGET}",
                verdict(summary["whole_total"]["ratio"] <= TARGET),
            ),
            headline(
                "API calls, worst single endpoint / its minimum",
                f"{worst_ratio:.3f} (plan and fix `{worst['endpoint']}`: {worst['used']['median']:,.0f} / "
                f"{worst['minimum']:,})",
                f"<= {TARGET}",
                verdict(worst_ratio <= TARGET),
            ),
        ],
    }
    write_results(NAME, report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
