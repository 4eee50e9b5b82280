"""Polling for fix-job progress stays cheap in execution history however long the fixing takes."""

from lifecycle_guard.steps import poll_wait_seconds


def test_progress_polls_grow_so_a_day_of_fixing_stays_far_from_the_history_limit():
    assert poll_wait_seconds(30, 0) == 30
    assert poll_wait_seconds(1, 50) == 5
    assert poll_wait_seconds(30, 10_000) == 300
    waited, polls = 0.0, 0
    while waited < 24 * 3600:
        waited += poll_wait_seconds(30, waited)
        polls += 1
    assert polls * 9 < 3_500  # 9 history events per poll: wait, task, choice
