"""Undo hands each restore job to the workers as it cuts it (``job_dispatch``), as Plan hands over a run's fix jobs:
before it has decided every journaled job, each job once, uncapped; a retried Undo sends again only what it may
not have handed over and decides nothing again; a stopped undo hands nothing over; a failed one stops its restore
jobs and waits only for those in flight.

Undo and Progress are loaded with FIX_JOB_QUEUE_URL pointing at a queue nothing reads (the stack's own queue is
drained at once by its SQS event source, which would hide what was sent, and would restore the portal under the
next test), and the tests count what arrives there. The undone run went through the state machine as deployed.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from handler_helpers import LoadedFunction, QuietQueue, execution, invoke, running_stack, succeeded
from support.invariants import journal_of

from lifecycle_guard.job_dispatch import RunStoppedError
from lifecycle_guard.queue import FixJobMessage
from lifecycle_guard.steps.fix import FIX_WORKER_TIMEOUT_SECONDS
from lifecycle_guard.storage import S3Store
from lifecycle_guard.tracker import RunTracker
from lifecycle_guard.undo import net_changes

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

SMALL_JOBS = {"fix": {"batch_size": 5, "job_size": 10}, "verification": {"live_test": False}}
UNDONE = "fixed-then-undone"
NEAR_ITS_DEADLINE = 120  # seconds: an invocation with this little time left stops after each journaled job


@dataclass(frozen=True)
class UndoHandover(QuietQueue):
    undo: LoadedFunction  # functions/undo/app.py, sending to `queue_url`
    progress: LoadedFunction  # functions/progress/app.py, likewise
    changed: set[tuple[str, str]]  # the records the undone run changed (its journal's net changes)

    def begin(self, name: str, config: dict[str, Any] | None = None) -> str:
        request = {"action": "undo", "mode": "apply", "source": "console", "undo_run_id": UNDONE}
        if config:
            request["config"] = config
        event = {"step": "begin", "request": request, "execution": execution(name)}
        return str(succeeded(invoke(self.stack.app, "AuditPlanFunction", event))["run"]["run_id"])

    def decide(self, run_id: str, timeout_seconds: int | None = None) -> dict[str, Any]:
        return dict(self.undo({"step": "undo", "execution": execution(run_id)}, timeout_seconds=timeout_seconds))

    def decide_to_the_end(self, run_id: str) -> dict[str, Any]:
        while not (cursor := self.decide(run_id))["done"]:
            pass
        return cursor

    def restored_records(self, run_id: str) -> Counter[tuple[str, str]]:
        """How many of the undo's restore jobs hold each record."""
        records: Counter[tuple[str, str]] = Counter()
        for key in self.jobs(run_id):
            job = self.stack.app.read_json(key)
            records.update((job["object_type"], row[0]) for row in job["changes"])
        return records

    def batch_reads(self) -> int:
        return sum(n for call, n in self.stack.sandbox.stats()["calls"].items() if call.endswith("/batch/read"))


@pytest.fixture(scope="module")
def handover() -> Iterator[UndoHandover]:
    with running_stack(config=SMALL_JOBS) as stack:
        app = stack.app
        fixed = app.run({"action": "run", "mode": "apply", "source": "console"}, name=UNDONE, timeout_seconds=180)
        assert fixed.status == "SUCCEEDED", fixed.cause
        journal = journal_of(S3Store(app.client("s3"), app.bucket_name), UNDONE)
        changed = {(change.object_type.value, change.object_id) for change in net_changes(journal)}
        queue_url = app.client("sqs").create_queue(QueueName="quiet-restore-jobs")["QueueUrl"]
        quiet = {"FIX_JOB_QUEUE_URL": queue_url}
        undo = LoadedFunction(app, "UndoFunction", quiet)
        progress = LoadedFunction(app, "ProgressFunction", quiet)
        yield UndoHandover(stack, queue_url, undo, progress, changed)
        undo.unload()
        progress.unload()


def test_undo_hands_each_restore_job_over_as_it_cuts_it_and_dispatch_sends_none_again(handover: UndoHandover):
    # GIVEN an applied run that changed a few dozen records, in jobs of 10, and an undo of it begun
    assert len(handover.changed) > 30
    run_id = handover.begin("undo-handed-over")
    # WHEN the undo decides, a journaled job per invocation
    sent: list[FixJobMessage] = []
    cursor: dict[str, Any] = {"done": False}
    while not sent and not cursor["done"]:
        cursor = handover.decide(run_id, timeout_seconds=NEAR_ITS_DEADLINE)
        sent += handover.queued()
    # THEN restore jobs reached the workers' queue while journaled jobs were still to decide
    assert sent
    assert not cursor["done"]
    cursor = handover.decide_to_the_end(run_id)
    sent += handover.queued()
    # ... every restore job went out once, and the run expects that many
    jobs = handover.jobs(run_id)
    assert sorted(message.job_key for message in sent) == jobs
    assert len(jobs) == cursor["next_job"] > 2
    assert handover.jobs_total(run_id) == len(jobs)
    assert handover.checkpoint(run_id)["overlap"] is True
    # ... and together they restore every record the run changed, each once, as the cursor counts them
    restored = handover.restored_records(run_id)
    assert set(restored) == handover.changed
    assert set(restored.values()) == {1}
    assert sum(cursor["to_restore"].values()) == len(handover.changed)
    # WHEN the restores are dispatched, THEN nothing is sent again, and the undo waits for its jobs
    status = handover.progress({"step": "dispatch", "execution": execution(run_id)})
    assert handover.queued() == []
    assert (status["jobs_total"], status["done"]) == (len(jobs), False)


