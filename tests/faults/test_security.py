"""The HubSpot token never leaves the secret: not in a log line, the report, the journal, the plan, or any object a
run leaves in its bucket - also when HubSpot misbehaves and errors are logged with their tracebacks.

The run is a user's: ``lifecycle-guard run`` (its ``main``) against a sandbox reached by URL, the token from
``HUBSPOT_TOKEN``, the real state machine and Lambda handlers on moto. Everything it writes is captured: stdout and
stderr (``capfd``), Python logging (``caplog``), and every file under ``--out`` - the Lambda log, the run's report,
journal and plan, and ``.bucket/``, the mirror of every object in the run's S3 bucket.
"""

from __future__ import annotations

import json
import logging
import uuid

from hubspot_sandbox import ALL_SCOPES, PortalSpec, Sandbox, SandboxSettings, generate_portal
from lifecycle_guard_offline import cli
from lifecycle_guard_offline.cli import main
from lifecycle_guard_offline.probes import sweep_strays

SECRET_PART = uuid.uuid4().hex
TOKEN = f"pat-eu1-{SECRET_PART[:8]}-{SECRET_PART[8:12]}-{SECRET_PART[12:16]}-{SECRET_PART[16:]}"
SPEC = PortalSpec(contacts=300, companies=30, seed=23)


def test_the_token_appears_in_nothing_a_run_writes(tmp_path, capfd, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    out = tmp_path / "out"
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"verification": {"live_test_wait_seconds": 1}, "budget": {"max_attempts": 2}}))
    monkeypatch.setenv("HUBSPOT_TOKEN", TOKEN)
    # GIVEN a portal that knows only this distinctive token, and errors that make the run retry a search, re-send a
    # write whose response was lost, and fail a fix job once (HubSpot's 500s outlast the gateway's attempts: the
    # Lambda fails and logs its traceback, SQS delivers the job again; two attempts per request, so quickly)
    settings = SandboxSettings(workflow_delay_seconds=0.2, tokens={TOKEN: ALL_SCOPES})
    with Sandbox(generate_portal(SPEC), settings) as sandbox:
        # the search fault is for the run: queued once the CLI's search for stray probes before it is done
        def sweep_then_fault(*args: object, **kwargs: object) -> object:
            removed = sweep_strays(*args, **kwargs)
            sandbox.queue_fault(path_regex=r".*/search", status=503)
            return removed

        monkeypatch.setattr(cli, "sweep_strays", sweep_then_fault)
        sandbox.queue_fault(path="/crm/v3/objects/companies/batch/update", status=502, when="after_write")
        sandbox.queue_fault(path="/crm/v3/objects/contacts/batch/update", status=500, times=2)
        # WHEN a user runs lifecycle-guard against it
        arguments = ["--hubspot-url", sandbox.url, "--apply", "--config", str(config), "--out", str(out)]
        code = main(["run", *arguments, "--run-id", "secured"])
    captured = capfd.readouterr()
    # THEN the run went all the way through its faults to success
    report = json.loads((out / "secured" / "report.json").read_text())
    assert code == 0, captured.err
    assert report["outcome"] == "succeeded"
    assert report["fix"]["applied"] > 0
    assert report["api"]["retries"] > 0
    assert report["api"]["statuses"]["500"] == 2
    assert report["api"]["statuses"]["502"] == report["api"]["statuses"]["503"] == 1
    # ... everything it wrote is there to be searched
    files = {path.relative_to(out).as_posix(): path.read_bytes() for path in out.rglob("*") if path.is_file()}
    run_files = {"lambda.log", "report.json", "report.html", "journal.jsonl", "plan.jsonl"}
    assert {f"secured/{name}" for name in run_files} <= files.keys()
    mirrored = [name for name in files if name.startswith(".bucket/")]
    assert any(name.endswith("/secured/journal.jsonl") for name in mirrored)
    assert any("/journal/" in name for name in mirrored)  # the journal's segments too
    assert b"Traceback" in files["secured/lambda.log"] or "Traceback" in caplog.text  # an error was logged
    # ... and the token is in none of it
    for secret in (TOKEN, SECRET_PART):
        assert [name for name, body in files.items() if secret.encode() in body] == []
        assert secret not in captured.out
        assert secret not in captured.err
        assert secret not in caplog.text
