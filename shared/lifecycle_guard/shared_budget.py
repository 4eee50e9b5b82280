"""One burst budget for every process of a run: a rate gate on one DynamoDB item that all of them update.

HubSpot counts a portal's requests in one rolling 10-second window, whichever Lambda sends them. A run's planner
and its concurrent fix workers are separate processes, so a per-process pacer can only split the budget into fixed
shares, and a share left idle (a worker between jobs, the planner waiting on search) is lost. Here every process
draws from one budget kept in the run table.

The algorithm is GCRA, the generic cell rate algorithm (ITU-T I.371; the "virtual scheduling" form), whose whole
state is one number, the theoretical arrival time ``tat`` of the next request. A request at ``now`` conforms when
``tat <= now + tolerance``; it then moves ``tat`` to ``max(tat, now) + interval``. Here a caller does not ask
again and again until it conforms: it reserves the next place in the schedule, ``tat``, in one conditional
UpdateItem (``tat = tat + interval``, or ``now + interval`` when the schedule lies in the past), sleeps until
``tat - tolerance`` and sends. The schedule moves exactly as it would for a caller that asked at that moment, so
the bound below holds unchanged, and each admission costs one DynamoDB request: callers that polled the item
instead woke together at each free place, one of them took it, and the others paid a refused write each (five
callers made 335 writes for 60 requests in ``test_shared_budget``) and lost time to each other. No place further
than ``RESERVE_AHEAD_SECONDS`` ahead is reserved; a caller facing one (after a pause) sleeps first. DynamoDB applies
each write to an item atomically and checks its condition against the item as it is (Amazon DynamoDB Developer
Guide, "Condition expressions" and "Atomic counters"), so concurrent callers never get one place twice.

In any closed interval of length ``t`` GCRA conforms at most ``floor((t + tolerance) / interval) + 1`` requests.
With a burst of ``b`` (tolerance ``(b - 1) * interval``) and ``interval = window' / (limit - b)`` that is at most
``limit`` in any ``window'``, where ``window'`` is the 10-second window padded as the local pacer pads it
(``budget.WINDOW_MARGIN``): a request admitted at ``now`` arrives at HubSpot a wake-up and a connect later, and the
padding keeps such a delay (and a few milliseconds of clock difference between Lambda hosts, which keep time with
the Amazon Time Sync Service; the bound on that difference is UNCONFIRMED here) inside the window. The price is
``b / limit`` of the budget (2 of 190: 1.1 %); a burst above 1 lets a caller that was idle send at once instead of
losing the gap. A reserved place that is not used is lost, never lent: the bound holds either way. A caller that
wakes more than an interval after its place (its process stalled: a garbage collection, a starved thread) does not
send late, where its request would crowd the places after it, but reserves again.

A 429 that says the window is full anyway pushes ``tat`` forward: every process waits, not just the one that saw it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from lifecycle_guard.budget import WINDOW_MARGIN, Admission

MICROS = 1_000_000
ITEM_TTL_SECONDS = 2 * 86400
# How far ahead a place may be reserved: callers hold one place each, so a handful of intervals is the most a run
# books ahead (its planner and its fix workers); only a pause lies further.
RESERVE_AHEAD_SECONDS = 1.0


class DynamoDbRateGate:
    """At most ``limit`` admissions in any ``window`` seconds across every process sharing ``key``."""

    def __init__(
        self,
        client: Any,
        table: str,
        key: str,
        limit: int,
        window: float,
        *,
        burst: int = 2,
        margin: float = WINDOW_MARGIN,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        burst = max(1, min(burst, limit - 1)) if limit > 1 else 1
        self.limit = limit
        self.interval_us = math.ceil(window * (1 + margin) * MICROS / max(1, limit - burst))
        self.tolerance_us = (burst - 1) * self.interval_us
        self.reserve_ahead_us = max(int(RESERVE_AHEAD_SECONDS * MICROS), self.tolerance_us + self.interval_us)
        self._db = client
        self._table = table
        self._key = {"id": {"S": f"budget#{key}"}}
        self._clock = clock
        self._sleep = sleep
        self._last_tat = 0  # the last tat seen: which of the two updates is likely to hold

    def acquire(self) -> Admission:
        """Block until this process may send one request, then count it."""
        waited = 0.0
        while True:
            now = self._now_us()
            place = self._reserve(now)
            if place is None:
                # Booked beyond the reservation horizon (a pause): sleep, then ask again; or the item changed under
                # every attempt: ask again at once.
                delay = (self._last_tat - self.reserve_ahead_us - now) / MICROS
                if delay > 0:
                    waited += delay
                    self._sleep(delay)
                continue
            delay = (place - self.tolerance_us - now) / MICROS
            if delay <= 0:
                return Admission(now / MICROS, waited)
            self._sleep(delay)
            waited += delay
            woke = self._now_us()
            if woke - (place - self.tolerance_us) > self.interval_us:
                continue  # woke too late for the place (the process stalled): sending now could crowd the next
            return Admission(woke / MICROS, waited)

    def sent(self, admission: Admission) -> None:
        """Nothing to restamp: the window padding covers the time between admission and arrival."""

    def pause(self, seconds: float) -> None:
        """Hold every process sharing the budget for ``seconds`` (HubSpot said the window is full). Places already
        reserved are not recalled: at most one request per caller still goes out during the pause, and if HubSpot
        refuses it too, its retry waits behind the pause."""
        until = self._now_us() + int(seconds * MICROS)
        try:
            self._db.update_item(
                TableName=self._table,
                Key=self._key,
                UpdateExpression="SET tat = :until, expiration = :exp",
                ConditionExpression="attribute_not_exists(tat) OR tat < :until",
                ExpressionAttributeValues={":until": {"N": str(until)}, ":exp": self._expiry()},
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return  # someone paused it for longer already
        self._last_tat = until

    def _reserve(self, now: int) -> int | None:
        """Reserves the next place in the schedule and returns it (``now`` when the schedule lies in the past); None
        when none was reserved: the next place is beyond the reservation horizon, or the item changed under each
        attempt."""
        busy = self._last_tat > now
        for _ in range(3):  # the likely update first, then the other one if the item says so
            if busy:  # booked ahead: take the next place
                update, condition = "SET tat = tat + :step, expiration = :exp", "tat > :now AND tat <= :horizon"
                values = {":step": self.interval_us, ":horizon": now + self.reserve_ahead_us}
            else:  # idle: the schedule restarts from now
                update, condition = "SET tat = :next, expiration = :exp", "attribute_not_exists(tat) OR tat <= :now"
                values = {":next": now + self.interval_us}
            try:
                reply = self._db.update_item(
                    TableName=self._table,
                    Key=self._key,
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeValues={
                        ":now": {"N": str(now)},
                        ":exp": self._expiry(),
                        **{name: {"N": str(value)} for name, value in values.items()},
                    },
                    ReturnValues="UPDATED_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except self._db.exceptions.ConditionalCheckFailedException as refused:
                tat = int(refused.response.get("Item", {}).get("tat", {}).get("N", "0"))
                self._last_tat = tat
                if tat > now + self.reserve_ahead_us:
                    return None
                busy = tat > now
                continue
            self._last_tat = int(reply["Attributes"]["tat"]["N"])
            return self._last_tat - self.interval_us
        return None

    def _now_us(self) -> int:
        return int(self._clock() * MICROS)

    def _expiry(self) -> dict[str, str]:
        return {"N": str(int(self._clock()) + ITEM_TTL_SECONDS)}
