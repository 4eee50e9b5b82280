"""Errors a person reads: each ends the command in at most three lines - what failed, why, what to do - with the
exit status the README documents, and no traceback on the terminal."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support.cli import run_cli
from support.oracle import actual_stages

from hubspot_sandbox import Sandbox
from hubspot_sandbox.settings import ALL_SCOPES, TokenKind


class NotHubSpot(BaseHTTPRequestHandler):
    """A web server that is not HubSpot's API: every path is a 404 page."""

    def do_GET(self) -> None:
        body = b"<html><body>Not Found</body></html>"
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def not_hubspot() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), NotHubSpot)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens once the socket is closed


def lines(text: str) -> list[str]:
    return text.strip().splitlines()


def assert_short_error(result, status: int, *first_line: str) -> None:
    """The whole terminal output is at most three lines, the first naming the problem as given."""
    assert result.returncode == status, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert len(lines(result.stderr)) <= 3, result.stderr
    for fragment in first_line:
        assert fragment in lines(result.stderr)[0], result.stderr


def test_nothing_listening_fails_within_seconds_naming_the_address(tmp_path: Path, closed_port: int):
    url = f"http://127.0.0.1:{closed_port}"
    started = time.monotonic()
    result = run_cli("run", "--hubspot-url", url, "--token", "t", "--out", str(tmp_path))
    assert time.monotonic() - started < 15  # the CLI's own start-up included; the connect check is instant here
    assert_short_error(result, 3, f"lifecycle-guard: connection refused at {url}")
    audit = run_cli("audit", "--hubspot-url", url, "--token", "t")
    assert_short_error(audit, 3, f"connection refused at {url}")


def test_a_server_that_is_not_hubspot_is_named_as_such(tmp_path: Path, not_hubspot: str):
    result = run_cli("run", "--hubspot-url", not_hubspot, "--token", "t", "--out", str(tmp_path))
    assert_short_error(
        result,
        3,
        f"lifecycle-guard: {not_hubspot} answered 404 for /crm/v3/properties/contacts/lifecyclestage: "
        "is this a HubSpot API?",
    )


def test_a_wrong_token_is_refused_before_the_run_starts(tmp_path: Path, external_sandbox: Sandbox):
    result = run_cli(
        "run", "--hubspot-url", external_sandbox.url, "--token", "not-it", "--apply", "--out", str(tmp_path)
    )
    assert_short_error(result, 3, "HubSpot rejected the token (401)")
    assert "hint: check --token (or HUBSPOT_TOKEN)" in result.stderr
    assert external_sandbox.stats()["write_requests"] == 0
    assert not list(tmp_path.glob("lg-*"))  # no run was started


def test_an_unknown_stage_is_a_config_error_showing_the_stages_by_value_and_label(
    tmp_path: Path, external_sandbox: Sandbox
):
    config = tmp_path / "leed.json"
    config.write_text(json.dumps({"contacts": {"disallowed": {"subscriber": "Leed"}}}))
    target = ["--hubspot-url", external_sandbox.url, "--token", external_sandbox.token]
    result = run_cli("run", *target, "--config", str(config), "--apply", "--out", str(tmp_path))
    assert_short_error(result, 2, "'Leed' is not a lifecycle stage of this portal's contacts")
    assert '"lead" (Lead)' in result.stderr
    assert '"52137490" (Product Qualified Lead)' in result.stderr
    assert external_sandbox.stats()["write_requests"] == 0


