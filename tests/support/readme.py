"""The README's terminal blocks, which e2e tests run and compare with what the command prints."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_block(mark: str) -> tuple[str, list[str]]:
    """The ```text block after ``mark`` (an HTML comment naming the test): its command line, and the terminal."""
    readme = README.read_text()
    block = readme[readme.index(mark) :].split("```text\n", 1)[1].split("```", 1)[0]
    command, *terminal = block.splitlines()
    return command, terminal


def comparable(lines: list[str]) -> list[str]:
    """Terminal lines with what differs from run to run made alike: ports, run ids, durations, where OUT is."""
    replacements = [
        (r"http://127\.0\.0\.1:\d+", "http://127.0.0.1:PORT"),
        (r"lg-\d{8}-\d{6}-[0-9a-f]{6}", "RUN-ID"),
        (r" +\d+\.\ds$", " 0.0s"),
        (r"/\S+/out/", "/OUT/"),
    ]
    comparable_lines = []
    for line in lines:
        alike = line
        for pattern, replacement in replacements:
            alike = re.sub(pattern, replacement, alike)
        comparable_lines.append(alike.rstrip())
    return comparable_lines
