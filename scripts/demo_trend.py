"""`make demo-trend`: three runs against one sandbox, with new bad records between them, so the report's "Across
runs" section has a trend to show.

It serves a generated portal with `lifecycle-guard sandbox`, runs `lifecycle-guard run --hubspot-url ... --apply`
three times into the same OUT (the runs' bucket, mirrored under OUT/.bucket/, is where each report finds the points
of the runs before it), and between runs has named sources make new bad records through the sandbox's
`POST /_sandbox/dirty-records`. Only disallowed stages are injected: a record created blank after the first run
would be given the default stage by the prevention workflow that run set up before the next run could see it.

Prints one line per run (what it fixed, where from, against the run before) and, last, the third run's report.html.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from hubspot_sandbox.history import ChangeSource
from hubspot_sandbox.origins import CHURN_WORKFLOW, NEWSLETTER_FORM, PARTNER_WORKFLOW, NamedSource
from lifecycle_guard.reporting import RunReport
from lifecycle_guard.sources import ValueSource

CLI = Path(sys.executable).with_name("lifecycle-guard")
TRADE_SHOW_IMPORT = NamedSource(ChangeSource("IMPORT", "31405599", "Trade show 2026.csv"), "Trade show 2026.csv")
# The sandbox serves at the built-in sandbox's Professional limits (190 requests per 10 s); its workflows act 2 s
# after enrollment, so the live prevention test need not wait HubSpot's minutes.
RATE_BUDGET = "190"
RUN_CONFIG = {"verification": {"live_test_wait_seconds": 5}}


@dataclass(frozen=True)
class BadRecords:
    """New bad records one source makes between runs: created at ``stage``, or (``existing``) set on the newest
    clean records."""

    object_type: str
    count: int
    source: NamedSource
    stage: str
    existing: bool

    def request(self) -> dict[str, Any]:
        return {
            "objectType": self.object_type,
            "count": self.count,
            "source": self.source.source.as_wire(),
            "sourceName": self.source.name,
            "stage": self.stage,
            "existing": self.existing,
        }

    def describe(self) -> str:
        """``workflow "Mark churned contacts as Other" sets 30 contacts to "other"``: the source as reports name it."""
        wire = self.source.source
        source = ValueSource(source_type=wire.source_type, source_id=wire.source_id or "", label=self.source.name)
        action = "sets" if self.existing else "creates"
        where = "to" if self.existing else "at"
        return f'{source.describe()} {action} {self.count} {self.object_type} {where} "{self.stage}"'


# Before the second run: the churn workflow keeps setting contacts to "other", and a trade-show import (new) brings
# subscribers. Before the third, more of both kinds, from the newsletter form and the partner workflow too: drift
# rises.
BETWEEN_RUNS: tuple[tuple[BadRecords, ...], ...] = (
    (
        BadRecords("contacts", 30, CHURN_WORKFLOW, "other", existing=True),
        BadRecords("contacts", 12, TRADE_SHOW_IMPORT, "subscriber", existing=False),
    ),
    (
        BadRecords("contacts", 45, CHURN_WORKFLOW, "other", existing=True),
        BadRecords("contacts", 20, NEWSLETTER_FORM, "subscriber", existing=False),
        BadRecords("companies", 8, PARTNER_WORKFLOW, "other", existing=True),
    ),
)


@contextmanager
def sandbox(contacts: int, companies: int, seed: int) -> Iterator[tuple[str, str]]:
    """`lifecycle-guard sandbox` on a free port: its URL and token (its first two stdout lines), stopped after."""
    size = ["--contacts", str(contacts), "--companies", str(companies), "--seed", str(seed)]
    command = [str(CLI), "sandbox", "--port", "0", *size]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: S603 - our command, our arguments
    try:
        announced = [line.strip() for line in islice(process.stdout or (), 2)]
        if len(announced) < 2 or not announced[0].startswith("http"):
            raise SystemExit(f"the sandbox did not start (status {process.wait()})")
        yield announced[0], announced[1]
    finally:
        process.terminate()
        process.wait(timeout=30)


def add_bad_records(url: str, bad: BadRecords) -> None:
    request = urllib.request.Request(  # noqa: S310 - the sandbox this script started, on 127.0.0.1
        f"{url}/_sandbox/dirty-records",
        data=json.dumps(bad.request()).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        created = json.load(response)["ids"]
    if len(created) != bad.count:
        raise SystemExit(f"the sandbox made {len(created)} records, not {bad.count}: {bad.describe()}")


def run(url: str, token: str, config: Path, out: Path) -> RunReport:
    """One apply run into ``out``; its report (the last stdout line is its report.json)."""
    target = ["--hubspot-url", url, "--token", token, "--config", str(config), "--rate-budget", RATE_BUDGET]
    result = subprocess.run(  # noqa: S603 - our own command, arguments from this script
        [str(CLI), "run", *target, "--apply", "--out", str(out)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"lifecycle-guard run failed (status {result.returncode}):\n{result.stderr}")
    return RunReport.model_validate_json(Path(result.stdout.strip().splitlines()[-1]).read_text())


def against_the_baseline(report: RunReport, numbers: dict[str, int]) -> str:
    """The trend in words: the change against the last successful run (what the DriftRecords metric publishes when
    it is a rise) and the sources new since; ``numbers``: the earlier runs' numbers by run id."""
    drift = report.drift
    if drift is None or drift.fixed_change is None or drift.baseline is None:
        return "the first run: the trend starts with the next"
    change = drift.fixed_change
    words = f"{abs(change):,} {'more' if change >= 0 else 'fewer'} than run {numbers[drift.baseline]}"
    rise = report.summary().drift_records
    if rise:
        words += f" (DriftRecords {rise:,}: the drift alarm fires above DriftAlarmRecords)"
    last = drift.runs[-1]
    new = ", ".join(f"{last.source_names.get(key, key)} ({key.split(' ', 1)[0]})" for key in drift.new_sources)
    return f"{words}; new offenders: {new or 'none'}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--contacts", type=int, default=1200)
    parser.add_argument("--companies", type=int, default=120)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path, default=Path("out/trend"), help="a new or empty directory")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out} holds earlier runs, whose points would join the trend: remove it or pick another")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, sandbox(args.contacts, args.companies, args.seed) as (url, token):
        config = Path(scratch) / "config.json"
        config.write_text(json.dumps(RUN_CONFIG))
        print(f"sandbox at {url}: {args.contacts:,} contacts, {args.companies:,} companies (seed {args.seed})")
        numbers: dict[str, int] = {}
        for number, bad_before in enumerate(((), *BETWEEN_RUNS), start=1):
            for bad in bad_before:
                add_bad_records(url, bad)
                print(f"new bad records: {bad.describe()}")
            report = run(url, token, config, out)
            numbers[report.run_id] = number
            print(f"run {number} ({report.run_id}): {report.summary().where_from}")
            print(f"  {against_the_baseline(report, numbers)}")
        print(f"the trend: {out / report.run_id / 'report.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
