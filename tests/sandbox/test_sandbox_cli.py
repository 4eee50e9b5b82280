"""The standalone command: serves a generated portal, prints URL and token, stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
import requests

from hubspot_sandbox.cli import main


def test_help_explains_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for option in (
        "--port",
        "--contacts",
        "--companies",
        "--seed",
        "--token",
        "--burst-limit",
        "--search-limit",
        "--daily-limit",
        "--workflow-delay",
        "--index-lag-ms",
    ):
        assert option in text


def test_serve_prints_url_and_token_then_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hubspot_sandbox",
            "serve",
            "--port",
            "0",
            "--contacts",
            "50",
            "--companies",
            "5",
            "--token",
            "cli-token",
            "--burst-limit",
            "50",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        token = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert token == "cli-token"
        response = requests.get(
            f"{url}/crm/v3/objects/contacts", headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
        assert response.status_code == 200
        assert len(response.json()["results"]) == 10
        assert response.headers["X-HubSpot-RateLimit-Max"] == "50"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
