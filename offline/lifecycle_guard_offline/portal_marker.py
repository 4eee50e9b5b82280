"""One writing CLI run at a time per portal: a marker in the portal itself, for runs that share nothing else.

``OUT/.lock`` keeps out a second run on the same OUT; two CLI processes with different OUT directories share only
the portal. The marker is an Automation v4 flow named ``lifecycle-guard: CLI run marker``: a contact flow with no
actions and no enrollment trigger, never enabled, so it does nothing even if someone switched it on - and unlike a
contact or company it is no CRM record, which the customer's workflows, lists, syncs and reports would act on. Its
description says who holds it (run id, pid, host, OUT, start) and when the holder last showed it was alive
(``heartbeat``, refreshed every minute); a free marker says so.

- Taking it: the flow is read; held by another run whose heartbeat is recent, the run is refused
  (``PortalBusyError``); free, stale (no heartbeat for ``STALE_AFTER``) or held by a run known to be dead, it is
  written with this run as holder. Known dead without waiting for its heartbeat to age (after a ``kill -9``): a
  holder of this OUT - the marker is taken inside ``OUT/.lock``, which a live holder would still hold - or of this
  host whose process is gone. The write sends the ``revisionId`` read - HubSpot's PUT requires it
  (automationV4.json, ``ApiContactFlowPutRequest``); that it refuses a stale one, as the sandbox does (409), is
  UNCONFIRMED, so the holder is read back too and a run that does not find itself there is refused. The first run
  ever creates the flow.
- Holding it: a thread refreshes the heartbeat; should it find another holder (this process was suspended past
  ``STALE_AFTER`` and another run took the marker over) it stops and says so (``lost``).
- Releasing it: written free, unless another run holds it by then. The flow stays in the portal, free: the gateway
  has no DELETE for flows (it would be ``DELETE /automation/v4/flows/{flowId}``), and a kept marker means no create
  race after the first run.

A portal where the marker cannot be made (no workflows entitlement: 403 even with the ``automation`` scope,
hubspot-facts §6; or a refusal of a flow without actions or enrollment criteria, which the spec allows - both lists
are only required to be present - but which is UNCONFIRMED on a real portal) leaves ``unavailable`` set and the
run guarded by ``OUT/.lock`` only. Only the CLI needs this: the deployed stack has its DynamoDB lock.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from pydantic import BaseModel, ValidationError

from lifecycle_guard.crm import Flows, MissingScopes, RequestRejected
from lifecycle_guard.workflows import put_body

MARKER_NAME = "lifecycle-guard: CLI run marker"
STALE_AFTER = timedelta(minutes=10)
HEARTBEAT_SECONDS = 60.0
CONFLICT = 409  # a PUT with a revisionId that is not the latest

logger = logging.getLogger(__name__)  # the run's lambda.log while a run goes (local_run)


class PortalBusyError(Exception):
    """Another run holds the portal's marker."""


class Holder(BaseModel):
    """What the marker's description says."""

    state: str  # "held" or "free"
    run_id: str = ""
    pid: int = 0
    host: str = ""
    out: str = ""
    started_at: datetime | None = None
    heartbeat: datetime | None = None

    def held_by_another(self, run_id: str, now: datetime) -> bool:
        fresh = self.heartbeat is not None and now - self.heartbeat < STALE_AFTER
        return self.state == "held" and self.run_id != run_id and fresh

    def describe(self, now: datetime) -> str:
        beat = f"heartbeat {int((now - self.heartbeat).total_seconds())} s ago" if self.heartbeat else "no heartbeat"
        return f"run {self.run_id} (pid {self.pid} on {self.host}, --out {self.out}; {beat})"


def _holder(flow: dict[str, Any]) -> Holder:
    try:
        return Holder.model_validate_json(flow.get("description") or "")
    except ValidationError:  # edited by hand: nobody's
        return Holder(state="free")


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: it exists
        return True
    return True


def marker_body() -> dict[str, Any]:
    """A contact flow that cannot act: no actions, no enrollment criteria, off (ApiContactFlowCreateRequest)."""
    return {
        "type": "CONTACT_FLOW",
        "objectTypeId": "0-1",
        "flowType": "WORKFLOW",
        "name": MARKER_NAME,
        "description": Holder(state="free").model_dump_json(),
        "isEnabled": False,
        "actions": [],
        "timeWindows": [],
        "blockedDates": [],
        "customProperties": {},
        "dataSources": [],
        "suppressionListIds": [],
        "canEnrollFromSalesforce": False,
    }


