"""Stopping the `lifecycle-guard` command with real signals: what it wrote stays journaled and undoable, its probe
records leave the portal, a second run on the same OUT is refused, and a run killed outright loses nothing a later
run needs."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

from support.cli import probe_records, run_cli, start_cli, wait_until
from support.oracle import actual_stages, differences, expected_stages

from hubspot_sandbox import FaultSettings, Sandbox
from lifecycle_guard.flow_bodies import is_managed
from lifecycle_guard.journal import JournalEntry, Write, WriteOutcome
from lifecycle_guard_offline.local_run import MIRROR_SECONDS
from lifecycle_guard_offline.portal_marker import MARKER_NAME, Holder

# Small jobs at a low budget: the fix phase lasts long enough to be interrupted in its middle.
SLOW_FIX = {
    "prevention": {"enabled": False},
    "verification": {"live_test": False},
    "fix": {"job_size": 10, "batch_size": 10},
    # labels, as HubSpot shows them, resolve to the default rules' values
    "companies": {"missing": {"derive": "deals", "closed_won": "Customer", "open": "OPPORTUNITY", "otherwise": "Lead"}},
}
# The prevention workflows in place and a long live-test wait: the run sits in verify with its probes created.
LONG_LIVE_TEST = {"verification": {"live_test_wait_seconds": 120}}


def our_flows(sandbox: Sandbox) -> dict[str, bool]:
    """lifecycle-guard's prevention flows in the portal, id -> whether it is on."""
    return {flow["id"]: flow["isEnabled"] for flow in sandbox.portal.flows() if is_managed(flow)}


def record_writes(sandbox: Sandbox) -> int:
    """Batch updates of contacts and companies (the portal marker's and the flows' writes are not counted)."""
    calls = sandbox.stats()["calls"]
    return sum(n for call, n in calls.items() if "/crm/v3/objects/" in call and call.endswith("/batch/update"))


def written_records(journal: Path) -> set[tuple[str, str]]:
    entries = [JournalEntry.model_validate_json(line) for line in journal.read_text().splitlines() if line]
    return {
        (entry.object_type.value, entry.object_id)
        for entry in entries
        if entry.write is not Write.NONE and entry.outcome is WriteOutcome.APPLIED
    }


def changed_records(before: dict[tuple[str, str], str], now: dict[tuple[str, str], str]) -> set[tuple[str, str]]:
    return {key for key, stage in before.items() if now.get(key) != stage}


def no_traceback(*outputs: str) -> None:
    for output in outputs:
        assert "Traceback" not in output, output


def test_sigint_mid_fix_keeps_every_write_journaled_and_undo_restores_them_all(
    tmp_path: Path, external_sandbox: Sandbox
):
    # GIVEN an apply run whose fix phase takes a while
    config = tmp_path / "slow-fix.json"
    config.write_text(json.dumps(SLOW_FIX))
    portal = external_sandbox.portal
    before = actual_stages(portal)
    target = ["--hubspot-url", external_sandbox.url, "--token", external_sandbox.token, "--out", str(tmp_path)]
    run = start_cli("run", *target, "--config", str(config), "--rate-budget", "40", "--apply", "--run-id", "cut-1")
    # WHEN Ctrl-C arrives once the fix workers have written
    wait_until(lambda: record_writes(external_sandbox) >= 3, "the first writes", process=run)
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=120)
    # THEN it stops with 130 and one line saying what it wrote, where the journal is, and how to undo it
    assert run.returncode == 130, err
    no_traceback(out, err)
    journal = tmp_path / "cut-1" / "journal.jsonl"
    undo = f"lifecycle-guard undo --run-id cut-1 --hubspot-url {external_sandbox.url} --out {tmp_path} --apply"
    last = err.strip().splitlines()[-1]
    pattern = rf"interrupted after ([\d,]+) records written; journal at {re.escape(str(journal))}; re-run to finish or "
    match = re.fullmatch(pattern + re.escape(f"`{undo}`"), last)
    assert match, last
    # ... the journal holds exactly the records the portal shows changed: the batch in flight finished and was
    # journaled, and no job started after the stop
    written = written_records(journal)
    assert len(written) == int(match.group(1).replace(",", ""))
    assert written == changed_records(before, actual_stages(portal))
    assert 0 < len(written) < 366  # stopped mid-fix: the plan of this portal changes 366 records
    # ... and the bucket mirror has the run, so undo finds it
    assert (tmp_path / ".bucket" / "runs" / "index" / "cut-1.json").is_file()
    # WHEN it is undone as the line says
    undone = run_cli("undo", "--run-id", "cut-1", *target, "--config", str(config), "--apply")
    # THEN every written record is back, and the undo's name says which run it undid
    assert undone.returncode == 0, undone.stderr
    assert actual_stages(portal) == before
    assert Path(undone.stdout.strip().splitlines()[-1]).parent.name.startswith("undo-cut-1-")
    assert f"restored {len(written):,} records" in undone.stdout
    # WHEN the same run is undone again
    again = run_cli("undo", "--run-id", "cut-1", *target, "--config", str(config), "--apply")
    # THEN it is refused, naming the undo that did it, and nothing is written
    assert again.returncode == 2
    assert re.fullmatch(
        r"lifecycle-guard: run cut-1 was undone already, by undo-cut-1-\d{8}-\d{6}; pass --force to undo it again",
        again.stderr.strip(),
    ), again.stderr


