"""Fault injection: queued (deterministic) and seeded random faults, lost writes, latency."""

from __future__ import annotations

import time

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts.exceptions import ServiceException
from sandbox_helpers import raw, sdk_client

from hubspot_sandbox import FaultSettings, Portal, Sandbox, SandboxSettings

BATCH_UPDATE = "/crm/v3/objects/contacts/batch/update"


def _update(client: HubSpot, contact_id: str, stage: str) -> None:
    client.crm.contacts.batch_api.update(
        batch_input_simple_public_object_batch_input={
            "inputs": [{"id": contact_id, "properties": {"lifecyclestage": stage}}]
        }
    )


def test_queued_fault_before_changes_nothing(client: HubSpot, sandbox: Sandbox) -> None:
    contact_id = sandbox.portal.create_record("contacts")
    sandbox.queue_fault(method="POST", path=BATCH_UPDATE, status=503, when="before", times=1)
    with pytest.raises(ServiceException) as raised:
        _update(client, contact_id, "lead")
    assert raised.value.status == 503
    assert sandbox.portal.get_property("contacts", contact_id, "lifecyclestage") is None
    _update(client, contact_id, "lead")  # only once
    assert sandbox.portal.get_property("contacts", contact_id, "lifecyclestage") == "lead"
    assert sandbox.stats()["faults_injected"] == {"error": 1}


def test_queued_fault_after_write_loses_the_response(client: HubSpot, sandbox: Sandbox) -> None:
    contact_id = sandbox.portal.create_record("contacts")
    sandbox.queue_fault(path_regex=r"/crm/v3/objects/contacts/batch/.*", status=502, when="after_write")
    with pytest.raises(ServiceException) as raised:
        _update(client, contact_id, "lead")
    assert raised.value.status == 502
    assert sandbox.portal.get_property("contacts", contact_id, "lifecyclestage") == "lead"  # applied anyway
    stats = sandbox.stats()
    assert stats["faults_injected"] == {"lost_write": 1}
    assert stats["write_requests"] == 1
    assert stats["statuses"] == {"502": 1}


def test_after_write_faults_skip_reads(client: HubSpot, sandbox: Sandbox) -> None:
    sandbox.queue_fault(status=502, when="after_write")
    client.crm.contacts.basic_api.get_page()
    assert sandbox.stats()["faults_injected"] == {}


def _statuses(seed: int, calls: int = 40) -> list[int]:
    settings = SandboxSettings(faults=FaultSettings(seed=seed, error_rate=0.5))
    with Sandbox(Portal.empty(), settings) as sandbox:
        return [raw(sandbox, "GET", "/crm/v3/objects/contacts").status_code for _ in range(calls)]


def test_random_faults_are_seeded_and_reproducible() -> None:
    first, again, other = _statuses(42), _statuses(42), _statuses(43)
    assert first == again
    assert first != other
    assert set(first) <= {200, 500, 502, 503, 504}
    assert 5 < sum(status != 200 for status in first) < 35


def test_lost_write_rate_applies_writes(sandbox: Sandbox) -> None:
    sandbox.update_settings(faults=FaultSettings(seed=1, lost_write_rate=1.0))
    contact_id = sandbox.portal.create_record("contacts")
    with pytest.raises(ServiceException):
        _update(sdk_client(sandbox), contact_id, "customer")
    assert sandbox.portal.get_property("contacts", contact_id, "lifecyclestage") == "customer"


def test_added_latency(sandbox: Sandbox) -> None:
    sandbox.update_settings(faults={"latency_ms": 150})
    started = time.perf_counter()
    raw(sandbox, "GET", "/crm/v3/objects/contacts")
    assert time.perf_counter() - started >= 0.15
    assert sandbox.stats()["faults_injected"] == {"latency": 1}


def test_faults_over_http(sandbox: Sandbox) -> None:
    assert (
        raw(
            sandbox, "POST", "/_sandbox/faults", {"method": "GET", "path": "/crm/v3/objects/contacts", "status": 504}
        ).status_code
        == 204
    )
    assert raw(sandbox, "GET", "/crm/v3/objects/contacts").status_code == 504
    assert raw(sandbox, "POST", "/_sandbox/faults", {"status": 504, "times": 5}).status_code == 204
    assert raw(sandbox, "DELETE", "/_sandbox/faults").status_code == 204
    assert raw(sandbox, "GET", "/crm/v3/objects/contacts").status_code == 200
    assert raw(sandbox, "POST", "/_sandbox/faults", {"status": 504, "when": "sometimes"}).status_code == 400
