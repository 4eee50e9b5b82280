"""The installed `lifecycle-guard` command, run as a user runs it, in its own process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hubspot_sandbox import PortalSpec

CLI = Path(sys.executable).with_name("lifecycle-guard")
SPEC = PortalSpec(contacts=1200, companies=120, seed=13)


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=timeout, env=env, check=False)
