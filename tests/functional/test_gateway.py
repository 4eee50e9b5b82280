"""The HubSpot gateway against the sandbox, through the real SDK over HTTP: HubSpot's edge cases become typed,
counted results, and retries happen only where they are safe."""

from __future__ import annotations

import time

import pytest

from hubspot_sandbox import ALL_SCOPES, Portal, Sandbox, SandboxSettings
from hubspot_sandbox.api.oauth import PORTAL_ID
from lifecycle_guard.crm import AuthenticationFailed, DailyLimitReached, HubSpotUnavailable, MissingScopes
from lifecycle_guard.gateway import HubSpotGateway, api_request, crm_endpoints, transport
from lifecycle_guard.gateway.api_request import TOKEN_INFO_PATH
from lifecycle_guard.objects import LIFECYCLE_STAGE, ObjectType


def gateway_for(sandbox: Sandbox, token: str | None = None, **options) -> HubSpotGateway:
    return HubSpotGateway(
        token or sandbox.token, base_url=sandbox.url, requests_per_10s=1000, sleep=lambda _s: None, **options
    )


@pytest.fixture
def sandbox():
    portal = Portal.empty()
    for index in range(5):
        portal.create_record("contacts", {"email": f"c{index}@example.com", "lifecyclestage": "subscriber"})
    with Sandbox(portal, SandboxSettings()) as started:
        yield started


def contact_ids(sandbox: Sandbox) -> list[str]:
    return [record_id for record_id, _ in sandbox.portal.records("contacts")]


def test_a_missing_id_in_a_batch_update_is_a_per_record_failure(sandbox):
    ids = contact_ids(sandbox)
    result = gateway_for(sandbox).crm.update(
        ObjectType.CONTACTS, {ids[0]: {LIFECYCLE_STAGE: "lead"}, "999999": {LIFECYCLE_STAGE: "lead"}}
    )
    assert result.failed["999999"].startswith("OBJECT_NOT_FOUND")
    assert result.records[ids[0]].stage == "lead"
    assert sandbox.portal.get_property("contacts", ids[0], LIFECYCLE_STAGE) == "lead"


def test_5xx_is_retried_with_back_off_and_counted(sandbox):
    sandbox.queue_fault(path="/crm/v3/objects/contacts/batch/read", status=503, times=2)
    gateway = gateway_for(sandbox)
    found = gateway.crm.read(ObjectType.CONTACTS, contact_ids(sandbox), [LIFECYCLE_STAGE])
    assert len(found) == 5
    assert gateway.usage.retries == 2
    assert gateway.usage.statuses == {"503": 2, "200": 1}


def test_a_write_whose_response_was_lost_is_sent_again_and_lands_once(sandbox):
    ids = contact_ids(sandbox)
    sandbox.queue_fault(path="/crm/v3/objects/contacts/batch/update", status=502, when="after_write")
    gateway = gateway_for(sandbox)
    result = gateway.crm.update(ObjectType.CONTACTS, {ids[1]: {LIFECYCLE_STAGE: "lead"}})
    assert result.records[ids[1]].stage == "lead"
    assert gateway.usage.statuses == {"502": 1, "200": 1}
    history = sandbox.portal.property_history("contacts", ids[1], LIFECYCLE_STAGE)
    assert [entry.value for entry in history][:2] == ["lead", "subscriber"]  # newest first: one change
    assert [(entry.value, entry.source_type) for entry in history] == [("lead", "API"), ("subscriber", "IMPORT")]
    # the history records no same-value write, so the sandbox's counters show the rest: the batch was sent twice
    # and applied both times (the first response lost), but only the first application changed a value
    stats = sandbox.stats()
    assert stats["calls"] == {"POST /crm/v3/objects/contacts/batch/update": 2}
    assert stats["faults_injected"] == {"lost_write": 1}
    assert (stats["write_requests"], stats["property_changes"]) == (2, 1)


def test_creates_are_not_repeated_on_5xx_unless_the_caller_can_clean_up(sandbox):
    sandbox.queue_fault(path="/crm/v3/objects/contacts", method="POST", status=502, when="after_write")
    with pytest.raises(HubSpotUnavailable):
        gateway_for(sandbox).crm.create(ObjectType.CONTACTS, {"email": "once@example.com"})
    assert len(contact_ids(sandbox)) == 6  # created once, the response lost, not sent again
    sandbox.queue_fault(path="/crm/v3/objects/contacts", method="POST", status=503)
    created = gateway_for(sandbox).crm.create(ObjectType.CONTACTS, {"email": "retried@example.com"}, retry=True)
    assert sandbox.portal.get_property("contacts", created.id, "email") == "retried@example.com"


