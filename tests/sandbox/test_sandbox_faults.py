"""Fault injection: queued (deterministic) and seeded random faults, lost writes, latency, stalled calls."""

from __future__ import annotations

import threading
import time

import pytest
import requests
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


def _timed(sandbox: Sandbox, method: str, path: str, body: object = None, timeout: float = 5) -> float:
    started = time.perf_counter()
    requests.request(
        method, sandbox.url + path, json=body, headers={"Authorization": f"Bearer {sandbox.token}"}, timeout=timeout
    )
    return time.perf_counter() - started


def test_a_stalled_write_times_the_client_out_and_is_applied_later(sandbox: Sandbox) -> None:
    contact_id = sandbox.portal.create_record("contacts")
    sandbox.queue_fault(path=BATCH_UPDATE, when="stall", seconds=0.6)
    body = {"inputs": [{"id": contact_id, "properties": {"lifecyclestage": "lead"}}]}
    with pytest.raises(requests.exceptions.ReadTimeout):
        _timed(sandbox, "POST", BATCH_UPDATE, body, timeout=0.2)
    assert sandbox.portal.get_property("contacts", contact_id, "lifecyclestage") is None  # still held
    deadline = time.monotonic() + 3
    while sandbox.portal.get_property("contacts", contact_id, "lifecyclestage") is None:
        assert time.monotonic() < deadline, "the stalled write was never handled"
        time.sleep(0.02)
    assert sandbox.stats()["faults_injected"] == {"stall": 1}
    assert _timed(sandbox, "POST", BATCH_UPDATE, body) < 0.5  # only the next matching call stalls


def test_a_stall_can_end_in_a_status(sandbox: Sandbox) -> None:
    sandbox.queue_fault(method="GET", path="/automation/v4/flows", when="stall", seconds=0.3, status=504)
    started = time.perf_counter()
    assert raw(sandbox, "GET", "/automation/v4/flows").status_code == 504
    assert time.perf_counter() - started >= 0.3
    assert raw(sandbox, "GET", "/automation/v4/flows").status_code == 200


def test_a_stall_until_stop_lets_the_sandbox_stop_promptly() -> None:
    sandbox = Sandbox(Portal.empty()).start()
    introspection = "/oauth/v2/private-apps/get/access-token-info"
    sandbox.queue_fault(path=introspection, when="stall")  # no seconds: until the sandbox stops
    outcome: list[BaseException | int] = []

    def call() -> None:
        try:
            outcome.append(raw(sandbox, "POST", introspection, {"tokenKey": sandbox.token}).status_code)
        except requests.exceptions.ConnectionError as error:
            outcome.append(error)

    client = threading.Thread(target=call)
    client.start()
    time.sleep(0.3)
    assert client.is_alive()  # accepted, unanswered
    assert not outcome
    started = time.perf_counter()
    sandbox.stop()
    assert time.perf_counter() - started < 2
    client.join(timeout=2)
    assert not client.is_alive()
    assert isinstance(outcome[0], requests.exceptions.ConnectionError)  # closed without an answer


def test_stalls_over_http_and_their_validation(sandbox: Sandbox) -> None:
    faults = "/_sandbox/faults"
    assert (
        raw(sandbox, "POST", faults, {"path": "/crm/v3/objects/contacts", "when": "stall", "seconds": 0.3}).status_code
        == 204
    )
    assert _timed(sandbox, "GET", "/crm/v3/objects/contacts") >= 0.3
    assert raw(sandbox, "POST", faults, {"when": "before", "seconds": 1}).status_code == 400
    assert raw(sandbox, "POST", faults, {"when": "stall", "seconds": -1}).status_code == 400
