"""Polling for fix-job progress: the poll that sees the last job comes soon after it, and the polls stay cheap in
execution history however long the fixing takes."""

from lifecycle_guard.steps import poll_wait_seconds


def test_before_any_job_settled_the_wait_grows_with_the_time_waited():
    assert poll_wait_seconds(30, 0, 0, 10) == 30
    assert poll_wait_seconds(1, 50, 0, 10) == 5
    assert poll_wait_seconds(30, 10_000, 0, 10) == 300


def test_the_wait_is_half_the_time_the_unfinished_jobs_should_still_take():
    # GIVEN 90 of 100 jobs settled in 90 s: the last 10 should take about 10 s more
    assert poll_wait_seconds(1, 90, 90, 10) == 5
    # WHEN the next poll finds 5 left, THEN it waits about half of their 5 s
    assert poll_wait_seconds(1, 95, 95, 5) == 2


def test_near_the_end_the_poll_follows_the_last_jobs_closely():
    # GIVEN jobs settling at one a second, the poll following them as it would
    settle_at = [float(n) for n in range(1, 301)]  # job n settles at n s
    now, polls = 0.0, 0
    while True:
        settled = sum(1 for t in settle_at if t <= now)
        if settled == len(settle_at):
            break
        now += poll_wait_seconds(1, now, settled, len(settle_at) - settled)
        polls += 1
    # THEN the poll that saw the last job came less than 10 s after it (a fortieth of 300 s is the floor)
    assert now - settle_at[-1] < 10
    assert polls < 60


def test_a_day_of_fixing_stays_far_from_the_history_limit():
    # GIVEN a run whose jobs settle one every few minutes for a day (the estimate keeps saying "soon")
    waited, polls = 0.0, 0
    while waited < 24 * 3600:
        settled = int(waited // 200)
        waited += poll_wait_seconds(1, waited, settled, 1)
        polls += 1
    assert polls * 9 < 25_000 / 5  # 9 history events per poll (wait, task, choice): a fifth of the limit at most