def test_a_second_run_on_the_same_out_or_portal_is_refused_and_sigint_mid_verify_leaves_no_probe(
    tmp_path: Path, external_sandbox: Sandbox
):
    # GIVEN an apply run in its live test: its probe contact and company exist in the portal
    config = tmp_path / "long-live-test.json"
    config.write_text(json.dumps(LONG_LIVE_TEST))
    target = ["--hubspot-url", external_sandbox.url, "--token", external_sandbox.token, "--out", str(tmp_path)]
    first = start_cli(
        "run", *target, "--config", str(config), "--rate-budget", "1000", "--apply", "--run-id", "probing"
    )
    wait_until(lambda: len(probe_records(external_sandbox.portal)) == 2, "the live test's probes", process=first)
    # WHEN a second run starts on the same OUT
    second = run_cli("run", *target, "--config", str(config), "--apply", "--run-id", "second", timeout=60)
    # THEN it is refused at once, naming the run and the process holding OUT
    assert second.returncode == 4
    assert re.fullmatch(
        rf"lifecycle-guard: another lifecycle-guard run is using {re.escape(str(tmp_path))}: run probing "
        rf"\(pid {first.pid} on .+, "
        r"since .+\); wait for it to end, stop it, or use another --out",
        second.stderr.strip(),
    ), second.stderr
    assert not (tmp_path / "second").exists()
    # WHEN a second run starts with another OUT: nothing on disk is shared, only the portal
    elsewhere = tmp_path / "elsewhere"
    other = ["--hubspot-url", external_sandbox.url, "--token", external_sandbox.token, "--out", str(elsewhere)]
    third = run_cli("run", *other, "--config", str(config), "--apply", "--run-id", "third", timeout=60)
    # THEN it is refused by the marker the first holds in the portal, naming that run, its process and its OUT
    assert third.returncode == 4
    no_traceback(third.stdout, third.stderr)
    assert re.fullmatch(
        rf"lifecycle-guard: another lifecycle-guard run is writing to this portal: run probing \(pid {first.pid} on "
        rf".+, --out {re.escape(str(tmp_path))}; heartbeat \d+ s ago\); wait for it to end or stop it \(a marker "
        r"without a heartbeat for 10 minutes is taken over\)",
        third.stderr.strip().splitlines()[-1],
    ), third.stderr
    assert len(third.stderr.strip().splitlines()) <= 3
    assert not (elsewhere / "third").exists()
    # WHEN the first is stopped with Ctrl-C during its wait
    first.send_signal(signal.SIGINT)
    out, err = first.communicate(timeout=120)
    # THEN it stops with one line, and its probes are gone from the portal
    assert first.returncode == 130, err
    no_traceback(out, err)
    assert err.strip().splitlines()[-1].startswith("interrupted after ")
    assert probe_records(external_sandbox.portal) == []
    # ... and the portal's marker is free: the run refused before may go now
    (marker,) = [flow for flow in external_sandbox.portal.flows() if flow["name"] == MARKER_NAME]
    assert Holder.model_validate_json(marker["description"]).state == "free"


