"""What the benchmarks share: the sandbox in its own process, one offline pipeline run in its own process, CPU and
memory readings of processes, phases of a run, rolling windows, median/spread, and the result files.

Every benchmark writes ``bench/results/<name>.json`` (everything measured, every repetition) and
``bench/results/<name>.md`` (its tables); the JSON's ``"headline"`` rows are what ``run_all.py`` puts in
``SUMMARY.md``. Processes are measured from ``/proc`` (Linux): CPU = utime + stime, peak RSS = VmHWM, which can be
reset (``/proc/<pid>/clear_refs``) to measure the peak of one phase.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from hubspot_sandbox import PortalSpec

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
Headline = dict[str, str]  # {"metric", "value", "target", "verdict"}

# --------------------------------------------------------------------------------------------- machine, processes


def machine() -> dict[str, Any]:
    with open("/proc/meminfo") as meminfo:
        total_kb = int(meminfo.readline().split()[1])
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(total_kb / 2**20, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def memory_mb(pid: int | str = "self") -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak since start or since :func:`reset_peak_rss`) of a process, in MB."""
    with open(f"/proc/{pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status if line.startswith(("VmRSS", "VmHWM")))
    return {"rss_mb": int(fields["VmRSS"].split()[0]) / 1024, "peak_rss_mb": int(fields["VmHWM"].split()[0]) / 1024}


def reset_peak_rss(pid: int | str = "self") -> None:
    """Start a new peak: VmHWM drops to the current RSS (Linux ``clear_refs`` 5)."""
    with open(f"/proc/{pid}/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU seconds a process has used (its threads included, its children not)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


# --------------------------------------------------------------------------------------------- the sandbox


@dataclass
class SandboxProcess:
    """A sandbox served by ``hubspot-sandbox serve`` in its own process, so its CPU and memory are its own."""

    url: str
    token: str
    process: subprocess.Popen[str]

    @property
    def pid(self) -> int:
        return self.process.pid

    def introspect(self, path: str) -> Any:
        reply = requests.get(f"{self.url}/_sandbox/{path}", timeout=60)
        reply.raise_for_status()
        return reply.json()

    def stats(self) -> dict[str, Any]:
        return dict(self.introspect("stats"))

    def request_log(self) -> list[tuple[float, str, int]]:
        """(unix time of arrival, endpoint, status) of every API call; needs ``request_log=True``."""
        log = self.introspect("requests")
        if not log["enabled"]:
            raise RuntimeError("the sandbox was started without --request-log")
        return [(float(at), str(key), int(status)) for at, key, status in log["requests"]]

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def memory_mb(self) -> dict[str, float]:
        return memory_mb(self.pid)

    def reset_peak_rss(self) -> None:
        reset_peak_rss(self.pid)


@contextmanager
def served_sandbox(
    spec: PortalSpec,
    *,
    burst_limit: int | None = None,
    search_limit: int | None = None,
    request_log: bool = False,
    workflow_delay: float | None = None,
) -> Iterator[SandboxProcess]:
    """Generate ``spec`` and serve it in a new process (``python -m hubspot_sandbox serve``) until the block ends."""
    command = [
        sys.executable,
        "-m",
        "hubspot_sandbox",
        "serve",
        *("--contacts", str(spec.contacts), "--companies", str(spec.companies), "--seed", str(spec.seed)),
        *(("--burst-limit", str(burst_limit)) if burst_limit else ()),
        *(("--search-limit", str(search_limit)) if search_limit else ()),
        *(("--request-log",) if request_log else ()),
        *(("--workflow-delay", str(workflow_delay)) if workflow_delay is not None else ()),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url, token = process.stdout.readline().strip(), process.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"the sandbox did not start: {url!r}")
        yield SandboxProcess(url, token, process)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


# --------------------------------------------------------------------------------------------- a pipeline run


def run_pipeline(
    sandbox: SandboxProcess,
    *,
    requests_per_10s: int,
    out: Path,
    search_per_second: float = 4.0,
    timeout_seconds: float = 3600,
    workers: int | None = None,
) -> dict[str, Any]:
    """One apply run through the real state machine, in a fresh process (``bench/offline_run.py``): its moto, its
    pacers and its peak RSS belong to this run alone; ``workers`` fix workers at once (default: the Professional
    tier's). Returns what that process measured (see its docstring)."""
    out.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        str(BENCH / "offline_run.py"),
        *("--url", sandbox.url, "--token", sandbox.token, "--out", str(out)),
        *("--budget", str(requests_per_10s), "--search-per-second", str(search_per_second)),
        *("--timeout", str(timeout_seconds)),
        *(("--workers", str(workers)) if workers else ()),
    ]
    with (out / "offline_run.stderr").open("a") as stderr:
        completed = subprocess.run(
            command, stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=timeout_seconds + 300, check=False
        )
    if completed.returncode != 0 or not completed.stdout.strip():
        raise RuntimeError(f"offline run failed ({completed.returncode}); see {out / 'offline_run.stderr'}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    if result["outcome"] != "succeeded":
        raise RuntimeError(f"the run did not succeed: {result['outcome']}: {result['failures']}")
    return result


Intervals = list[list[float]]  # [[start, end], ...] in unix seconds


def phase_windows(history: Sequence[Mapping[str, Any]], phase_of_state: Mapping[str, str]) -> dict[str, Intervals]:
    """``{phase: [[entered, exited], ...]}`` (unix seconds, one interval per state visit) from an execution history;
    the phase of a state is ``phase_of_state[name]``, states not in it are skipped (choices take no time)."""
    windows: dict[str, Intervals] = {}
    entered: dict[str, float] = {}
    for event in history:
        details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails")
        if not details or details["name"] not in phase_of_state:
            continue
        stamp = event["timestamp"]
        at = stamp.timestamp() if isinstance(stamp, datetime) else float(stamp)
        name = details["name"]
        if event["type"].endswith("StateEntered"):
            entered[name] = at
        elif name in entered:
            windows.setdefault(phase_of_state[name], []).append([entered.pop(name), at])
    return windows


def seconds_in(intervals: Intervals) -> float:
    return sum(end - start for start, end in intervals)


def by_phase(
    log: Sequence[tuple[float, str, int]], windows: Mapping[str, Intervals]
) -> dict[str, list[tuple[float, str, int]]]:
    """The request log split by the phase with a state visit holding each request; ``"between"`` for none (should
    stay empty: every step runs inside a state)."""
    split: dict[str, list[tuple[float, str, int]]] = {phase: [] for phase in windows}
    split["between"] = []
    for entry in log:
        phase = next(
            (name for name, intervals in windows.items() if any(start <= entry[0] <= end for start, end in intervals)),
            "between",
        )
        split[phase].append(entry)
    return split


def calls_by_phase(log: Sequence[tuple[float, str, int]], windows: Mapping[str, Intervals]) -> Counter[tuple[str, str]]:
    """``{(phase, endpoint): calls}`` from the request log."""
    return Counter((phase, key) for phase, entries in by_phase(log, windows).items() for _, key, _ in entries)


def max_in_window(times: Sequence[float], span: float) -> int:
    """The most requests in any rolling window of ``span`` seconds (each window starting at a request)."""
    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, t + span) - i for i, t in enumerate(ordered)), default=0)


