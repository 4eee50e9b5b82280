"""Rate limits (429 per policy, with HubSpot's headers), 401 and 403 — through the real SDK."""

from __future__ import annotations

import time

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts.exceptions import ApiException, ForbiddenException, UnauthorizedException
from sandbox_helpers import error_body, raw, sdk_client

from hubspot_sandbox import ALL_SCOPES, Portal, Sandbox, SandboxSettings

SEARCH = {"filterGroups": [], "limit": 1}


def _limited(settings: SandboxSettings) -> Sandbox:
    return Sandbox(Portal.empty(), settings)


def _get_page(client: HubSpot) -> tuple[int, dict[str, str]]:
    _, status, headers = client.crm.contacts.basic_api.get_page_with_http_info(limit=1)
    return status, dict(headers)


def test_ten_secondly_rolling_limit() -> None:
    with _limited(SandboxSettings(burst_limit_per_10s=3)) as sandbox:
        client = sdk_client(sandbox)
        remaining = [_get_page(client)[1]["X-HubSpot-RateLimit-Remaining"] for _ in range(3)]
        assert remaining == ["2", "1", "0"]
        with pytest.raises(ApiException) as raised:
            _get_page(client)
        assert sandbox.stats()["rate_limited"] == {"TEN_SECONDLY_ROLLING": 1}
    assert raised.value.status == 429
    body = error_body(raised.value)
    assert body == {
        **body,
        "status": "error",
        "errorType": "RATE_LIMIT",
        "policyName": "TEN_SECONDLY_ROLLING",
        "message": "You have reached your ten_secondly_rolling limit.",
    }
    assert body["correlationId"]
    headers = raised.value.headers
    assert headers["X-HubSpot-RateLimit-Max"] == "3"
    assert headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"


def test_secondly_search_limit_and_no_headers_on_search() -> None:
    with _limited(SandboxSettings(search_limit_per_second=2, burst_limit_per_10s=100)) as sandbox:
        client = sdk_client(sandbox)
        for _ in range(2):
            _, status, headers = client.crm.contacts.search_api.do_search_with_http_info(
                public_object_search_request=SEARCH
            )
            assert status == 200
            assert not [name for name in headers if name.lower().startswith("x-hubspot-ratelimit")]
        with pytest.raises(ApiException) as raised:
            client.crm.contacts.search_api.do_search(public_object_search_request=SEARCH)
        assert _get_page(client)[0] == 200  # other endpoints are not throttled by the search limit
        time.sleep(1.05)
        client.crm.contacts.search_api.do_search(public_object_search_request=SEARCH)  # the window rolled on
    assert raised.value.status == 429
    body = error_body(raised.value)
    assert (body["policyName"], body["message"]) == ("SECONDLY", "You have reached your secondly limit.")
    assert not [name for name in raised.value.headers if name.lower().startswith("x-hubspot-ratelimit")]


def test_daily_limit() -> None:
    with _limited(SandboxSettings(daily_limit=2)) as sandbox:
        client = sdk_client(sandbox)
        assert _get_page(client)[1]["X-HubSpot-RateLimit-Daily-Remaining"] == "1"
        assert _get_page(client)[1]["X-HubSpot-RateLimit-Daily"] == "2"
        with pytest.raises(ApiException) as raised:
            _get_page(client)
    assert raised.value.status == 429
    body = error_body(raised.value)
    assert (body["policyName"], body["message"]) == ("DAILY", "You have reached your daily limit.")
    assert raised.value.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"


def test_rejected_calls_count_toward_the_window() -> None:
    with _limited(SandboxSettings(burst_limit_per_10s=2)) as sandbox:
        client = sdk_client(sandbox)
        statuses = []
        for _ in range(4):
            try:
                statuses.append(_get_page(client)[0])
            except ApiException as error:
                statuses.append(error.status)
        sandbox.update_settings(burst_limit_per_10s=4)
        with pytest.raises(ApiException):
            _get_page(client)  # 5 calls in the window (2 of them rejected) > 4
    assert statuses == [200, 200, 429, 429]


ASSOCIATIONS_READ = {"inputs": [{"id": "1"}]}


