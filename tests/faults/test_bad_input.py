"""Bad input stops a run with a clear error before anything is written - proved by the sandbox's own counters.

Malformed config, a stage the portal does not have, safety caps exceeded, a wrong token (401), a token without the
write scopes (checked before any write through HubSpot's token introspection), a portal whose stage list lacks
``lead``. A token without the ``automation`` scope is not bad input for the fixes: the run fixes the portal and its
report fails the prevention check, saying which scope is missing.
"""

from __future__ import annotations

import pytest
from faultkit import SPEC, GuardedPortal, start
from support.invariants import checks_of, write_calls
from support.oracle import actual_stages

from hubspot_sandbox import ALL_SCOPES, PortalSpec, generate_portal

WRONG_TOKEN = "pat-na1-00000000-dead-beef-0000-wrong0token00"
TINY = PortalSpec(contacts=200, companies=20, seed=17)
VALID_STAGES = (
    '"subscriber" (Subscriber), "lead" (Lead), "marketingqualifiedlead" (Marketing Qualified Lead), '
    '"salesqualifiedlead" (Sales Qualified Lead), "52137490" (Product Qualified Lead), "opportunity" (Opportunity), '
    '"customer" (Customer), "evangelist" (Evangelist), "other" (Other)'
)


def assert_failed_before_any_write(guarded, summary, report, *expected_phrases: str) -> None:
    """The run failed with one failure naming every phrase (the execution's cause is its first 1000 characters),
    HubSpot received no write request at all, and the portal is as it was."""
    assert summary["outcome"] == "failed", summary
    (failure,) = report["failures"]
    for phrase in expected_phrases:
        assert phrase in failure, failure
    assert summary["cause"] == failure[:1000]
    stats = guarded.sandbox.stats()
    assert stats["write_requests"] == 0
    assert write_calls(stats) == {}
    assert actual_stages(guarded.portal) == guarded.before


@pytest.mark.parametrize(
    ("config", "phrases"),
    [
        pytest.param(
            {"caps": {"max_percent": "lots"}},
            ["invalid config: caps.max_percent: Input should be a valid number"],
            id="wrong-type",
        ),
        pytest.param(
            {"contacts": {"disalowed": {"subscriber": "lead"}}},
            ["invalid config: contacts.disalowed: Extra inputs are not permitted"],
            id="misspelt-key",
        ),
        pytest.param(
            {"contacts": {"disallowed": {"subscriber": "other", "other": "lead"}}},
            ["contacts: target stage 'other' is itself disallowed"],
            id="target-disallowed",
        ),
        pytest.param(
            {"fix": {"job_size": 150, "batch_size": 100}},
            ["fix.job_size must be a multiple of fix.batch_size"],
            id="jobs-not-whole-batches",
        ),
    ],
)
def test_a_malformed_config_fails_before_talking_to_hubspot(start_sandbox, make_services, config, phrases):
    # GIVEN a run asked for with a malformed config
    guarded = start(start_sandbox, make_services, spec=TINY)
    # WHEN it starts
    summary, report = guarded.run("malformed", {"action": "run", "mode": "apply", "config": config})
    # THEN it fails naming the problem, and HubSpot never heard from it
    assert_failed_before_any_write(guarded, summary, report, *phrases)
    assert guarded.sandbox.stats()["calls"] == {}


def test_a_deployed_config_that_is_not_json_fails_before_talking_to_hubspot(start_sandbox, make_services):
    # GIVEN a deployment whose GuardConfig parameter is not JSON
    sandbox = start_sandbox(TINY)
    services = make_services(sandbox)
    services.settings = services.settings.model_copy(update={"deployed_config": "{lead: yes"})
    guarded = GuardedPortal(sandbox, services)
    # WHEN a run starts
    summary, report = guarded.run("not-json")
    # THEN it fails saying the config cannot be read, and HubSpot never heard from it
    assert_failed_before_any_write(guarded, summary, report, "cannot read config")
    assert sandbox.stats()["calls"] == {}


def test_stages_the_portal_does_not_have_fail_naming_them_and_the_valid_ones(start_sandbox, make_services):
    # GIVEN a config naming two stages this portal does not have
    guarded = start(start_sandbox, make_services, spec=TINY)
    config = {
        "companies": {"missing": {"derive": "deals", "closed_won": "client"}},
        "prevention": {"default_stage": "leed"},
    }
    # WHEN a run starts
    summary, report = guarded.run("unknown-stages", {"action": "run", "mode": "apply", "config": config})
    # THEN it fails naming each unknown stage, where it is used, and the portal's valid stages
    assert_failed_before_any_write(
        guarded,
        summary,
        report,
        "config does not fit this portal",
        "companies target for missing: 'client' is not a lifecycle stage of this portal's companies",
        "prevention.default_stage: 'leed' is not a lifecycle stage",
        f"valid values are: {VALID_STAGES}",
    )


def test_a_portal_without_the_lead_stage_fails_before_any_write(start_sandbox, make_services):
    # GIVEN a portal whose admins deleted the "lead" stage, which the default rules and prevention use
    portal = generate_portal(TINY)
    portal.remove_lifecycle_stage("lead")
    guarded = start(start_sandbox, make_services, spec=portal)
    # WHEN a run starts
    summary, report = guarded.run("no-lead")
    # THEN it fails naming "lead" and the stages the portal does have, and writes nothing
    assert_failed_before_any_write(
        guarded,
        summary,
        report,
        "'lead' is not a lifecycle stage of this portal's contacts",
        "prevention.default_stage",
        f"valid values are: {VALID_STAGES.replace('"lead" (Lead), ', '', 1)}",
    )