def test_auth_and_scope_errors_are_typed_and_clear():
    settings = SandboxSettings(tokens={"full": ALL_SCOPES, "reader": frozenset({"crm.objects.contacts.read"})})
    with Sandbox(Portal.empty(), settings) as sandbox:
        contact = sandbox.portal.create_record("contacts", {"email": "x@example.com"})
        with pytest.raises(AuthenticationFailed, match="401"):
            gateway_for(sandbox, "wrong").crm.stage_catalog(ObjectType.CONTACTS)
        with pytest.raises(MissingScopes, match="MISSING_SCOPES"):
            gateway_for(sandbox, "reader").crm.update(ObjectType.CONTACTS, {contact: {LIFECYCLE_STAGE: "lead"}})
        assert gateway_for(sandbox, "reader").token.check().scopes == {"crm.objects.contacts.read"}
        full = gateway_for(sandbox, "full").token.check()
        assert (full.scopes, full.portal_id) == (ALL_SCOPES, PORTAL_ID)
        wrong = gateway_for(sandbox, "wrong").token.check()
        assert (wrong.scopes, wrong.portal_id) == (None, None)  # HubSpot cannot say: not a known token


def test_the_daily_watermark_stops_before_hubspots_own_daily_limit():
    with Sandbox(Portal.empty(), SandboxSettings(daily_limit=20)) as sandbox:
        gateway = gateway_for(sandbox, daily_watermark=15)
        for _ in range(6):
            gateway.crm.stage_catalog(ObjectType.CONTACTS)
        assert gateway.usage.daily_remaining == 14  # HubSpot's header, now below the watermark of 15
        with pytest.raises(DailyLimitReached, match="watermark"):
            gateway.crm.stage_catalog(ObjectType.CONTACTS)
        assert gateway.usage.total_calls == 6  # the refused request was never sent


def test_associations_follow_each_records_own_paging():
    portal = Portal.empty()
    company = portal.create_record("companies", {"name": "Big Co"})
    deals = [portal.create_record("deals", {"dealname": f"deal {n}"}) for n in range(1_234)]
    for deal in deals:
        portal.associate("companies", company, "deals", deal)
    with Sandbox(portal, SandboxSettings()) as sandbox:
        gateway = gateway_for(sandbox)
        links = gateway.crm.associations("companies", "deals", [company])
    assert set(links[company]) == set(deals)
    assert gateway.usage.calls["POST /crm/v4/associations/companies/deals/batch/read"] == 3  # 500 + 500 + 234


def test_calls_the_specs_exempt_skip_the_burst_budget():
    # GIVEN a portal and a gateway both allowing 2 calls per 10 s
    with Sandbox(Portal.empty(), SandboxSettings(burst_limit_per_10s=2)) as sandbox:
        gateway = HubSpotGateway(sandbox.token, base_url=sandbox.url, requests_per_10s=2, search_per_second=5)
        # WHEN 4 searches go out beside 2 paced calls
        for _ in range(4):
            gateway.crm.count("contacts")
        for _ in range(2):
            gateway.crm.stage_catalog(ObjectType.CONTACTS)
    # THEN nothing waited for the burst budget and HubSpot refused nothing
    assert gateway.usage.paced_seconds == 0
    assert gateway.usage.throttled == {}
    assert gateway.usage.total_calls == 6


def test_a_ten_secondly_429_on_an_exempt_call_is_counted_and_ends_the_exemption():
    # GIVEN a portal that counts searches against its burst limit after all
    settings = SandboxSettings(burst_limit_per_10s=2, rate_limit_exemptions=False)
    with Sandbox(Portal.empty(), settings) as sandbox:
        gateway = HubSpotGateway(sandbox.token, base_url=sandbox.url, requests_per_10s=2, search_per_second=5)
        # WHEN the gateway treats them as exempt
        gateway.crm.stage_catalog(ObjectType.CONTACTS)
        gateway.crm.count("contacts")
        gateway.crm.count("contacts")  # refused once, waited out, sent again
        refused = gateway.usage.throttled["TEN_SECONDLY_ROLLING"]
        gateway.crm.count("contacts")  # paced from now on: no second refusal
    # THEN the 429 is counted as the exemption failing, and pacing every call from then on avoided another
    assert refused == 1
    assert gateway.usage.exemption_throttled == {"POST /crm/v3/objects/contacts/search": 1}
    assert gateway.usage.throttled == {"TEN_SECONDLY_ROLLING": 1}


def test_with_exemptions_off_searches_are_paced_within_the_burst_budget():
    settings = SandboxSettings(burst_limit_per_10s=2, rate_limit_exemptions=False)
    with Sandbox(Portal.empty(), settings) as sandbox:
        gateway = HubSpotGateway(
            sandbox.token, base_url=sandbox.url, requests_per_10s=2, search_per_second=5, burst_exemptions=False
        )
        for _ in range(3):
            gateway.crm.count("contacts")
    assert gateway.usage.throttled == {}
    assert gateway.usage.paced_seconds > 5  # the third waited for the first to leave the window


