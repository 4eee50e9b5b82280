"""Plan hands each fix job to the workers as it cuts it (``job_dispatch``), behind the safety caps: only when the
audit shows the plan cannot pass them, and never past them as the plan grows; a retried Plan sends again what it
may not have handed over, and never plans again what it did.

Plan and Progress are loaded with FIX_JOB_QUEUE_URL pointing at a queue nothing reads (the stack's own queue is
drained at once by its SQS event source, which would hide what was sent), and the tests count what arrives there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from handler_helpers import LoadedFunction, QuietQueue, Stack, begin_event, execution, invoke, running_stack, succeeded

from hubspot_sandbox.history import ChangeSource
from lifecycle_guard.caps import CapExceededError
from lifecycle_guard.job_dispatch import RunStoppedError
from lifecycle_guard.queue import FixJobMessage
from lifecycle_guard.tracker import RunTracker

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

SMALL_JOBS = {"fix": {"batch_size": 5, "job_size": 10}}
IMPORT = ChangeSource("IMPORT", "4242", "late import")


@dataclass(frozen=True)
class Handover(QuietQueue):
    plan: LoadedFunction  # functions/audit_plan/app.py, sending to `queue_url`
    progress: LoadedFunction  # functions/progress/app.py, likewise

    def begin(self, name: str, caps: dict[str, Any] | None = None) -> str:
        event = begin_event(name, config={"caps": caps} if caps else None, allow_loosening=bool(caps))
        return str(succeeded(invoke(self.stack.app, "AuditPlanFunction", event))["run"]["run_id"])

    def plan_to_the_end(self, run_id: str) -> dict[str, Any]:
        while not (cursor := self.plan({"step": "plan", "execution": execution(run_id)}))["done"]:
            pass
        return cursor

    def changes_in(self, messages: list[FixJobMessage]) -> int:
        return sum(len(self.stack.app.read_json(message.job_key)["changes"]) for message in messages)


@pytest.fixture(scope="module")
def handover() -> Iterator[Handover]:
    with running_stack(config=SMALL_JOBS) as stack:
        queue_url = stack.app.client("sqs").create_queue(QueueName="quiet-fix-jobs")["QueueUrl"]
        quiet = {"FIX_JOB_QUEUE_URL": queue_url}
        plan = LoadedFunction(stack.app, "AuditPlanFunction", quiet)
        progress = LoadedFunction(stack.app, "ProgressFunction", quiet)
        yield Handover(stack, queue_url, plan, progress)
        plan.unload()
        progress.unload()


def test_within_the_caps_plan_hands_each_job_over_once_and_dispatch_sends_none_again(handover: Handover):
    # GIVEN an apply run whose audit shows its plan cannot pass the caps
    run_id = handover.begin("handed-over")
    # WHEN it is planned
    cursor = handover.plan_to_the_end(run_id)
    # THEN every job went to the queue as it was cut, once, and the run expects that many
    sent = handover.queued()
    jobs = handover.jobs(run_id)
    assert len(jobs) == cursor["next_job"] > 2
    assert sorted(message.job_key for message in sent) == jobs
    assert handover.jobs_total(run_id) == len(jobs)
    assert handover.checkpoint(run_id)["overlap"] is True
    # WHEN the complete plan is dispatched, THEN nothing is sent again
    status = handover.progress({"step": "dispatch", "execution": execution(run_id)})
    assert handover.queued() == []
    assert status["jobs_total"] == len(jobs)
    assert status["done"] is False


def test_a_plan_that_may_pass_the_caps_is_checked_whole_before_any_job_goes_out(handover: Handover):
    # GIVEN an apply run whose audit counts more records to fix than the cap allows
    run_id = handover.begin("over-the-bound", caps={"max_changes": 5})
    # WHEN it is planned, THEN nothing was handed over while planning
    handover.plan_to_the_end(run_id)
    assert handover.checkpoint(run_id)["overlap"] is False
    assert handover.queued() == []
    # AND the complete plan is refused at Dispatch, before any job goes out
    with pytest.raises(CapExceededError, match=r"over caps\.max_changes=5"):
        handover.progress({"step": "dispatch", "execution": execution(run_id)})
    assert handover.queued() == []
    assert handover.jobs_total(run_id) == 0


def test_a_plan_that_grows_past_the_cap_is_dispatched_up_to_it_and_fails_once_those_jobs_settle(handover: Handover):
    app, portal = handover.stack.app, handover.stack.sandbox.portal
    # GIVEN an apply run whose audit allowed overlap with 12 changes to spare
    bound = sum(_dirty_now(handover.stack).values())
    run_id = handover.begin("grew-past-the-cap", caps={"max_changes": bound + 12, "max_percent": 100})
    # AND 40 more subscribers imported before its planning reached them
    portal.add_dirty_records("contacts", 40, IMPORT, stage="subscriber", source_name="late.csv")
    # WHEN it is planned
    handover.plan_to_the_end(run_id)
    # THEN the jobs went out up to the cap and no further
    sent = handover.queued()
    checkpoint = handover.checkpoint(run_id)
    assert "over caps.max_changes" in (checkpoint["halted"] or "")
    assert 0 < handover.changes_in(sent) <= bound + 12
    assert len(sent) < len(handover.jobs(run_id))
    # WHEN the plan is dispatched, THEN nothing more goes out, and the run waits for the jobs handed over
    status = handover.progress({"step": "dispatch", "execution": execution(run_id)})
    assert handover.queued() == []
    assert (status["jobs_total"], status["done"]) == (len(sent), False)
    # WHEN those jobs have settled, THEN the poll fails the run, saying where dispatching stopped
    tracker = RunTracker(app.client("dynamodb"), app.table_name)
    for message in sent:
        tracker.settle_job(run_id, message.job_id, "done", {})
    with pytest.raises(CapExceededError, match=f"dispatching stopped there, after {len(sent)} fix jobs"):
        handover.progress({"step": "poll", "execution": execution(run_id)})


def test_a_retried_plan_sends_again_what_it_may_not_have_handed_over(handover: Handover):
    app = handover.stack.app
    # GIVEN a planned run whose last hand-over of two jobs was never acknowledged (the Lambda died sending it)
    run_id = handover.begin("unacknowledged")
    cursor = handover.plan_to_the_end(run_id)
    handover.queued()
    checkpoint = handover.checkpoint(run_id)
    assert (checkpoint["overlap"], checkpoint["halted"]) == (True, None), checkpoint
    checkpoint["sending_from"] = checkpoint["sent_through"] - 2
    app.write_object(f"work/{run_id}/plan-checkpoint.json", json.dumps(checkpoint))
    # WHEN Plan is invoked again (its retry)
    again = handover.plan({"step": "plan", "execution": execution(run_id)})
    # THEN it answers as before, sends those two jobs again, and plans nothing again
    assert again == cursor
    assert sorted(message.job_key for message in handover.queued()) == handover.jobs(run_id)[-2:]
    assert handover.jobs_total(run_id) == cursor["next_job"]
    # AND, the sending acknowledged now, Dispatch sends none of them a third time
    handover.progress({"step": "dispatch", "execution": execution(run_id)})
    assert handover.queued() == []


def _dirty_now(stack: Stack) -> dict[str, int]:
    """Records missing a stage or at a disallowed one (the default config's), per object type, as the sandbox
    holds them now."""
    disallowed = {"subscriber", "other", "evangelist"}
    return {
        object_type: sum(
            1
            for record_id, _ in stack.sandbox.portal.records(object_type)
            if (stack.sandbox.portal.get_property(object_type, record_id, "lifecyclestage") or "") in disallowed | {""}
        )
        for object_type in ("contacts", "companies")
    }


def test_a_plan_whose_run_was_stopped_hands_no_job_over(handover: Handover):
    app = handover.stack.app
    # GIVEN an apply run stopped after Begin (as the CLI stops one on Ctrl-C: its status set to aborted)
    run_id = handover.begin("stopped-while-planning")
    RunTracker(app.client("dynamodb"), app.table_name).abort(run_id, "interrupted")
    # WHEN its planning (a Lambda that goes on when its execution is stopped) reaches its first hand-over
    with pytest.raises(RunStoppedError, match="no more fix jobs are handed to the workers"):
        handover.plan({"step": "plan", "execution": execution(run_id)})
    # THEN no job went out
    assert handover.queued() == []
    assert handover.jobs_total(run_id) == 0