@pytest.mark.parametrize(
    ("caps", "phrase"),
    [
        pytest.param({"max_changes": 10}, "over caps.max_changes=10; nothing was written", id="max-changes"),
        pytest.param({"max_percent": 5}, "over caps.max_percent=5; nothing was written", id="max-percent"),
    ],
)
def test_a_plan_over_the_safety_caps_stops_before_any_write(start_sandbox, make_services, caps, phrase):
    # GIVEN safety caps the plan for this dirty portal exceeds
    guarded = start(start_sandbox, make_services, spec=TINY, config={"caps": caps})
    # WHEN an apply run goes through
    summary, report = guarded.run("capped")
    # THEN it stops after planning, saying which cap and by how much, and nothing was written
    assert_failed_before_any_write(guarded, summary, report, phrase, "the plan would change")
    assert summary["changes_planned"] > 0  # the report still shows the plan, for review


def test_an_input_that_loosens_a_cap_is_refused_unless_it_says_so(start_sandbox, make_services):
    # GIVEN a deployment whose caps this dirty portal's plan exceeds
    guarded = start(start_sandbox, make_services, spec=TINY, config={"caps": {"max_percent": 5}})
    loosened = {"action": "run", "mode": "apply", "config": {"caps": {"max_percent": 100}}}
    # WHEN a console run raises the cap without saying it means to
    summary, report = guarded.run("loosened", loosened)
    # THEN it fails before any write, naming the setting and how to allow it
    assert_failed_before_any_write(guarded, summary, report, "caps.max_percent 5.0 -> 100.0", "allow_loosening")
    # WHEN the run says so, THEN it runs, and its report shows the loosened cap
    summary, report = guarded.run("loosened-on-purpose", {**loosened, "allow_loosening": True})
    assert summary["outcome"] == "succeeded", summary
    assert report["overrides"] == [{"path": "caps.max_percent", "deployed": 5.0, "effective": 100.0, "loosens": True}]


def test_a_wrong_token_fails_with_a_401_before_any_write(start_sandbox, make_services):
    # GIVEN a deployment whose secret holds a token HubSpot does not know
    sandbox = start_sandbox(TINY)
    guarded = GuardedPortal(sandbox, make_services(sandbox, token=WRONG_TOKEN))
    # WHEN a run starts
    summary, report = guarded.run("wrong-token")
    # THEN it fails saying HubSpot rejected the token, without repeating the token, and writes nothing
    assert_failed_before_any_write(guarded, summary, report, "AuthenticationFailed", "HubSpot rejected the token (401)")
    assert sandbox.stats()["statuses"] == {"401": 1}
    assert WRONG_TOKEN not in str(report)


def test_a_token_without_write_scopes_fails_before_any_write(start_sandbox, make_services):
    # GIVEN a private-app token that may read everything but write nothing
    read_only = "pat-na1-read-only-token"
    scopes = {scope for scope in ALL_SCOPES if not scope.endswith(".write")}
    sandbox = start_sandbox(TINY, tokens={read_only: scopes})
    guarded = GuardedPortal(sandbox, make_services(sandbox, token=read_only))
    # WHEN an apply run starts
    summary, report = guarded.run("read-only")
    # THEN it fails naming the missing scopes, before a single write (HubSpot never answered 403: it was asked)
    assert_failed_before_any_write(
        guarded,
        summary,
        report,
        "MissingScopes",
        "lacks the scopes crm.objects.contacts.write, crm.objects.companies.write; nothing was written",
    )
    assert "403" not in sandbox.stats()["statuses"]
    # AND a dry run with the same token, which writes nothing, is fine
    summary, _ = guarded.run("read-only-dry-run", {"action": "run", "mode": "dry-run"})
    assert summary["outcome"] == "succeeded", summary
    assert sandbox.stats()["write_requests"] == 0
    # ... and writes nothing because it sends nothing but reads, not because HubSpot refused its writes (the
    # sandbox answers a write the token may not make with a 403 before counting it as a write request)
    assert write_calls(sandbox.stats()) == {}
    assert "403" not in sandbox.stats()["statuses"]


def test_a_token_without_the_automation_scope_fixes_the_portal_and_fails_the_prevention_check(
    start_sandbox, make_services
):
    # GIVEN a token with every CRM scope but not "automation"
    no_automation = "pat-na1-no-automation-token"
    sandbox = start_sandbox(SPEC, tokens={no_automation: ALL_SCOPES - {"automation"}})
    guarded = GuardedPortal(sandbox, make_services(sandbox, token=no_automation))
    # WHEN an apply run goes through
    summary, report = guarded.run("no-automation")
    # THEN the portal is fixed exactly, and the journal holds every write
    assert guarded.portal_problems() == []
    assert guarded.journal_problems() == []
    # ... but the run does not claim success: the prevention check fails naming the scope, the live test that
    # needs the workflows is skipped saying why, and every other check passes
    assert summary["outcome"] == "checks_failed", summary
    checks = {check["name"]: check for check in report["checks"]}
    assert checks["prevention workflows in place"]["status"] == "FAIL"
    assert "the token needs the 'automation' scope" in checks["prevention workflows in place"]["detail"]
    assert checks["live prevention test"]["status"] == "SKIPPED"
    failed = [name for name, status in checks_of(report).items() if status == "FAIL"]
    assert failed == ["prevention workflows in place"]
    assert "check failed: prevention workflows in place" in summary["cause"]
    assert guarded.sandbox.stats()["statuses"]["403"] == 1