def test_a_retried_undo_sends_again_only_what_it_may_not_have_handed_over_and_decides_nothing_again(
    handover: UndoHandover,
):
    app = handover.stack.app
    # GIVEN an undo decided to the end whose last hand-over of two jobs was never acknowledged (the Lambda died
    # sending it)
    run_id = handover.begin("undo-unacknowledged")
    cursor = handover.decide_to_the_end(run_id)
    handover.queued()
    checkpoint = handover.checkpoint(run_id)
    checkpoint["sending_from"] = checkpoint["sent_through"] - 2
    app.write_object(f"work/{run_id}/plan-checkpoint.json", json.dumps(checkpoint))
    reads = handover.batch_reads()
    # WHEN Undo is invoked again (its retry)
    again = handover.decide(run_id)
    # THEN it answers as before, sends those two jobs again, and reads nothing from HubSpot: it decides nothing again
    assert again == cursor
    assert sorted(message.job_key for message in handover.queued()) == handover.jobs(run_id)[-2:]
    assert handover.batch_reads() == reads
    assert handover.jobs_total(run_id) == cursor["next_job"]
    # AND, the sending acknowledged now, Dispatch sends none of them a third time
    handover.progress({"step": "dispatch", "execution": execution(run_id)})
    assert handover.queued() == []


def test_an_undo_is_not_held_to_the_safety_caps(handover: UndoHandover):
    # GIVEN an undo whose config caps a run at one change (it puts back what a run wrote inside that run's caps;
    # stopped at a cap, it would leave the portal half-way between the run and its undo)
    run_id = handover.begin("undo-capped-at-one", config={"caps": {"max_changes": 1}})
    # WHEN it is decided and dispatched
    cursor = handover.decide_to_the_end(run_id)
    sent = handover.queued()
    status = handover.progress({"step": "dispatch", "execution": execution(run_id)})
    # THEN every restore job went out as it was cut, none was held back, and nothing failed the undo
    assert handover.checkpoint(run_id)["halted"] is None
    assert sorted(message.job_key for message in sent) == handover.jobs(run_id)
    assert status["jobs_total"] == cursor["next_job"] > 1


def test_an_undo_whose_run_was_stopped_hands_no_restore_job_over(handover: UndoHandover):
    app = handover.stack.app
    # GIVEN an undo stopped after Begin (as the CLI stops one on Ctrl-C: its status set to aborted)
    run_id = handover.begin("undo-stopped")
    RunTracker(app.client("dynamodb"), app.table_name).abort(run_id, "interrupted")
    # WHEN its Undo (a Lambda that goes on when its execution is stopped) reaches its first hand-over
    with pytest.raises(RunStoppedError, match="no more fix jobs are handed to the workers"):
        handover.decide_to_the_end(run_id)
    # THEN no restore job went out
    assert handover.queued() == []
    assert handover.jobs_total(run_id) == 0


def test_a_failed_undo_stops_its_restore_jobs_and_waits_only_for_those_in_flight(handover: UndoHandover):
    app = handover.stack.app
    tracker = RunTracker(app.client("dynamodb"), app.table_name)
    # GIVEN an undo whose restore jobs all went out, one of them begun by a worker, when the undo failed
    run_id = handover.begin("undo-failed")
    handover.decide_to_the_end(run_id)
    stop = {"step": "stop", "execution": execution(run_id)}
    first, second, *_ = handover.queued()
    tracker.start_job(run_id, first.job_id)
    # WHEN StopRestores runs
    status = handover.progress(stop)
    # THEN the run is aborted (the workers start none of its jobs any more), and the flows wait for the one in flight
    assert tracker.state(run_id).status == "aborted"
    assert status["done"] is False
    # WHEN that job settles, THEN the wait is over, though the jobs never started stay unfinished
    tracker.settle_job(run_id, first.job_id, "done", {})
    status = handover.progress(stop)
    assert status["done"] is True
    assert status["jobs_done"] == 1 < status["jobs_total"]
    # WHEN another job's attempt had begun and died (it stays started), THEN the wait goes on until a fix worker's
    # timeout has passed since the abort: by then no attempt begun before it can still be writing
    tracker.start_job(run_id, second.job_id)
    assert handover.progress(stop)["done"] is False
    aborted_at = tracker.state(run_id).aborted_at
    app.client("dynamodb").update_item(
        TableName=app.table_name,
        Key={"id": {"S": f"run#{run_id}"}},
        UpdateExpression="SET aborted_at = :then",
        ExpressionAttributeValues={":then": {"N": str(aborted_at - FIX_WORKER_TIMEOUT_SECONDS)}},
    )
    assert handover.progress(stop)["done"] is True