def test_a_step_that_fails_is_shown_failed_with_its_reason_and_the_traceback_goes_to_the_log(
    tmp_path: Path, external_sandbox: Sandbox
):
    # GIVEN a config whose cap the plan exceeds: the fix step refuses to start writing
    config = tmp_path / "capped.json"
    config.write_text(json.dumps({"caps": {"max_changes": 1}, "verification": {"live_test": False}}))
    target = ["--hubspot-url", external_sandbox.url, "--token", external_sandbox.token, "--rate-budget", "1000"]
    before = actual_stages(external_sandbox.portal)
    result = run_cli("run", *target, "--config", str(config), "--apply", "--out", str(tmp_path), "--run-id", "capped")
    # THEN it exits 1; the fix phase shows "failed", then the reason, the hint and the report, and nothing else
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    err = lines(result.stderr)
    progress = [line for line in err if re.match(r"(audit|plan|fix|report) ", line)]
    assert [line.split()[:2] for line in progress] == [
        ["audit", "done"],
        ["plan", "done"],
        ["fix", "failed"],
        ["report", "done"],
    ]
    log = tmp_path / "capped" / "lambda.log"
    assert err[err.index(progress[-1]) + 1 :] == [
        "failed at fix: the plan would change 366 records, over caps.max_changes=1; nothing was written. Review the "
        "dry-run report, then raise the cap if the plan is right.",
        f"hint: details in {log}",
        f"report: {tmp_path / 'capped' / 'report.html'}",
    ]
    assert lines(result.stdout) == [str(tmp_path / "capped" / "report.json")]  # a failed run's table is empty
    assert "Traceback" in log.read_text()  # the handler's traceback is in the log
    assert actual_stages(external_sandbox.portal) == before  # the portal marker aside, nothing was written


def test_undo_without_a_portal_is_refused(tmp_path: Path):
    result = run_cli("undo", "--run-id", "some-run", "--out", str(tmp_path))
    assert_short_error(result, 2, "lifecycle-guard: undo needs the portal the run changed: pass --hubspot-url")


def test_a_run_id_a_state_machine_cannot_take_is_refused(tmp_path: Path):
    result = run_cli("run", "--run-id", "my run", "--out", str(tmp_path))
    assert_short_error(result, 2, "--run-id 'my run': at most 59 letters, digits, '-' and '_'")


def test_an_out_that_cannot_be_used_is_a_usage_error(tmp_path: Path):
    # GIVEN an --out that cannot be made (under /proc) and one that is a file
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    for out, reason in (("/proc/nope", "cannot be made: No such file or directory"), (str(a_file), "not a directory")):
        # WHEN a run is asked to write there, THEN it ends before anything starts, in one line, with exit 2
        result = run_cli("run", "--contacts", "20", "--companies", "2", "--out", out)
        assert_short_error(result, 2, f"lifecycle-guard: --out {out}: {reason}")
        assert len(lines(result.stderr)) == 1


def test_a_token_short_of_scopes_is_refused_before_anything_is_written(tmp_path: Path, external_sandbox: Sandbox):
    # GIVEN a private-app token that may read contacts but not write them
    token = external_sandbox.issue_token(TokenKind.PRIVATE_APP, scopes=ALL_SCOPES - {"crm.objects.contacts.write"})
    target = ["--hubspot-url", external_sandbox.url, "--token", token, "--rate-budget", "1000"]
    before = actual_stages(external_sandbox.portal)
    # WHEN an apply run starts
    result = run_cli("run", *target, "--apply", "--out", str(tmp_path), "--run-id", "short")
    # THEN its first step fails naming the missing scope, with the exit status of a portal that cannot be used
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    err = lines(result.stderr)
    failed = next(i for i, line in enumerate(err) if line.startswith("failed at "))
    assert err[failed] == (
        "failed at audit: the HubSpot token lacks the scopes crm.objects.contacts.write; nothing was written. Add "
        "them to the private app, or run in dry-run mode."
    )
    assert len(err[failed:]) <= 3  # the reason, the hint, the report
    assert actual_stages(external_sandbox.portal) == before  # the portal marker aside, nothing was written
    # WHEN the same token asks only for a dry run, THEN it is enough: reading needs no write scope
    dry = run_cli("run", *target, "--dry-run", "--out", str(tmp_path), "--run-id", "short-dry")
    assert dry.returncode == 0, dry.stderr
