"""One burst budget shared by every process of a run (a GCRA rate gate on one DynamoDB item, on moto)."""

import threading
import time
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from lifecycle_guard.shared_budget import DynamoDbRateGate
from lifecycle_guard_offline.atomic_requests import atomic_requests

TABLE = "runs"
WINDOW = 10.0
PADDED = WINDOW * 1.025


class FakeClock:
    """Wall-clock time that moves only when a caller sleeps: every simulated process shares it."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def dynamodb() -> Iterator[object]:
    with mock_aws(), atomic_requests():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def gate(client: object, clock: FakeClock, limit: int = 190, key: str = "portal") -> DynamoDbRateGate:
    return DynamoDbRateGate(client, TABLE, key, limit, WINDOW, clock=clock, sleep=clock.sleep)


def busiest_window(times: list[float], window: float) -> int:
    """The most admissions in any closed interval of ``window`` seconds."""
    times = sorted(times)
    return max(sum(1 for u in times[i:] if u <= t + window) for i, t in enumerate(times))


def test_processes_sharing_the_budget_never_exceed_it_in_any_window_and_use_nearly_all_of_it(dynamodb):
    # GIVEN four processes (a planner and three workers, say) drawing from one budget of 190 per 10 s
    clock = FakeClock()
    processes = [gate(dynamodb, clock) for _ in range(4)]
    start = clock.now
    admitted = []
    # WHEN all of them ask as fast as they are let through, for a minute
    while clock.now - start < 60:
        for process in processes:
            admitted.append(process.acquire().at)
    # THEN no padded 10 s window holds more than 190 of them
    assert busiest_window(admitted, PADDED) <= 190
    # AND the budget is used: at least 95 % of 19 a second over the minute (GCRA gives up 2 of 190 to its burst)
    assert len(admitted) / (clock.now - start) >= 0.95 * 19


def test_a_process_alone_gets_the_whole_budget_not_a_share(dynamodb):
    # GIVEN two processes on one budget, one of them idle (a worker between jobs)
    clock = FakeClock()
    busy, _idle = gate(dynamodb, clock), gate(dynamodb, clock)
    start = clock.now
    # WHEN the busy one sends for 30 s
    admitted = [busy.acquire().at for _ in range(560)]
    # THEN it used (nearly) all of the budget, 188 per 10.25 s, where half of it would have taken a minute
    assert (admitted[-1] - start) <= 31.0
    assert busiest_window(admitted, PADDED) <= 190


def test_a_burst_is_let_through_at_once_after_an_idle_spell(dynamodb):
    clock = FakeClock()
    process = gate(dynamodb, clock)
    # GIVEN a budget nobody used for a while, WHEN two requests ask at once, THEN neither waits
    assert [process.acquire().waited for _ in range(2)] == [0.0, 0.0]
    # AND the third waits for its place in the schedule
    assert process.acquire().waited > 0


def test_a_pause_holds_every_process_sharing_the_budget(dynamodb):
    # GIVEN a process that saw HubSpot's 429 and paused the budget for 10 s
    clock = FakeClock()
    throttled, other = gate(dynamodb, clock), gate(dynamodb, clock)
    paused_at = clock.now
    throttled.pause(10.0)
    # WHEN another process asks, THEN it waits until the pause is over (minus the burst it may send early)
    admission = other.acquire()
    assert admission.at >= paused_at + 10.0 - 2 * other.interval_us / 1_000_000
    # AND a shorter pause asked later does not shorten it
    other.pause(1.0)
    assert other.acquire().at >= admission.at


def test_budgets_of_different_portals_are_separate(dynamodb):
    clock = FakeClock()
    first, second = gate(dynamodb, clock, limit=4, key="portal-a"), gate(dynamodb, clock, limit=4, key="portal-b")
    # GIVEN one portal's small budget used up, WHEN the other portal's process asks, THEN it does not wait
    for _ in range(4):
        first.acquire()
    assert second.acquire().waited == 0.0


CALLERS = 5


def race(client: object, key: str, seconds: float = 3.0) -> list[float]:
    """Five threads with real clocks, each its own process's gate on a budget of 40 per 2 s, asking as fast as they
    are let through for ``seconds``; returns the admission times."""
    admitted: list[float] = []
    lock = threading.Lock()

    def hungry() -> None:
        process = DynamoDbRateGate(client, TABLE, key, 40, 2.0)
        end = time.time() + seconds
        while time.time() < end:
            at = process.acquire().at
            with lock:
                admitted.append(at)

    threads = [threading.Thread(target=hungry) for _ in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return admitted


def test_threads_racing_on_the_item_stay_inside_the_budget(dynamodb):
    # GIVEN five threads with real clocks, each its own process's gate, on a budget of 40 per 2 s
    # WHEN they all ask as fast as they can for 3 s
    admitted = race(dynamodb, "raced")
    # THEN no padded 2 s window holds more than 40, and the budget was used (40 per 2.05 s, less the burst's 1)
    assert busiest_window(admitted, 2.0 * 1.025) <= 40
    assert len(admitted) >= 0.8 * 3.0 * 40 / 2.05


class CountingClient:
    """The DynamoDB client, counting the writes the gate makes."""

    def __init__(self, client: object) -> None:
        self._client = client
        self.exceptions = client.exceptions  # type: ignore[attr-defined]
        self.writes = 0
        self._lock = threading.Lock()

    def update_item(self, **kwargs: object) -> object:
        with self._lock:
            self.writes += 1
        return self._client.update_item(**kwargs)  # type: ignore[attr-defined]


def test_callers_waiting_together_pay_one_write_per_request(dynamodb):
    # GIVEN five callers on a budget of 40 per 2 s, WHEN they all ask as fast as they can for 3 s, so that four of
    # them are waiting at any time
    client = CountingClient(dynamodb)
    admitted = race(client, "queued")
    # THEN each request cost one write (each caller's first guess of the schedule may miss once), not one per
    # waiter at each free place
    assert client.writes <= len(admitted) + 2 * CALLERS
    assert busiest_window(admitted, 2.0 * 1.025) <= 40


def test_a_caller_that_wakes_late_for_its_place_reserves_again(dynamodb):
    # GIVEN a process whose sleep overshoots once by half a second (a garbage collection, say)
    clock = FakeClock()
    client = CountingClient(dynamodb)
    stalls = [0.5]

    def stalling_sleep(seconds: float) -> None:
        clock.sleep(seconds + (stalls.pop() if stalls else 0.0))

    process = DynamoDbRateGate(client, TABLE, "stalled", 190, WINDOW, clock=clock, sleep=stalling_sleep)
    process.acquire(), process.acquire()  # the burst of 2, at once
    writes = client.writes
    # WHEN it waits for its third place and wakes half a second late
    late = process.acquire()
    # THEN it did not send at the place it missed: it reserved another, free when it woke, and sent then
    assert client.writes == writes + 2
    assert late.at >= clock.now - process.interval_us / 1_000_000
