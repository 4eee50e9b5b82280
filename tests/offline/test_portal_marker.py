"""The portal marker: one writing CLI run at a time per portal, through a flow that cannot act, taken over only
once its holder stopped showing it is alive, and handed back free."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hubspot_sandbox import PortalSpec, Sandbox, generate_portal
from lifecycle_guard.gateway import HubSpotGateway
from lifecycle_guard.workflows import put_body
from lifecycle_guard_offline.portal_marker import MARKER_NAME, STALE_AFTER, Holder, PortalBusyError, PortalMarker

OUT = Path("/tmp/out-a")


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(generate_portal(PortalSpec(contacts=20, companies=5, seed=1))) as running:
        yield running


def flows(sandbox: Sandbox):
    return HubSpotGateway(sandbox.token, base_url=sandbox.url, requests_per_10s=1000).flows


def markers(sandbox: Sandbox) -> list[dict]:
    return [flow for flow in sandbox.portal.flows() if flow["name"] == MARKER_NAME]


def test_a_second_run_is_refused_while_the_first_holds_the_marker_and_takes_it_once_free(sandbox: Sandbox):
    # GIVEN a run holding the portal's marker
    with PortalMarker(flows(sandbox), "first", OUT):
        (marker,) = markers(sandbox)
        holder = Holder.model_validate_json(marker["description"])
        assert (holder.state, holder.run_id, holder.out) == ("held", "first", str(OUT))
        # ... a flow that cannot act: off, no actions, no enrollment
        assert marker["isEnabled"] is False
        assert marker["actions"] == []
        assert "enrollmentCriteria" not in marker
        # WHEN a second run with another OUT tries to take it
        with pytest.raises(PortalBusyError) as refused:
            PortalMarker(flows(sandbox), "second", Path("/tmp/out-b")).__enter__()
        # THEN it is refused, naming the holder
        assert f"run first (pid {holder.pid} on {holder.host}, --out {OUT}; heartbeat " in str(refused.value)
    # WHEN the first ends, THEN the marker is free, and the next run takes the same flow
    assert Holder.model_validate_json(markers(sandbox)[0]["description"]).state == "free"
    with PortalMarker(flows(sandbox), "third", OUT):
        (again,) = markers(sandbox)
        assert again["id"] == marker["id"]
        assert Holder.model_validate_json(again["description"]).run_id == "third"


def test_a_stale_marker_is_taken_over_and_its_old_holder_notices_and_leaves_it_alone(sandbox: Sandbox):
    # GIVEN a run whose last heartbeat is older than STALE_AFTER (its clock is behind: as a suspended process's)
    asleep = PortalMarker(flows(sandbox), "asleep", OUT, clock=lambda: datetime.now(UTC) - STALE_AFTER)
    # WHEN another run starts
    with asleep, PortalMarker(flows(sandbox), "awake", Path("/tmp/out-b")):
        # THEN it takes the marker over
        assert Holder.model_validate_json(markers(sandbox)[0]["description"]).run_id == "awake"
        # ... the old holder's next heartbeat finds it lost and writes nothing
        assert asleep.beat() is False
        assert asleep.lost_to == "awake"
        asleep.release()
        # ... and its release leaves the new holder's marker alone
        assert Holder.model_validate_json(markers(sandbox)[0]["description"]).run_id == "awake"
    assert Holder.model_validate_json(markers(sandbox)[0]["description"]).state == "free"


def test_a_heartbeat_keeps_the_marker_fresh(sandbox: Sandbox):
    with PortalMarker(flows(sandbox), "first", OUT) as held:
        before = Holder.model_validate_json(markers(sandbox)[0]["description"]).heartbeat
        time.sleep(0.01)
        assert held.beat() is True
        after = Holder.model_validate_json(markers(sandbox)[0]["description"]).heartbeat
        assert before is not None
        assert after is not None
        assert after > before


def test_a_portal_that_refuses_the_marker_leaves_the_run_guarded_by_its_out_lock_only(sandbox: Sandbox):
    sandbox.queue_fault(path_regex=r"/automation/v4/flows", status=403, times=1)
    with PortalMarker(flows(sandbox), "first", OUT) as held:
        assert held.unavailable is not None
        assert "403" in held.unavailable
    assert markers(sandbox) == []


def forge_holder(sandbox: Sandbox, holder: Holder) -> None:
    """The marker as a run that held it and ended without releasing it (kill -9) left it."""
    with PortalMarker(flows(sandbox), "maker", OUT):
        pass
    (flow,) = markers(sandbox)
    body = {**put_body(flow), "description": holder.model_dump_json(), "revisionId": flow["revisionId"]}
    sandbox.portal.replace_flow(flow["id"], body)


def test_a_killed_holder_of_the_same_out_or_of_this_host_is_taken_over_without_waiting_a_live_one_is_not(
    sandbox: Sandbox,
):
    now, host = datetime.now(UTC), socket.gethostname()
    ended = subprocess.Popen(["true"])  # a process of this host that has ended (and was reaped)
    ended.wait()
    # GIVEN a fresh marker of a killed run of this OUT (this run holds OUT/.lock: that run has ended), THEN the next
    # run on this OUT takes it over at once
    forge_holder(sandbox, Holder(state="held", run_id="killed", pid=1, host="elsewhere", out=str(OUT), heartbeat=now))
    with PortalMarker(flows(sandbox), "next", OUT):
        assert Holder.model_validate_json(markers(sandbox)[0]["description"]).run_id == "next"
    # GIVEN a fresh marker of a run of this host whose process is gone, with another OUT, THEN it is taken over too
    gone = Holder(state="held", run_id="gone", pid=ended.pid, host=host, out="/tmp/other", heartbeat=now)
    forge_holder(sandbox, gone)
    with PortalMarker(flows(sandbox), "next", OUT):
        assert Holder.model_validate_json(markers(sandbox)[0]["description"]).run_id == "next"
    # GIVEN a fresh marker of a live process of this host with another OUT, THEN the next run is refused
    alive = Holder(state="held", run_id="alive", pid=os.getpid(), host=host, out="/tmp/other", heartbeat=now)
    forge_holder(sandbox, alive)
    with pytest.raises(PortalBusyError):
        PortalMarker(flows(sandbox), "next", OUT).__enter__()