# ---------------------------------------------------------------- stalled calls
# The sandbox's stall fault holds a call it has accepted until the sandbox stops (a hung connection). The read
# timeout is cut to 1 s here (the deployed one is 60 s); what is tested is that every kind of call has one.
SHORT_TIMEOUT = (2.0, 1.0)  # connect, read (seconds)
BATCH_READ = "/crm/v3/objects/contacts/batch/read"
BATCH_UPDATE = "/crm/v3/objects/contacts/batch/update"


def test_a_stalled_batch_read_times_out_and_is_sent_again(sandbox, monkeypatch):
    # GIVEN a batch read that stalls on its first attempt
    monkeypatch.setattr(crm_endpoints, "REQUEST_TIMEOUT", SHORT_TIMEOUT)
    sandbox.queue_fault(method="POST", path=BATCH_READ, when="stall")
    gateway = gateway_for(sandbox)
    # WHEN the gateway reads the contacts
    started = time.monotonic()
    found = gateway.crm.read(ObjectType.CONTACTS, contact_ids(sandbox), [LIFECYCLE_STAGE])
    # THEN the stalled attempt ended at the read timeout, as a network error, and the second one read every record
    assert SHORT_TIMEOUT[1] <= time.monotonic() - started < 10
    assert len(found) == 5
    assert gateway.usage.statuses == {"network": 1, "200": 1}
    assert sandbox.stats()["faults_injected"] == {"stall": 1}


def test_a_batch_update_that_stalls_on_every_attempt_gives_up_after_its_attempts(sandbox, monkeypatch):
    # GIVEN a batch update that stalls on each of its three attempts
    monkeypatch.setattr(crm_endpoints, "REQUEST_TIMEOUT", SHORT_TIMEOUT)
    sandbox.queue_fault(method="POST", path=BATCH_UPDATE, when="stall", times=3)
    gateway = gateway_for(sandbox, max_attempts=3)
    ids = contact_ids(sandbox)
    # WHEN the gateway writes, THEN it gives up after three timed-out attempts, as HubSpot being unavailable
    started = time.monotonic()
    with pytest.raises(HubSpotUnavailable, match="gave up after 3 attempts"):
        gateway.crm.update(ObjectType.CONTACTS, {ids[0]: {LIFECYCLE_STAGE: "lead"}})
    assert 3 * SHORT_TIMEOUT[1] <= time.monotonic() - started < 20
    assert gateway.usage.statuses == {"network": 3}
    # ... and nothing was written: the stalled calls are still held, unanswered
    assert sandbox.portal.get_property("contacts", ids[0], LIFECYCLE_STAGE) == "subscriber"


def test_a_request_that_stalls_every_attempt_gives_up_at_its_deadline_not_after_every_attempt(sandbox, monkeypatch):
    # GIVEN a batch read that stalls on every attempt, six attempts allowed, and a deadline of two read timeouts
    monkeypatch.setattr(crm_endpoints, "REQUEST_TIMEOUT", SHORT_TIMEOUT)
    monkeypatch.setattr(transport, "REQUEST_DEADLINE_SECONDS", 2 * SHORT_TIMEOUT[1])
    sandbox.queue_fault(method="POST", path=BATCH_READ, when="stall", times=6)
    gateway = gateway_for(sandbox, max_attempts=6)
    # WHEN the gateway reads, THEN it gives up once the deadline is spent, before its six attempts
    started = time.monotonic()
    with pytest.raises(HubSpotUnavailable, match=r"gave up after [23] attempts and \d+ s"):
        gateway.crm.read(ObjectType.CONTACTS, contact_ids(sandbox), [LIFECYCLE_STAGE])
    # ... within the deadline and one more read timeout: the bound that keeps a step inside its Lambda's timeout
    assert time.monotonic() - started < 3 * SHORT_TIMEOUT[1] + 1
    assert gateway.usage.statuses["network"] in (2, 3)


def test_a_stalled_token_introspection_times_out_and_is_sent_again(sandbox, monkeypatch):
    # GIVEN the token introspection stalling on its first attempt
    monkeypatch.setattr(api_request, "REQUEST_TIMEOUT", SHORT_TIMEOUT)
    sandbox.queue_fault(method="POST", path=TOKEN_INFO_PATH, when="stall")
    gateway = gateway_for(sandbox)
    # WHEN the gateway checks the token
    started = time.monotonic()
    checked = gateway.token.check()
    # THEN the stalled attempt ended at the read timeout and the second one got the token's scopes
    assert SHORT_TIMEOUT[1] <= time.monotonic() - started < 10
    assert checked.scopes == ALL_SCOPES
    assert gateway.usage.statuses == {"network": 1, "200": 1}