def test_a_run_killed_outright_leaves_its_journal_mirrored_and_the_next_run_removes_its_probes(
    tmp_path: Path, external_sandbox: Sandbox, fast_config: Path
):
    # GIVEN an apply run killed with SIGKILL in its live test: no clean-up ran, the lock's holder is gone
    config = tmp_path / "long-live-test.json"
    config.write_text(json.dumps(LONG_LIVE_TEST))
    portal = external_sandbox.portal
    before = actual_stages(portal)
    target = ["--hubspot-url", external_sandbox.url, "--token", external_sandbox.token, "--out", str(tmp_path)]
    killed = start_cli(
        "run", *target, "--config", str(config), "--rate-budget", "1000", "--apply", "--run-id", "killed"
    )
    wait_until(lambda: len(probe_records(portal)) == 2, "the live test's probes", process=killed)
    fixed = changed_records(before, actual_stages(portal))
    time.sleep(MIRROR_SECONDS + 1)  # what a kill -9 may lose: the objects of the last mirror interval
    killed.kill()
    killed.communicate(timeout=30)
    # THEN the bucket mirror holds the journal of every record it fixed: the index and the segments undo reads
    assert (tmp_path / ".bucket" / "runs" / "index" / "killed.json").is_file()
    segments = sorted((tmp_path / ".bucket" / "runs").glob("*/*/*/killed/journal/*.jsonl"))
    assert set().union(*(written_records(segment) for segment in segments)) == fixed
    assert len(probe_records(portal)) == 2
    # WHEN the next run starts on the same OUT
    rerun = run_cli("run", *target, "--config", str(fast_config), "--apply", "--run-id", "after-kill")
    # THEN the dead run's lock does not stop it, it removes the probes the killed run left, and succeeds
    assert rerun.returncode == 0, rerun.stderr
    assert "removed 2 probe records that earlier runs left (run killed)" in rerun.stderr
    assert probe_records(portal) == []


def test_sigterm_while_starting_stops_with_one_line_and_143(tmp_path: Path):
    starting = start_cli("run", "--contacts", "20000", "--companies", "2000", "--out", str(tmp_path))
    wait_until(
        lambda: (tmp_path / ".lock").is_file() and (tmp_path / ".lock").read_text(), "the lock", process=starting
    )
    starting.send_signal(signal.SIGTERM)
    out, err = starting.communicate(timeout=60)
    assert starting.returncode == 143, err
    no_traceback(out, err)
    # whether the signal came before the execution started or just after, nothing was written
    assert err.strip().splitlines()[-1] in (
        "lifecycle-guard: interrupted before the run started",
        "interrupted before it changed any record",
    )
    assert (tmp_path / ".lock").read_text() == ""  # released


