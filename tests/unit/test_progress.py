"""Polling for fix-job progress: the poll that sees the last job comes soon after it, and the polls stay cheap in
execution history however long the fixing takes."""

from lifecycle_guard.steps import poll_wait_seconds


def test_the_wait_grows_with_the_time_waited_between_the_minimum_and_five_minutes():
    assert poll_wait_seconds(5, 0) == 5
    assert poll_wait_seconds(5, 400) == 10
    assert poll_wait_seconds(5, 100_000) == 300


def test_the_poll_that_sees_the_last_job_comes_soon_after_it():
    # GIVEN jobs that settle over ten minutes, the poll following them
    last_settled, waited = 600.0, 0.0
    while waited < last_settled:
        waited += poll_wait_seconds(5, waited)
    # THEN it noticed the last one within a fortieth of the wait (plus rounding), not minutes later
    assert waited - last_settled <= 600 / 40 + 1


def test_a_day_of_fixing_stays_far_from_the_history_limit():
    waited, polls = 0.0, 0
    while waited < 24 * 3600:
        waited += poll_wait_seconds(5, waited)
        polls += 1
    assert polls * 9 < 25_000 / 5  # 9 history events per poll (wait, task, choice): a fifth of the limit at most
