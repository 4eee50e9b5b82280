"""The `lifecycle-guard` command end to end: exit codes, the files under --out, and the portal's final state."""

from __future__ import annotations

import csv
import json
import os
import shlex
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from hubspot import HubSpot
from support.cli import CLI, SPEC, run_cli
from support.flows import customers_lead_flow
from support.oracle import DISALLOWED, actual_stages, differences, expected_stages
from support.readme import comparable, readme_block

from hubspot_sandbox import Sandbox, generate_portal
from lifecycle_guard.reporting import RunReport
from lifecycle_guard_offline.console import report_table

RUN_FILES = {"report.json", "report.html", "changes.csv", "journal.jsonl", "plan.jsonl", "lambda.log"}
WALKTHROUGH_MARK = "<!-- tests/e2e/test_cli.py runs the command below and compares the terminal with this block -->"


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def readme_walkthrough() -> tuple[list[str], list[str]]:
    """The README's step-by-step run: its command's arguments, and the terminal it shows."""
    command, terminal = readme_block(WALKTHROUGH_MARK)
    return shlex.split(command.removeprefix("$ lifecycle-guard ")), terminal


def test_the_readme_walkthrough_fixes_the_built_in_portal_writes_its_files_and_shows_what_the_readme_shows(
    tmp_path: Path,
):
    # GIVEN the built-in sandbox's generated portal (the same one the CLI will generate from the seed)
    portal = generate_portal(SPEC)
    expected = expected_stages(portal)
    # WHEN the README's walkthrough command runs, in a fresh directory, its output interleaved as on a terminal
    arguments, readme_terminal = readme_walkthrough()
    assert arguments == ["run", "--contacts", str(SPEC.contacts), "--companies", str(SPEC.companies), "--seed", "13"]
    result = subprocess.run(
        [str(CLI), *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        timeout=600,
        check=False,
    )
    # THEN it succeeds, and the terminal is the README's but for ports, run ids, durations and paths
    assert result.returncode == 0, result.stdout
    terminal = result.stdout.splitlines()
    assert comparable(terminal) == comparable(readme_terminal)
    # ... the last line is the absolute path of the run's report, next to its files
    report_path = Path(terminal[-1])
    assert report_path.is_absolute()
    assert report_path.parent.parent == tmp_path / "out"
    assert {p.name for p in report_path.parent.iterdir()} >= RUN_FILES
    report = json.loads(report_path.read_text())
    assert report["outcome"] == "succeeded"
    assert {c["status"] for c in report["checks"]} == {"PASS"}
    assert report_table(RunReport.model_validate(report)) in result.stdout
    # the portal's final state: every record written got exactly the expected stage ...
    journal = [json.loads(line) for line in (report_path.parent / "journal.jsonl").read_text().splitlines()]
    written = {
        (e["object_type"], e["object_id"]): e["after"]
        for e in journal
        if e["write"] == "set" and e["outcome"] == "applied"
    }
    assert written
    assert all(expected[key] == stage for key, stage in written.items())
    # ... every record not written was already right, and the after-counts are the expected counts per stage
    before = actual_stages(portal)
    assert all(expected[key] == stage for key, stage in before.items() if key not in written)
    for object_type in ("contacts", "companies"):
        counts = report["after"]["counts"][object_type]
        want = [stage for (kind, _), stage in expected.items() if kind == object_type]
        assert counts["missing"] == 0
        assert counts["by_stage"] == {stage: want.count(stage) for stage in counts["by_stage"]}
        # by_stage counts every stage of the portal (0 for none), so it must account for every record
        assert sum(counts["by_stage"].values()) == len(want)


def test_against_a_portal_reached_by_url_the_default_is_a_dry_run(
    tmp_path: Path, external_sandbox: Sandbox, fast_config: Path
):
    before = actual_stages(external_sandbox.portal)
    result = run_cli(
        "run",
        "--hubspot-url",
        external_sandbox.url,
        "--token",
        external_sandbox.token,
        "--config",
        str(fast_config),
        "--rate-budget",
        "1000",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert external_sandbox.stats()["write_requests"] == 0
    assert actual_stages(external_sandbox.portal) == before
    report = json.loads(Path(last_line(result.stdout)).read_text())
    assert report["mode"] == "dry-run"
    plan = (Path(last_line(result.stdout)).parent / "plan.jsonl").read_text().splitlines()
    assert len(plan) == sum(rule["planned"] for rule in report["changes"]) > 0
    # the preview: the after-counts the plan would leave are the oracle's, stage by stage
    expected = expected_stages(external_sandbox.portal)
    for object_type, counts in report["planned_after"]["counts"].items():
        stages = [stage for (kind, _), stage in expected.items() if kind == object_type]
        assert counts["missing"] == stages.count("")
        assert {stage: n for stage, n in counts["by_stage"].items() if n} == dict(Counter(s for s in stages if s))
    # ... the records that would change are the oracle's, each in changes.csv as an applied run lists its changes
    would_change = {key for key, stage in expected.items() if before[key] != stage}
    assert report["changed_total"] == len(would_change)
    with (Path(last_line(result.stdout)).parent / "changes.csv").open() as rows:
        listed = {(row["object_type"], row["id"]): row for row in csv.DictReader(rows)}
    assert set(listed) == would_change
    assert {row["outcome"] for row in listed.values()} == {"would change"}
    assert all(row["target"] == expected[key] for key, row in listed.items())
    # ... and the fix jobs planned: in the report, and on the terminal with the records that would change
    jobs = report["fix"]["jobs_planned"]
    assert jobs > 0
    assert report["fix"]["jobs_total"] == 0  # none ran
    progress = [line.split() for line in result.stderr.splitlines() if line.startswith(("plan ", "fix "))]
    assert progress[0][:5] == ["plan", "done", str(jobs), "fix", "jobs"]
    assert progress[1][:6] == ["fix", "done", f"{len(would_change):,}", "records", "would", "change"]


def test_apply_against_a_portal_by_url_then_undo_it(tmp_path: Path, external_sandbox: Sandbox):
    # Without prevention workflows: they would (rightly) give records that undo restores to "no stage" a stage again.
    config = tmp_path / "no-prevention.json"
    config.write_text(json.dumps({"prevention": {"enabled": False}, "verification": {"live_test": False}}))
    portal = external_sandbox.portal
    before = actual_stages(portal)
    expected = expected_stages(portal)
    target = ["--hubspot-url", external_sandbox.url, "--config", str(config), "--rate-budget", "1000"]
    common = [*target, "--out", str(tmp_path)]
    env = {"HUBSPOT_TOKEN": external_sandbox.token, "PATH": "/usr/bin:/bin"}
    fixed = run_cli("run", *common, "--apply", "--run-id", "fix-1", env=env)
    assert fixed.returncode == 0, fixed.stderr
    assert differences(expected, actual_stages(portal)) == []
    # the token came from the environment and appears in nothing the run wrote
    for path in (tmp_path / "fix-1").iterdir():
        assert external_sandbox.token not in path.read_text(errors="replace"), path
    undone = run_cli("undo", "--run-id", "fix-1", *common, "--apply", env=env)
    assert undone.returncode == 0, undone.stderr
    after_undo = actual_stages(portal)
    assert [key for key, stage in before.items() if after_undo[key] != stage] == []
    changed = sum(1 for key, stage in before.items() if expected[key] != stage)
    assert f"restored {changed:,} records" in undone.stdout


def test_an_undo_whose_restores_a_customers_workflow_sets_again_fails_its_check_and_shows_the_split(
    tmp_path: Path, external_sandbox: Sandbox
):
    # GIVEN a run applied without our prevention flows, then a customer's own workflow that gives every contact
    # without a stage "lead" (theirs: the undo does not switch it off)
    config = tmp_path / "no-prevention.json"
    config.write_text(json.dumps({"prevention": {"enabled": False}, "verification": {"live_test": False}}))
    portal = external_sandbox.portal
    before = actual_stages(portal)
    common = ["--hubspot-url", external_sandbox.url, "--token", external_sandbox.token, "--config", str(config)]
    common += ["--rate-budget", "1000", "--out", str(tmp_path)]
    fixed = run_cli("run", *common, "--apply", "--run-id", "fix-theirs")
    assert fixed.returncode == 0, fixed.stderr
    restored = sum(1 for key, stage in actual_stages(portal).items() if before[key] != stage)
    portal.create_flow(customers_lead_flow())
    # WHEN the run is undone
    undone = run_cli("undo", "--run-id", "fix-theirs", *common, "--apply")
    # THEN the restores check fails (exit 1), and the terminal says how many hold, how many the workflow set again
    # and how many someone else changed, as the portal shows them
    assert undone.returncode == 1, undone.stderr
    now = actual_stages(portal)
    reset = sum(1 for key, stage in before.items() if stage == "" and now[key] == "lead")
    assert 0 < reset < restored
    assert (
        f"checks failed (restored values held): restored {restored:,} records ({restored - reset:,} hold the restored "
        f"value, {reset:,} set again by a workflow, 0 changed by someone else since); 0 left alone (changed since "
        "the run)"
    ) in undone.stderr.splitlines()
    assert "Traceback" not in undone.stderr


def test_a_bad_config_file_is_a_one_line_error_before_anything_runs(tmp_path: Path):
    config = tmp_path / "bad.json"
    config.write_text('{"caps": {"max_percnt": 5}}')
    result = run_cli("run", "--config", str(config), "--contacts", "50", "--companies", "5", "--out", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("lifecycle-guard: invalid config: caps.max_percnt")
    assert len(result.stderr.strip().splitlines()) <= 3
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [[], ["run"], ["audit"], ["undo"], ["sandbox"]])
def test_every_command_explains_itself(command: list[str]):
    result = run_cli(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: lifecycle-guard" in result.stdout
    assert len(result.stdout.splitlines()) > 5


def test_audit_counts_a_portal_without_writing(external_sandbox: Sandbox):
    result = run_cli("audit", "--hubspot-url", external_sandbox.url, "--token", external_sandbox.token, "--json")
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout)["counts"]["contacts"]
    stages = [stage for (kind, _), stage in actual_stages(external_sandbox.portal).items() if kind == "contacts"]
    assert counts["total"] == len(stages)
    assert counts["missing"] == stages.count("")
    assert external_sandbox.stats()["write_requests"] == 0


def test_audit_tables_each_stage_with_its_share_and_what_the_default_rules_would_fix(external_sandbox: Sandbox):
    result = run_cli("audit", "--hubspot-url", external_sandbox.url, "--token", external_sandbox.token)
    assert result.returncode == 0, result.stderr
    stages = actual_stages(external_sandbox.portal)
    tables = {table.splitlines()[0].split()[0]: table.splitlines() for table in result.stdout.strip().split("\n\n")}
    for object_type in ("contacts", "companies"):
        held = [stage for (kind, _), stage in stages.items() if kind == object_type]
        header, *rows, total = tables[object_type]
        assert header.split() == [object_type, "records", "share", "would", "fix"]
        # the seed rules fix the records without a stage and those at a disallowed one
        would_fix = sum(1 for stage in held if stage == "" or stage in DISALLOWED)
        assert total.split() == ["total", f"{len(held):,}", "100.0%", f"{would_fix:,}"]
        by_label = {row[:28].strip(): row[28:].split() for row in rows}
        assert by_label["(no stage)"][0] == by_label["(no stage)"][2] == f"{held.count(''):,}"
        assert by_label["Lead"] == [f"{held.count('lead'):,}", f"{100 * held.count('lead') / len(held):.1f}%"]
        assert by_label["Other"][2] == f"{held.count('other'):,}"  # a disallowed stage: all of it would be fixed
    assert external_sandbox.stats()["write_requests"] == 0


def test_sandbox_command_prints_its_url_and_token_and_serves_until_stopped():
    server = subprocess.Popen(
        [str(CLI), "sandbox", "--port", "0", "--contacts", "40", "--companies", "4", "--seed", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url, token = server.stdout.readline().strip(), server.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        client = HubSpot(access_token=token, host=url, base_url=url)
        page = client.crm.contacts.basic_api.get_page(limit=100)
        assert len(page.results) == 40
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0
