"""The client-side pacer admits at most N requests in any rolling window, and can be paused by a 429."""

from lifecycle_guard.budget import SlidingWindowPacer


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_never_more_than_the_limit_in_any_window():
    clock = FakeClock()
    pacer = SlidingWindowPacer(5, 10.0, margin=0.025, clock=clock, sleep=clock.sleep)
    admitted = []
    for _ in range(23):
        pacer.acquire()
        admitted.append(clock.now)
    for i, t in enumerate(admitted):
        in_window = [u for u in admitted if t <= u < t + 10.25]
        assert len(in_window) <= 5, (i, in_window)
    # and it is not slower than it must be: 23 requests at 5 per 10.25 s need 4 full windows
    assert admitted[-1] == 4 * 10.25


def test_pause_holds_every_caller():
    clock = FakeClock()
    pacer = SlidingWindowPacer(100, 10.0, clock=clock, sleep=clock.sleep)
    assert pacer.acquire().waited == 0.0
    pacer.pause(10.0)
    assert pacer.acquire().waited == 10.0  # what the caller waited: the gateway reports it as paced seconds
    assert clock.now == 10.0


def test_a_request_counts_from_its_answer_not_its_admission():
    # GIVEN a request admitted at 0 that reached HubSpot late: its answer came back at 3
    clock = FakeClock()
    pacer = SlidingWindowPacer(1, 10.0, margin=0.0, clock=clock, sleep=clock.sleep)
    admission = pacer.acquire()
    clock.now = 3.0
    pacer.sent(admission)
    # WHEN the next request asks
    pacer.acquire()
    # THEN it waits a whole window after that answer, not after the admission
    assert clock.now == 13.0
