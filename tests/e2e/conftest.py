"""End-to-end: the installed `lifecycle-guard` command, run as a user runs it, in its own process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubspot_sandbox import PortalSpec, Sandbox, SandboxSettings, generate_portal

CLI = Path(sys.executable).with_name("lifecycle-guard")
SPEC = PortalSpec(contacts=1200, companies=120, seed=13)


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=timeout, env=env, check=False)


@pytest.fixture
def fast_config(tmp_path: Path) -> Path:
    """A config a user could write: a short live-test wait suits the sandbox's quick workflows."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"verification": {"live_test_wait_seconds": 2}}))
    return path


@pytest.fixture
def external_sandbox() -> Iterator[Sandbox]:
    """A sandbox outside the CLI's process, reached with --hubspot-url as a real portal would be."""
    with Sandbox(generate_portal(SPEC), SandboxSettings(workflow_delay_seconds=0.5)) as sandbox:
        yield sandbox
