"""End-to-end: the installed `lifecycle-guard` command, run as a user runs it, in its own process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import SPEC

from hubspot_sandbox import Sandbox, SandboxSettings, generate_portal


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