def test_calls_the_specs_exempt_stay_out_of_the_burst_window() -> None:
    # GIVEN a portal allowing 2 calls per 10 s
    with _limited(SandboxSettings(burst_limit_per_10s=2)) as sandbox:
        client = sdk_client(sandbox)
        # WHEN more searches and association batch reads go out than the burst limit allows
        for _ in range(3):
            client.crm.contacts.search_api.do_search(public_object_search_request=SEARCH)
            client.crm.associations.v4.batch_api.get_page("contacts", "companies", ASSOCIATIONS_READ)
        # THEN none is refused and the burst window still holds both other calls
        assert [_get_page(client)[0] for _ in range(2)] == [200, 200]
        with pytest.raises(ApiException) as raised:
            _get_page(client)
    assert error_body(raised.value)["policyName"] == "TEN_SECONDLY_ROLLING"


def test_a_portal_counting_exempt_calls_refuses_them_at_the_burst_limit() -> None:
    with _limited(SandboxSettings(burst_limit_per_10s=2, rate_limit_exemptions=False)) as sandbox:
        client = sdk_client(sandbox)
        client.crm.contacts.search_api.do_search(public_object_search_request=SEARCH)
        _get_page(client)
        with pytest.raises(ApiException) as raised:
            client.crm.contacts.search_api.do_search(public_object_search_request=SEARCH)
    assert error_body(raised.value)["policyName"] == "TEN_SECONDLY_ROLLING"


def test_introspection_is_never_limited_or_counted() -> None:
    with _limited(SandboxSettings(burst_limit_per_10s=1)) as sandbox:
        for _ in range(5):
            assert raw(sandbox, "GET", "/_sandbox/stats").status_code == 200
        assert _get_page(sdk_client(sandbox))[0] == 200
        assert sandbox.stats()["calls"] == {"GET /crm/v3/objects/contacts": 1}


def test_wrong_or_missing_token_is_401(sandbox: Sandbox) -> None:
    with pytest.raises(UnauthorizedException) as raised:
        sdk_client(sandbox, "pat-wrong").crm.contacts.basic_api.get_page()
    assert raised.value.status == 401
    assert error_body(raised.value)["category"] == "INVALID_AUTHENTICATION"
    assert raw(sandbox, "GET", "/crm/v3/objects/contacts", authenticate=False).status_code == 401


def test_token_without_write_scope_is_403_on_writes_only() -> None:
    read_only = ALL_SCOPES - {"crm.objects.contacts.write"}
    with _limited(SandboxSettings().updated(tokens={"full": ALL_SCOPES, "reader": read_only})) as sandbox:
        assert sandbox.token == "full"
        contact_id = sandbox.portal.create_record("contacts")
        reader = sdk_client(sandbox, "reader")
        assert reader.crm.contacts.basic_api.get_by_id(contact_id).id == contact_id
        with pytest.raises(ForbiddenException) as raised:
            reader.crm.contacts.batch_api.update(
                batch_input_simple_public_object_batch_input={
                    "inputs": [{"id": contact_id, "properties": {"firstname": "x"}}]
                }
            )
        reader.crm.companies.basic_api.create(simple_public_object_input_for_create={"properties": {"name": "ok"}})
    body = error_body(raised.value)
    assert raised.value.status == 403
    assert body["category"] == "MISSING_SCOPES"
    assert body["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.contacts.write"]


def test_private_app_token_introspection_lists_each_tokens_scopes() -> None:
    read_only = frozenset({"crm.objects.contacts.read", "crm.objects.companies.read"})
    settings = SandboxSettings(tokens={"full": ALL_SCOPES, "reader": read_only})
    with Sandbox(Portal.empty(), settings) as sandbox:
        client = sdk_client(sandbox, "reader")

        def info(token: str):
            return client.api_request(
                {"method": "POST", "path": "/oauth/v2/private-apps/get/access-token-info", "body": {"tokenKey": token}}
            )

        # no bearer needed: the body names the token, and any token may ask about any token
        assert sorted(info("reader").json()["scopes"]) == sorted(read_only)
        assert sorted(info("full").json()["scopes"]) == sorted(ALL_SCOPES)
        unknown = info("nobody")
        assert unknown.status_code == 400
        assert unknown.json()["category"] == "BAD_REQUEST"
