"""The report page's "Config of this run" section: every setting as the run used it, and beside each one the
execution input changed, its deployed value, the ones that loosen safety marked (``overrides``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lifecycle_guard.html_parts import Marked, table
from lifecycle_guard.overrides import Override, setting_paths
from lifecycle_guard.reporting import RunReport

LOOSENS = Marked("override: loosens safety", "FAIL")
OVERRIDE = "override"


def _shown(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "))


def _setting(config: Mapping[str, Any], path: str) -> Any:
    value: Any = config
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def config_section(report: RunReport) -> str:
    title = "<h2>Config of this run</h2>"
    if not report.config:
        return title + '<p class="note">Not known: the run did not get past Begin, which resolves the config.</p>'
    overridden: dict[str, Override] = {override.path: override for override in report.overrides}
    loosening = sum(1 for override in report.overrides if override.loosens)
    note = (
        f'<p class="note">{len(overridden)} settings overridden by the execution input, {loosening} of them '
        "loosening safety (which the input has to allow explicitly: <code>allow_loosening</code>).</p>"
        if overridden
        else '<p class="note">The deployed config, unchanged by the execution input.</p>'
    )
    paths = setting_paths(report.config)
    paths += [path for path in overridden if path not in paths]  # every override, even one of no setting shown
    rows: list[list[Any]] = []
    for path in paths:
        override = overridden.get(path)
        if override is None:
            rows.append([path, _shown(_setting(report.config, path)), "", ""])
        else:
            marker = LOOSENS if override.loosens else OVERRIDE
            rows.append([path, _shown(override.effective), _shown(override.deployed), marker])
    return title + note + table(["setting", "this run", "deployed", ""], rows)
