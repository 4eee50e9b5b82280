"""Every benchmark, one after another, each in its own process; then ``bench/results/SUMMARY.md``.

    .venv/bin/python bench/run_all.py [--repeat 3] [--only NAME ...] [--summary-only]

(``make bench`` runs this.) Each benchmark writes ``bench/results/<name>.json`` and ``.md``; the summary collects
their ``"headline"`` rows, the exact command each ran with and how long it took. ``--only`` runs some benchmarks
and rebuilds the summary from the results already there for the others; ``--summary-only`` runs none.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import BENCH, RESULTS, machine, progress, table

# In the order they run: the 100k-contact pipeline runs first, the 1M-contact ones last.
BENCHMARKS = ("api_efficiency", "pipelined", "pipeline_cost", "scale", "sandbox_perf")
TITLES = {
    "api_efficiency": "API efficiency (100k contacts)",
    "pipelined": "Pipelined runs (100k and 30k contacts, 190/10 s enforced, 4 workers)",
    "pipeline_cost": "Cost of our own code (100k contacts, limits off)",
    "scale": "Scale (1M contacts)",
    "sandbox_perf": "Sandbox performance (1M contacts)",
}


def arguments(name: str, repeat: int) -> list[str]:
    return ["--reps" if name == "sandbox_perf" else "--repeat", str(repeat)]


def run(name: str, repeat: int) -> float:
    command = [sys.executable, str(BENCH / f"{name}.py"), *arguments(name, repeat)]
    progress(f"run_all: {' '.join(command[1:])}")
    started = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - started
    progress(f"run_all: {name} took {seconds / 60:.1f} min")
    return seconds


def summary(results: dict[str, dict[str, Any]], total_seconds: float | None) -> str:
    host = machine()
    lines = [
        "# Benchmark summary",
        "",
        f"Machine: {host['cpus']} CPUs, {host['memory_gib']} GiB, Python {host['python']}, "
        f"{host['platform']}. Every number is the median of the repetitions, with the spread (min..max) in "
        "parentheses where they differ. Reproduce everything with `make bench` "
        "(`.venv/bin/python bench/run_all.py`), or one benchmark with the command listed below.",
        "",
    ]
    rows = []
    for name, report in results.items():
        rows += [
            [TITLES[name], item["metric"], item["value"], item["target"], item["verdict"]]
            for item in report.get("headline", [])
        ]
    lines += table(["benchmark", "measure", "value", "target", "verdict"], rows, "lllll")
    lines += ["", "## Commands and wall times", ""]
    lines += table(
        ["benchmark", "command", "wall time", "details"],
        [
            [
                TITLES[name],
                f"`{report['run']['command']}`",
                f"{report['run']['seconds'] / 60:.1f} min",
                f"[{name}.md]({name}.md)",
            ]
            for name, report in results.items()
        ],
        "llrl",
    )
    if total_seconds is not None:
        lines += ["", f"`make bench` (all of the above, `bench/run_all.py`): {total_seconds / 60:.1f} min."]
    lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run only these")
    parser.add_argument("--summary-only", action="store_true", help="rebuild SUMMARY.md from the results")
    args = parser.parse_args(argv)
    chosen = [] if args.summary_only else list(args.only or BENCHMARKS)
    started = time.perf_counter()
    for name in chosen:
        run(name, args.repeat)
    total = time.perf_counter() - started if chosen == list(BENCHMARKS) else None
    results = {
        name: json.loads((RESULTS / f"{name}.json").read_text())
        for name in BENCHMARKS
        if (RESULTS / f"{name}.json").exists()
    }
    if total is not None:
        (RESULTS / "run_all.json").write_text(json.dumps({"seconds": total, "benchmarks": BENCHMARKS}) + "\n")
    elif (RESULTS / "run_all.json").exists():
        total = json.loads((RESULTS / "run_all.json").read_text())["seconds"]
    text = summary(results, total)
    Path(RESULTS / "SUMMARY.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
