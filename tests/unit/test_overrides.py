"""What an execution input may change in the deployed config: tightening freely, loosening only when it says so,
and never a budget above the portal's tier; the input's sizes are bounded; HubSpot only over TLS."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from lifecycle_guard.config import ConfigError
from lifecycle_guard.contracts import MAX_CONFIG_OVERRIDE_BYTES, ExecutionInfo, RunRequest
from lifecycle_guard.overrides import BudgetBounds, resolve_config, tier_applies_to
from lifecycle_guard.runtime import Services, Settings, SettingsError
from lifecycle_guard.steps.begin import begin

BOUNDS = BudgetBounds(tier_requests_per_10s=190, default_requests_per_10s=95)
DEPLOYED = json.dumps(
    {
        "caps": {"max_changes": 1000, "max_percent": 20},
        "budget": {"daily_watermark": 5000, "search_requests_per_second": 4},
    }
)


@pytest.mark.parametrize(
    "tighter",
    [
        {"caps": {"max_changes": 10}},
        {"caps": {"max_percent": 5}},
        {"budget": {"requests_per_10s": 50}},
        {"budget": {"daily_watermark": 20_000}},
        {"budget": {"burst_exemptions": False}},  # every call paced: fewer per window
        {"budget": {"search_requests_per_second": 2}},
        {"budget": {"max_attempts": 3}},  # fewer retries: fewer requests
    ],
)
def test_an_override_that_tightens_needs_no_flag_and_is_listed(tighter):
    config, overrides = resolve_config(DEPLOYED, tighter, BOUNDS, allow_loosening=False)
    ((section, values),) = tighter.items()
    ((name, value),) = values.items()
    assert getattr(getattr(config, section), name) == value
    assert [(o.path, o.effective, o.loosens) for o in overrides] == [(f"{section}.{name}", value, False)]


@pytest.mark.parametrize(
    ("looser", "path"),
    [
        ({"caps": {"max_changes": None}}, "caps.max_changes"),  # unlimited
        ({"caps": {"max_percent": 90}}, "caps.max_percent"),
        ({"budget": {"requests_per_10s": 150}}, "budget.requests_per_10s"),  # above the deployed 95
        ({"budget": {"daily_watermark": 0}}, "budget.daily_watermark"),
        ({"budget": {"search_requests_per_second": 5}}, "budget.search_requests_per_second"),  # above the deployed 4
        ({"budget": {"max_attempts": 20}}, "budget.max_attempts"),  # above 6: more requests per failing call
    ],
)
def test_an_override_that_loosens_is_refused_without_the_flag_and_marked_with_it(looser, path):
    with pytest.raises(ConfigError, match=rf"loosen safety settings: {path}.*allow_loosening"):
        resolve_config(DEPLOYED, looser, BOUNDS, allow_loosening=False)
    _, overrides = resolve_config(DEPLOYED, looser, BOUNDS, allow_loosening=True)
    assert [(o.path, o.loosens) for o in overrides] == [(path, True)]


def test_other_overrides_are_listed_and_an_unchanged_value_is_not():
    overrides = {"prevention": {"enabled": False}, "caps": {"max_percent": 20}}
    _, changed = resolve_config(DEPLOYED, overrides, BOUNDS, allow_loosening=False)
    assert [(o.path, o.deployed, o.effective, o.loosens) for o in changed] == [
        ("prevention.enabled", True, False, False)
    ]


def test_no_override_may_take_the_budget_above_the_tier():
    with pytest.raises(ConfigError, match=r"250 \(the run's override\) exceeds the portal's API tier"):
        resolve_config(DEPLOYED, {"budget": {"requests_per_10s": 250}}, BOUNDS, allow_loosening=True)


def test_nor_may_the_deployed_config():
    # GIVEN a deployed config whose burst budget is above the portal's tier (190)
    deployed = json.dumps({"budget": {"requests_per_10s": 1000}})
    # WHEN a run starts with no override, or one that leaves the budget alone, THEN it is refused all the same
    for overrides in ({}, {"caps": {"max_percent": 10}}):
        with pytest.raises(ConfigError, match=r"1000 \(the deployed config\) exceeds the portal's API tier \(190"):
            resolve_config(deployed, overrides, BOUNDS, allow_loosening=True)
    # ... and an override bringing it within the tier tightens, so the run may go
    config, _ = resolve_config(deployed, {"budget": {"requests_per_10s": 190}}, BOUNDS, allow_loosening=False)
    assert config.budget.requests_per_10s == 190


def test_only_the_offline_sandbox_has_no_tier():
    assert tier_applies_to("https://api.hubapi.com")
    assert tier_applies_to("https://hubspot-compatible.example.com")
    assert not tier_applies_to("http://127.0.0.1:8090")  # the harness's sandbox; Settings allows no other http://
    deployed = json.dumps({"budget": {"requests_per_10s": 1000}})
    config, _ = resolve_config(deployed, {}, BOUNDS, allow_loosening=False, tier_applies=False)
    assert config.budget.requests_per_10s == 1000


def test_begin_holds_the_deployed_budget_to_the_tier_before_anything_else(monkeypatch):
    # GIVEN functions deployed for a starter portal (100 per 10 s) at HubSpot, with a deployed budget of 1000
    environment = {
        **ENVIRONMENT,
        "API_REQUESTS_PER_10S": "100",
        "HUBSPOT_BASE_URL": "https://api.hubapi.com",
        "GUARD_CONFIG": json.dumps({"budget": {"requests_per_10s": 1000}}),
    }
    services = Services(Settings.from_environment(environment))
    monkeypatch.setattr(services, "hubspot", lambda *_a, **_k: pytest.fail("HubSpot was called"))
    execution = ExecutionInfo(id="arn:x", name="over-the-tier", start_time=datetime(2026, 1, 5, tzinfo=UTC))
    # WHEN a run begins, THEN it is refused before any call to HubSpot or AWS
    with pytest.raises(ConfigError, match=r"1000 \(the deployed config\) exceeds the portal's API tier \(100"):
        begin(RunRequest(), execution, services)


def test_an_override_of_a_stage_target_by_a_derivation_is_listed():
    deployed = json.dumps({"contacts": {"missing": "lead"}})
    derivation = {"derive": "primary_company", "inherit": ["customer"], "otherwise": "lead"}
    _, changed = resolve_config(deployed, {"contacts": {"missing": derivation}}, BOUNDS, allow_loosening=False)
    assert [(o.path, o.deployed, o.effective) for o in changed] == [
        ("contacts.missing.derive", None, "primary_company"),
        ("contacts.missing.inherit", None, ("customer",)),
        ("contacts.missing.otherwise", None, "lead"),
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("source", "x" * 65),
        ("source", "<script>"),
        ("undo_run_id", "run/../../other"),
        ("undo_run_id", "r" * 81),
        ("config", {"contacts": {"disallowed": {f"stage{n}": "lead" for n in range(1000)}}}),
    ],
)
def test_the_input_is_bounded(field, value):
    with pytest.raises(ValidationError, match=field):
        RunRequest.model_validate({field: value})
    assert len(json.dumps({"contacts": {"disallowed": {f"stage{n}": "lead" for n in range(1000)}}})) > (
        MAX_CONFIG_OVERRIDE_BYTES
    )


ENVIRONMENT = {
    "BUCKET_NAME": "b",
    "TABLE_NAME": "t",
    "HUBSPOT_TOKEN_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:t",
    "API_REQUESTS_PER_10S": "190",
    "API_BUDGET_PERCENT": "50",
}


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://api.hubapi.com", True),
        ("http://127.0.0.1:8090", True),  # the offline harness's sandbox
        ("http://api.hubapi.com", False),
        ("http://127.0.0.1.example.com", False),
        ("ftp://api.hubapi.com", False),
    ],
)
def test_hubspot_is_reached_over_tls_only(url, allowed):
    environment = {**ENVIRONMENT, "HUBSPOT_BASE_URL": url}
    if allowed:
        assert Settings.from_environment(environment).base_url == url
    else:
        with pytest.raises(SettingsError, match="must be an https:// URL"):
            Settings.from_environment(environment)


def test_a_function_missing_a_variable_it_needs_fails_at_cold_start_naming_it():
    with pytest.raises(SettingsError, match="TABLE_NAME"):
        Settings.from_environment({k: v for k, v in ENVIRONMENT.items() if k != "TABLE_NAME"})
    with pytest.raises(SettingsError, match="FIX_JOB_QUEUE_URL"):
        Settings.from_environment(ENVIRONMENT, require=["job_queue_url"])


def test_switching_the_exemptions_back_on_loosens_a_deployment_that_paces_every_call():
    deployed = json.dumps({"budget": {"burst_exemptions": False}})
    with pytest.raises(ConfigError, match=r"loosen safety settings: budget\.burst_exemptions"):
        resolve_config(deployed, {"budget": {"burst_exemptions": True}}, BOUNDS, allow_loosening=False)