def mean_window_fill(times: Sequence[float], span: float, step: float = 0.1) -> float:
    """Mean number of requests in a rolling window of ``span`` seconds, over windows starting every ``step``
    seconds that lie wholly between the first and the last request (0 if that interval is shorter than ``span``)."""
    ordered = sorted(times)
    if not ordered or ordered[-1] - ordered[0] < span:
        return 0.0
    starts = [ordered[0] + i * step for i in range(int((ordered[-1] - ordered[0] - span) / step) + 1)]
    return statistics.mean(bisect.bisect_left(ordered, s + span) - bisect.bisect_left(ordered, s) for s in starts)


# --------------------------------------------------------------------------------------------- statistics, files


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Median and spread (min..max) of repeated measurements, and the values themselves."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "values": list(values)}


def show(summary: Mapping[str, Any], digits: int = 1, unit: str = "") -> str:
    """``median (min..max)`` of a :func:`spread`; just the value when every repetition agreed."""
    median, low, high = (f"{summary[key]:,.{digits}f}" for key in ("median", "min", "max"))
    return f"{median}{unit}" if low == high else f"{median}{unit} ({low}..{high})"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], align: str = "") -> list[str]:
    """A Markdown table; ``align`` has one ``l``/``r`` per column (default: first left, the rest right)."""
    align = align or "l" + "r" * (len(headers) - 1)
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" if a == "l" else "---:" for a in align) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def headline(metric: str, value: str, target: str = "", verdict: str = "") -> Headline:
    return {"metric": metric, "value": value, "target": target, "verdict": verdict}


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def write_results(name: str, report: dict[str, Any], markdown: str, out: Path = RESULTS) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / f"{name}.md").write_text(markdown)
    print(markdown)


def command_line() -> str:
    """How this benchmark was invoked, for the results (repository-relative, with the venv's python)."""
    script = Path(sys.argv[0]).resolve()
    shown = script.relative_to(REPO) if script.is_relative_to(REPO) else script
    return " ".join([".venv/bin/python", str(shown), *sys.argv[1:]])


class Stopwatch:
    """Wall seconds since creation."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


def portal_arguments(parser: argparse.ArgumentParser, *, contacts: int, work: bool = True) -> None:
    """The options every benchmark shares: the portal to generate, repetitions, where run logs go."""
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (3)")
    parser.add_argument("--contacts", type=int, default=contacts, help=f"contacts to generate ({contacts:,})")
    parser.add_argument("--companies", type=int, help="companies to generate (default: contacts / 10)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (1)")
    if work:
        parser.add_argument("--work", type=Path, help="where the runs' logs go (default: a new temporary directory)")


def portal_spec(args: argparse.Namespace) -> PortalSpec:
    return PortalSpec(contacts=args.contacts, companies=args.companies or max(args.contacts // 10, 1), seed=args.seed)


def work_dir(args: argparse.Namespace) -> Path:
    return Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="lg-bench-"))


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
