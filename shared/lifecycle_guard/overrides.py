"""A run's config overrides (the execution input's ``config``) may tighten safety freely; loosening it needs the
input to say so (``allow_loosening``), and the report shows every override, loosening marked.

The deployed config (``GuardConfig`` in template.yaml) is what an operator reviewed; anyone who can start an
execution can pass overrides, so an override that raises a cap, spends more of HubSpot's budget (a burst or search
rate, retries) or lowers the daily watermark must be deliberate. The run's burst budget never exceeds the portal's
tier, whether the deployed config or an override sets it; the one exception is a run aimed at the offline harness's
sandbox (``tier_applies_to``), which is not a HubSpot portal and has no tier.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from lifecycle_guard.config import ConfigError, GuardConfig, load_config


class Override(BaseModel):
    path: str  # e.g. "caps.max_percent"
    deployed: Any
    effective: Any
    loosens: bool


class BudgetBounds(BaseModel):
    """What an unset budget means for this deployment, and what it may never exceed."""

    tier_requests_per_10s: int  # the portal's burst limit (HubSpotApiTier)
    default_requests_per_10s: int  # the tier's limit x ApiBudgetPercent


# Per safety setting: its value as a number where None means its default, and whether a bigger number is looser.
_Measure = Callable[[GuardConfig, BudgetBounds], float]
_SAFETY: dict[str, tuple[_Measure, bool]] = {
    "caps.max_changes": (lambda c, _b: float("inf") if c.caps.max_changes is None else c.caps.max_changes, True),
    "caps.max_percent": (lambda c, _b: c.caps.max_percent, True),
    "budget.requests_per_10s": (
        lambda c, b: c.budget.requests_per_10s or b.default_requests_per_10s,
        True,
    ),
    "budget.search_requests_per_second": (lambda c, _b: c.budget.search_requests_per_second, True),
    "budget.max_attempts": (lambda c, _b: c.budget.max_attempts, True),  # each retry is one more request
    "budget.daily_watermark": (lambda c, _b: c.budget.daily_watermark, False),
    "budget.burst_exemptions": (lambda c, _b: float(c.budget.burst_exemptions), True),
}


def _value(config: GuardConfig, path: str) -> Any:
    """The setting at a dotted path; None where the config has no such path (a rule target the deployed config
    names as a stage, which the override replaces by a derivation)."""
    value: Any = config
    for part in path.split("."):
        value = getattr(value, part, None)
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


def setting_paths(settings: Mapping[str, Any], prefix: str = "") -> list[str]:
    """The dotted paths of the settings a config (or an override of one) sets, as JSON: a ``disallowed`` map counts
    whole, as the merge replaces it."""
    paths = []
    for key, value in settings.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and key != "disallowed":
            paths.extend(setting_paths(value, f"{path}."))
        else:
            paths.append(path)
    return paths


def tier_applies_to(base_url: str) -> bool:
    """Whether the portal's tier bounds the budget of a run aimed at ``base_url``: always, except over plain HTTP.
    Plain HTTP reaches only this machine's loopback (``runtime.Settings`` refuses it anywhere else, and the
    template's ``HubSpotBaseUrl`` must be https://), where the offline harness serves the HubSpot sandbox: no tier
    to protect there, so tests and benchmarks may run faster than any tier allows."""
    return not base_url.startswith("http://")


def resolve_config(
    deployed_json: str,
    overrides: Mapping[str, Any],
    bounds: BudgetBounds,
    *,
    allow_loosening: bool,
    tier_applies: bool = True,
) -> tuple[GuardConfig, list[Override]]:
    """The run's config and what its overrides changed; ConfigError when an override loosens safety without
    ``allow_loosening``, or when the run's burst budget (deployed or overridden) exceeds the tier and the tier
    applies (``tier_applies_to``)."""
    deployed = load_config(deployed_json)
    effective = load_config(deployed_json, overrides)
    changed: list[Override] = []
    for path in setting_paths(overrides):
        before, after = _value(deployed, path), _value(effective, path)
        measure = _SAFETY.get(path)
        loosens = False
        if measure is not None:
            value_of, bigger_is_looser = measure
            was, now = value_of(deployed, bounds), value_of(effective, bounds)
            loosens = now > was if bigger_is_looser else now < was
        if before != after:
            changed.append(Override(path=path, deployed=before, effective=after, loosens=loosens))
    refused = [o for o in changed if o.loosens]
    if refused and not allow_loosening:
        raise ConfigError(
            "the run's config overrides loosen safety settings: "
            + "; ".join(f"{o.path} {o.deployed!r} -> {o.effective!r}" for o in refused)
            + '. Nothing was written. Start the run with "allow_loosening": true if that is intended.'
        )
    requested = effective.budget.requests_per_10s
    if tier_applies and requested is not None and requested > bounds.tier_requests_per_10s:
        source = (
            "the run's override" if "budget.requests_per_10s" in {o.path for o in changed} else "the deployed config"
        )
        raise ConfigError(
            f"budget.requests_per_10s={requested} ({source}) exceeds the portal's API tier "
            f"({bounds.tier_requests_per_10s} requests per 10 s): HubSpot would throttle every other integration. "
            "Nothing was written."
        )
    return effective, changed
