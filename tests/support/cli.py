"""The installed `lifecycle-guard` command, run as a user runs it, in its own process."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from hubspot_sandbox import Portal, PortalSpec
from lifecycle_guard.live_test import PROBE_EMAIL_DOMAIN

CLI = Path(sys.executable).with_name("lifecycle-guard")
SPEC = PortalSpec(contacts=1200, companies=120, seed=13)


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd, check=False
    )


def start_cli(*args: str) -> subprocess.Popen[str]:
    """The command running in the background, for a test to signal it; read its output with communicate()."""
    return subprocess.Popen([str(CLI), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until(
    condition: Callable[[], bool], what: str, timeout: float = 180, process: subprocess.Popen[str] | None = None
) -> None:
    """Poll ``condition``; fail naming ``what`` if it is not met in time (or the process ended before)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the command ended (status {process.returncode}) before {what}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def probe_records(portal: Portal) -> list[tuple[str, str]]:
    """The live test's probe records in the portal, by the domain every probe carries."""
    found = [
        ("contacts", i) for i, p in portal.records("contacts") if (p.get("email") or "").endswith(PROBE_EMAIL_DOMAIN)
    ]
    found += [("companies", i) for i, p in portal.records("companies") if p.get("domain") == PROBE_EMAIL_DOMAIN]
    return found
