"""`make demo-trend` end to end: three runs against one sandbox with new bad records between them, as a user runs it
(scripts/demo_trend.py, which drives `lifecycle-guard sandbox` and `lifecycle-guard run` in their own processes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support.readme import comparable, readme_block

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "demo_trend.py"
DEMO_TREND_MARK = (
    "<!-- tests/e2e/test_demo_trend.py runs the command below and compares the terminal with this block -->"
)


def demo_trend(out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out)], capture_output=True, text=True, timeout=600, check=False
    )


def test_the_demo_shows_the_trend_over_three_runs_as_the_readme_shows_it(tmp_path: Path):
    # GIVEN the README's demo of drift across runs
    command, readme_terminal = readme_block(DEMO_TREND_MARK)
    assert command == "$ make demo-trend"
    # WHEN the script it runs goes through, with its defaults, into a fresh OUT
    result = demo_trend(tmp_path / "out" / "trend")
    # THEN it succeeds and prints what the README shows, but for ports, run ids and where OUT is
    assert result.returncode == 0, result.stderr
    terminal = result.stdout.splitlines()
    assert comparable(terminal) == comparable(readme_terminal)
    # ... the last line is the third run's report, whose trend has all three runs, each compared with the one
    # before it (every run succeeded), and a rise from the second to the third
    page_path = Path(terminal[-1].removeprefix("the trend: "))
    report = json.loads(page_path.with_name("report.json").read_text())
    drift = report["drift"]
    runs = drift["runs"]
    assert [run["outcome"] for run in runs] == ["succeeded"] * 3
    assert drift["baseline"] == runs[1]["run_id"]
    assert drift["fixed_change"] == runs[2]["fixed"] - runs[1]["fixed"] > 0
    # ... and its page draws the four trend charts over them
    page = page_path.read_text()
    assert "<h2>Across runs</h2>" in page
    for title in ("Records fixed per run", "By rule", "By source", "Before each run"):
        assert f'<svg role="img" aria-label="{title}"' in page


def test_the_demo_refuses_an_out_holding_earlier_runs(tmp_path: Path):
    # GIVEN an OUT with a run in it, whose point would join the trend of another portal
    (tmp_path / "lg-20261201-050000-abcdef").mkdir()
    # WHEN the demo is pointed at it, THEN it stops before starting anything, saying why
    result = demo_trend(tmp_path)
    assert result.returncode == 1
    assert "holds earlier runs" in result.stderr
