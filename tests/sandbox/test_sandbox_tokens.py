"""Token kinds: service keys and OAuth tokens work for CRM calls with their own scopes but cannot be introspected."""

from __future__ import annotations

import pytest
from hubspot.crm.contacts.exceptions import ForbiddenException
from sandbox_helpers import error_body, raw, sdk_client

from hubspot_sandbox import ALL_SCOPES, Portal, Sandbox, SandboxSettings, TokenKind

INTROSPECTION = "/oauth/v2/private-apps/get/access-token-info"
READ_ONLY = frozenset({"crm.objects.contacts.read", "crm.objects.companies.read"})


def _introspect(sandbox: Sandbox, token: str) -> tuple[int, dict[str, object]]:
    response = raw(sandbox, "POST", INTROSPECTION, {"tokenKey": token}, authenticate=False)
    return response.status_code, response.json()


@pytest.mark.parametrize("kind", [TokenKind.SERVICE_KEY, TokenKind.OAUTH])
def test_a_token_without_introspection_still_works(sandbox: Sandbox, kind: TokenKind) -> None:
    token = sandbox.issue_token(kind, READ_ONLY)
    contact_id = sandbox.portal.create_record("contacts", {"lifecyclestage": "lead"})
    client = sdk_client(sandbox, token)
    assert client.crm.contacts.basic_api.get_by_id(contact_id).id == contact_id
    status, body = _introspect(sandbox, token)
    assert (status, body["category"]) == (400, "BAD_REQUEST")  # as for a token HubSpot does not know (UNCONFIRMED)
    assert _introspect(sandbox, sandbox.token)[0] == 200  # the private-app token still can be
    # the missing write scope shows only when it is used
    with pytest.raises(ForbiddenException) as raised:
        client.crm.contacts.basic_api.update(contact_id, simple_public_object_input={"properties": {"firstname": "x"}})
    assert error_body(raised.value)["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.contacts.write"]


def test_issuing_tokens_over_http(sandbox: Sandbox) -> None:
    issued = raw(sandbox, "POST", "/_sandbox/tokens", {"kind": "oauth", "scopes": sorted(READ_ONLY)})
    assert issued.status_code == 201
    body = issued.json()
    assert (body["kind"], body["scopes"]) == ("oauth", sorted(READ_ONLY))
    assert sandbox.settings.token_kind(body["token"]) is TokenKind.OAUTH
    assert raw(sandbox, "GET", "/crm/v3/objects/contacts", token=body["token"]).status_code == 200
    assert raw(sandbox, "GET", "/_sandbox/settings").json()["token_kinds"] == {body["token"]: "oauth"}
    default = raw(sandbox, "POST", "/_sandbox/tokens", {}).json()
    assert (default["kind"], default["scopes"]) == ("service_key", sorted(ALL_SCOPES))
    assert raw(sandbox, "POST", "/_sandbox/tokens", {"kind": "api_key"}).status_code == 400
    assert sandbox.token != default["token"]  # the default token stays the private-app one


def test_token_kinds_from_settings() -> None:
    settings = SandboxSettings(
        tokens={"svc": ALL_SCOPES, "pat": ALL_SCOPES}, token_kinds={"svc": TokenKind.SERVICE_KEY}
    )
    assert settings.token == "pat"
    assert settings.token_kind("pat") is TokenKind.PRIVATE_APP
    with pytest.raises(ValueError, match="not in tokens"):
        SandboxSettings(token_kinds={"nobody": TokenKind.OAUTH})
    with Sandbox(Portal.empty(), settings) as sandbox:
        assert _introspect(sandbox, "svc")[0] == 400
        assert raw(sandbox, "POST", "/_sandbox/settings", {"token_kinds": {"svc": "nonsense"}}).status_code == 400
        assert raw(sandbox, "POST", "/_sandbox/settings", {"token_kinds": {"svc": "private_app"}}).status_code == 200
        assert _introspect(sandbox, "svc")[0] == 200