class PortalMarker:
    """Held while a run may write; to be taken inside ``OUT/.lock`` (a holder of the same OUT counts as dead)."""

    def __init__(
        self,
        flows: Flows,
        run_id: str,
        out: Path,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
    ) -> None:
        self._flows = flows
        self._clock = clock
        self._heartbeat_seconds = heartbeat_seconds
        self._mine = Holder(
            state="held", run_id=run_id, pid=os.getpid(), host=socket.gethostname(), out=str(out), started_at=clock()
        )
        self._flow_id: str | None = None
        self._stop = threading.Event()
        self._beating: threading.Thread | None = None
        self.unavailable: str | None = None  # why no marker guards this run
        self.lost_to: str | None = None  # the run that took the marker over while this one held it

    def __enter__(self) -> Self:
        try:
            self._flow_id = self._take()
        except (MissingScopes, RequestRejected) as exc:
            self.unavailable = str(exc)
            return self
        self._beating = threading.Thread(target=self._beat, name="portal-marker", daemon=True)
        self._beating.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()

    def release(self) -> None:
        """Write the marker free, unless another run holds it by now; again: nothing."""
        if self._flow_id is None:
            return
        self._stop.set()
        if self._beating is not None:
            self._beating.join()
        flow_id, self._flow_id = self._flow_id, None
        flow = self._flows.get_flow(flow_id)
        if _holder(flow).run_id == self._mine.run_id:
            self._write(flow, Holder(state="free"))

    # ---- taking it ----

    def _take(self) -> str:
        flow = self._marker_flow()
        try:
            self._claim(flow)
        except RequestRejected as exc:
            if exc.status != CONFLICT:
                raise
            flow = self._flows.get_flow(str(flow["id"]))  # another run wrote it since we read it
            self._claim(flow)
        written = _holder(self._flows.get_flow(str(flow["id"])))
        if written.run_id != self._mine.run_id:  # a write raced ours, and HubSpot did not refuse either
            raise PortalBusyError(self._busy(written))
        return str(flow["id"])

    def _marker_flow(self) -> dict[str, Any]:
        """The marker flow (the oldest, should two first runs have created one each); made on the first run."""
        listed = [flow for flow in self._flows.list_flows() if flow.get("name") == MARKER_NAME]
        if not listed:
            return self._flows.create_flow(marker_body())
        oldest = min(listed, key=lambda flow: int(flow["id"]))
        return self._flows.get_flow(str(oldest["id"]))

    def _claim(self, flow: dict[str, Any]) -> None:
        holder = _holder(flow)
        if holder.held_by_another(self._mine.run_id, self._clock()) and not self._dead(holder):
            raise PortalBusyError(self._busy(holder))
        self._write(flow, self._mine.model_copy(update={"heartbeat": self._clock()}))

    def _dead(self, holder: Holder) -> bool:
        """Whether the holder's process has ended, as far as this process can tell (see the module docstring)."""
        if holder.out == self._mine.out:
            return True
        return holder.host == self._mine.host and not _process_exists(holder.pid)

    def _busy(self, holder: Holder) -> str:
        return (
            f"another lifecycle-guard run is writing to this portal: {holder.describe(self._clock())}; wait for it "
            f"to end or stop it (a marker without a heartbeat for {int(STALE_AFTER.total_seconds() // 60)} minutes "
            f"is taken over)"
        )

    def _write(self, flow: dict[str, Any], holder: Holder) -> None:
        body = {**put_body(flow), "description": holder.model_dump_json(), "revisionId": flow["revisionId"]}
        self._flows.replace_flow(str(flow["id"]), body)

    # ---- holding it ----

    def _beat(self) -> None:
        while not self._stop.wait(self._heartbeat_seconds):
            try:
                if not self.beat():
                    return
            except Exception:  # a missed beat is retried next time: the marker goes stale only after ten missed
                logger.warning("the portal marker's heartbeat failed; retrying in a minute", exc_info=True)

    def beat(self) -> bool:
        """Refresh the heartbeat; False (and ``lost_to`` set) if another run holds the marker now."""
        flow = self._flows.get_flow(str(self._flow_id))
        holder = _holder(flow)
        if holder.run_id != self._mine.run_id:
            self.lost_to = holder.run_id or "nobody"
            return False
        self._write(flow, self._mine.model_copy(update={"heartbeat": self._clock()}))
        return True