def test_a_second_sigint_abandons_the_batch_in_flight_and_the_next_run_finishes_it(
    tmp_path: Path, external_sandbox: Sandbox, fast_config: Path
):
    # GIVEN an apply run whose fix jobs take seconds each (ten batches, every HubSpot call 250 ms late)
    config = tmp_path / "long-jobs.json"
    config.write_text(json.dumps({**SLOW_FIX, "fix": {"job_size": 100, "batch_size": 10}}))
    portal = external_sandbox.portal
    expected = expected_stages(portal)
    external_sandbox.update_settings(faults=FaultSettings(latency_ms=250))
    target = ["--hubspot-url", external_sandbox.url, "--token", external_sandbox.token, "--out", str(tmp_path)]
    run = start_cli("run", *target, "--config", str(config), "--rate-budget", "1000", "--apply", "--run-id", "hurried")
    # WHEN HubSpot stops answering once a job has written (its worker hangs mid-batch, as on a stalled connection),
    # Ctrl-C comes, and again while the CLI waits for that batch
    wait_until(lambda: record_writes(external_sandbox) >= 1, "the first write", process=run)
    fix_calls = r"/crm/v3/objects/(contacts|companies)/batch/(read|update)"  # not the probe clean-up's search
    external_sandbox.queue_fault(path_regex=fix_calls, when="stall", times=10_000)
    run.send_signal(signal.SIGINT)
    time.sleep(1)
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=60)
    # THEN it ends at once, saying the batches in flight (one per fix worker that was writing) were abandoned;
    # their markers are in the mirror
    assert run.returncode == 130, err
    no_traceback(out, err)
    assert "stopping interrupted  stopped waiting" in err
    markers = list((tmp_path / ".bucket" / "work" / "pending" / "hurried").glob("*.json"))
    assert markers
    said = (
        "; the batch in flight was abandoned, the next run finishes it; "
        if len(markers) == 1
        else f"; the {len(markers)} batches in flight were abandoned, the next run finishes them; "
    )
    assert said in err.strip().splitlines()[-1]
    # WHEN the next run starts (HubSpot answering again, at its usual speed)
    external_sandbox.clear_faults()
    external_sandbox.update_settings(faults=FaultSettings())
    rerun = run_cli("run", *target, "--config", str(fast_config), "--apply", "--run-id", "finishes")
    # THEN it finishes the abandoned batch and the rest: the portal is as one whole run leaves it
    assert rerun.returncode == 0, rerun.stderr
    assert differences(expected, actual_stages(portal)) == []
    assert not list((tmp_path / ".bucket" / "work" / "pending").rglob("*.json"))


def test_sigint_mid_undo_switches_the_prevention_flows_back_on_and_a_re_run_finishes_the_undo(
    tmp_path: Path, external_sandbox: Sandbox
):
    # GIVEN an apply run that switched the prevention flows on, in small jobs: its undo restores job by job
    config = tmp_path / "flows-on.json"
    config.write_text(json.dumps({"verification": {"live_test": False}, "fix": {"job_size": 10, "batch_size": 10}}))
    portal = external_sandbox.portal
    before = actual_stages(portal)
    target = ["--hubspot-url", external_sandbox.url, "--token", external_sandbox.token, "--out", str(tmp_path)]
    fixed = run_cli("run", *target, "--config", str(config), "--rate-budget", "1000", "--apply", "--run-id", "flows")
    assert fixed.returncode == 0, fixed.stderr
    flows = our_flows(external_sandbox)
    assert list(flows.values()) == [True, True]
    written = record_writes(external_sandbox)
    # WHEN its undo is stopped with Ctrl-C once it has switched the flows off and begun restoring
    undo = start_cli("undo", "--run-id", "flows", *target, "--config", str(config), "--rate-budget", "60", "--apply")
    wait_until(
        lambda: not any(our_flows(external_sandbox).values()) and record_writes(external_sandbox) > written + 1,
        "the undo's first restores",
        process=undo,
    )
    undo.send_signal(signal.SIGINT)
    out, err = undo.communicate(timeout=180)
    # THEN it stops with 130 and one line that says the flows are back on - and they are
    assert undo.returncode == 130, err
    no_traceback(out, err)
    last = err.strip().splitlines()[-1]
    assert re.fullmatch(
        r"interrupted after [\d,]+ records restored; journal at \S+/journal\.jsonl; its prevention workflows are "
        r"back on \(2 switched on\); re-run the undo to finish",
        last,
    ), last
    assert our_flows(external_sandbox) == flows
    # WHEN the undo is re-run as the line says
    again = run_cli("undo", "--run-id", "flows", *target, "--config", str(config), "--apply")
    # THEN it finishes: every record is as before the run, none reported as changed by someone else, flows on
    assert again.returncode == 0, again.stderr
    assert actual_stages(portal) == before
    assert re.search(r"; 0 left alone \(changed since the run\)$", again.stdout.strip().splitlines()[-2]), again.stdout
    assert our_flows(external_sandbox) == flows
