"""LocalRun, the CLI's engine: two runs in one process each keep their own files and logs, and the bucket persists."""

import json
from pathlib import Path

from hubspot_sandbox import PortalSpec, Sandbox, SandboxSettings, generate_portal
from lifecycle_guard_offline.local_run import LocalRun, LocalRunResult
from lifecycle_guard_offline.phase_watch import Progress

QUICK = {
    "budget": {"requests_per_10s": 1000},
    "prevention": {"enabled": False},
    "verification": {"live_test": False, "settle_seconds": 0},
}


def run_once(sandbox: Sandbox, out: Path, run_id: str, mode: str = "apply") -> tuple[dict, str]:
    seen: list[Progress] = []
    with (out / f"{run_id}.log").open("w") as log:
        local = LocalRun(base_url=sandbox.url, token=sandbox.token, guard_config=QUICK, out_dir=out, log=log)
        result = local.execute({"action": "run", "mode": mode, "source": "test"}, run_id, seen.append, 300)
    assert isinstance(result, LocalRunResult)
    assert seen[-1].phase == "done"
    # every phase is reported in the order the state machine went through it, each ending with its final figures
    ended = [p for p in seen if p.ended]
    phases = ["audit", "plan", "fix", "prevent", "verify", "report"]
    assert [p.phase for p in ended] == phases
    assert all(p.seconds >= 0 for p in ended)
    fix, jobs = ended[phases.index("fix")], result.report.fix.jobs_planned
    if mode == "apply":  # the jobs ran: a bar of them, and what they fixed
        assert (fix.done, fix.total, fix.detail) == (jobs, jobs, f"{result.report.fix.applied:,} records fixed")
        assert result.report.fix.jobs_total == jobs
    else:  # none ran: what the plan would change
        assert fix.detail == f"{result.report.planned_total:,} records would change"
        assert result.report.fix.jobs_total == 0
    assert ended[phases.index("plan")].detail == f"{jobs:,} fix jobs planned"
    return result.report.model_dump(mode="json"), (out / f"{run_id}.log").read_text()


def test_two_runs_in_one_process_keep_their_own_logs_and_share_the_bucket(tmp_path: Path):
    with Sandbox(generate_portal(PortalSpec(contacts=150, companies=15, seed=4)), SandboxSettings()) as sandbox:
        first, first_log = run_once(sandbox, tmp_path, "first")
        second, second_log = run_once(sandbox, tmp_path, "second", mode="dry-run")
    assert first["outcome"] == second["outcome"] == "succeeded"
    assert sum(rule["planned"] for rule in first["changes"]) > 0
    assert sum(rule["planned"] for rule in second["changes"]) == 0  # the first run fixed everything
    # each run's Lambda log lines went to its own file: the "run reported" line names the run's files, which live
    # under runs/<day>/<run_id>/, so a line of one run in the other's log shows as that run's path
    assert '"run_id": "second"' not in first_log
    assert "second" in second_log
    assert "/second/" not in first_log
    assert "/first/" not in second_log
    assert "/first/report.json" in first_log
    assert "/second/report.json" in second_log
    assert any(
        json.loads(line).get("message") == "run starting" for line in second_log.splitlines() if line.startswith("{")
    )
    # the bucket mirror carries the first run's files into the second run's bucket and back out
    mirrored = {
        p.relative_to(tmp_path / ".bucket").as_posix() for p in (tmp_path / ".bucket").rglob("*") if p.is_file()
    }
    assert {"runs/index/first.json", "runs/index/second.json", "latest/report.json"} <= mirrored
    assert (tmp_path / "first" / "journal.jsonl").read_text()
