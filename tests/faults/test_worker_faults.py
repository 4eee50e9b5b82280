"""Faults in our own fix worker, driven in-process: a crash between a clear and its set (the worker's exception, or
the process dying outright), and a token that loses its write scope half-way. (Duplicate deliveries, Lambda
timeouts and the dead-letter queue go through the real state machine: test_sqs_worker_faults.)

After each: the portal ends exactly as the oracle expected (0 wrong, 0 blank), the journals hold every write HubSpot
applied - the clears a dying worker made included - a further run writes nothing, and the report says what happened.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from faultkit import SMALL_BATCHES, start
from support.invariants import checks_of
from support.oracle import actual_stages

from hubspot_sandbox import ALL_SCOPES
from lifecycle_guard import fixing, steps
from lifecycle_guard.gateway.crm_endpoints import CrmEndpoints

_real_update = CrmEndpoints.update


class WorkerCrash(Exception):
    """The worker's own error: the job fails, SQS delivers it again."""


def is_clear(properties_by_id) -> bool:
    return all(properties["lifecyclestage"] == "" for properties in properties_by_id.values())


@contextmanager
def dying_after_first_clear(monkeypatch: pytest.MonkeyPatch, crash: BaseException) -> Iterator[list[tuple[str, str]]]:
    """Batch updates work, except that the first clear is applied and then ``crash`` is raised, before the worker
    hears HubSpot's answer. Yields the records the crashed clear emptied."""
    cleared: list[tuple[str, str]] = []

    def update(self, object_type, properties_by_id):
        result = _real_update(self, object_type, properties_by_id)
        if not cleared and is_clear(properties_by_id):
            cleared.extend((str(object_type), object_id) for object_id in properties_by_id)
            raise crash
        return result

    monkeypatch.setattr(CrmEndpoints, "update", update)
    yield cleared
    monkeypatch.setattr(CrmEndpoints, "update", _real_update)


def test_a_worker_error_between_clear_and_set_is_resumed_on_redelivery(start_sandbox, make_services, monkeypatch):
    # GIVEN a worker that fails right after its first clear reached HubSpot, before setting the targets
    guarded = start(start_sandbox, make_services, config=SMALL_BATCHES)
    deliveries: dict[str, list[int]] = {}

    def deliver(job, receive_count):
        deliveries.setdefault(job.job_id, []).append(receive_count)
        steps.fix_job(job, receive_count, guarded.services)

    with dying_after_first_clear(monkeypatch, WorkerCrash("injected after the clear")) as cleared:
        # WHEN an apply run goes through, SQS delivering the failed job again
        summary, report = guarded.run("worker-error", on_message=deliver)
    # THEN the failed job was delivered a second time and resumed from HubSpot's state: the cleared records got
    # their planned targets, the run succeeded, and the portal is exactly right
    assert cleared
    assert sorted(count for counts in deliveries.values() for count in counts if count > 1) == [2]
    assert summary["outcome"] == "succeeded", report
    assert report["fix"]["jobs_done"] == report["fix"]["jobs_total"] == len(deliveries)
    assert guarded.portal_problems() == []
    # ... and the journal holds the clear of the failed attempt and the set of the retry
    assert guarded.journal_problems() == []
    # AND a second run writes nothing
    guarded.run_again("worker-error-again")


def test_a_worker_killed_between_clear_and_set_is_finished_by_the_next_run(start_sandbox, make_services, monkeypatch):
    # GIVEN a worker process killed right after its first clear reached HubSpot: nothing after that point runs, so
    # the batch's journal segment is never written and only its pending marker says what was in flight
    guarded = start(start_sandbox, make_services, config=SMALL_BATCHES)
    real_write_segment = fixing.write_segment
    with dying_after_first_clear(monkeypatch, SystemExit("injected: the worker process is gone")) as cleared:
        # (once the clear is made, the dying process writes nothing more, not even from its finally clauses)
        monkeypatch.setattr(fixing, "write_segment", lambda *args: None if cleared else real_write_segment(*args))
        # WHEN an apply run goes through and its worker process dies (the exception escapes everything)
        with pytest.raises(SystemExit):
            guarded.run("killed")
    monkeypatch.setattr(fixing, "write_segment", real_write_segment)
    # THEN the records of the clear are blank: only the batch's pending marker knows their targets
    assert sorted(guarded.blanked()) == sorted(cleared)
    # WHEN the next run goes through, with the dead run's fix jobs still in the queue
    leftovers: list[dict] = []

    def deliver(job, receive_count):
        outcome = steps.fix_job(job, receive_count, guarded.services)
        if job.run_id == "killed":
            leftovers.append(outcome)

    summary, report = guarded.run("after-kill", on_message=deliver)
    # THEN it finished the killed batch with its planned targets, then everything else: the portal is exactly right
    assert summary["outcome"] == "succeeded", report
    assert report["fix"]["recovered"] >= len(cleared)
    assert guarded.portal_problems() == []
    # ... while the dead run's leftover jobs wrote nothing: its lock was taken over, so it is no longer running
    assert leftovers
    assert {outcome["status"] for outcome in leftovers} == {"skipped"}
    # ... and the journals hold every write, the clear the killed worker never journaled included
    assert guarded.journal_problems() == []
    # AND a further run writes nothing
    guarded.run_again("after-kill-again")
    # AND undoing the run that finished the killed batch puts those records back at the stages they had before the
    # killed run cleared them - not at the blank the journal would start from without the recovered clear
    summary, report = guarded.run("undo", {"action": "undo", "mode": "apply", "undo_run_id": "after-kill"})
    assert summary["outcome"] == "succeeded", report
    after_undo = actual_stages(guarded.portal)
    assert {key: after_undo[key] for key in cleared} == {key: guarded.before[key] for key in cleared}


def test_a_token_losing_its_write_scope_mid_run_aborts_it_and_the_next_run_finishes(
    start_sandbox, make_services, monkeypatch
):
    # GIVEN a token whose write scopes are revoked right after the run's first clear reached HubSpot
    guarded = start(start_sandbox, make_services, config=SMALL_BATCHES)
    token = guarded.sandbox.token
    read_only = {scope for scope in ALL_SCOPES if not scope.endswith(".write")}
    revoked: list[tuple[str, str]] = []

    def update(self, object_type, properties_by_id):
        result = _real_update(self, object_type, properties_by_id)
        if not revoked and is_clear(properties_by_id):
            revoked.extend((str(object_type), object_id) for object_id in properties_by_id)
            guarded.sandbox.update_settings(tokens={token: read_only})
        return result

    monkeypatch.setattr(CrmEndpoints, "update", update)
    # WHEN an apply run goes through
    summary, report = guarded.run("revoked")
    # THEN the worker's 403 stopped the run, and the report says so: the failed job, HubSpot's refusal
    assert revoked
    assert summary["outcome"] == "failed", summary
    assert any("403" in failure and "MISSING_SCOPES" in failure for failure in report["failures"]), report
    assert len(report["fix"]["failed_jobs"]) == 1
    # ... no job tried to write after the refusal, and the records whose set was refused are blank: with no write
    # scope, nothing can put them back until the token is fixed
    assert guarded.sandbox.stats()["statuses"]["403"] == 1
    assert sorted(guarded.blanked()) == sorted(revoked)
    # ... which the report counts as pending recovery: the records of the one batch the refusal stopped (those it
    # cleared, and the others of the batch)
    assert len(revoked) <= report["fix"]["pending_recovery"] <= SMALL_BATCHES["fix"]["batch_size"]
    # WHEN the scope is restored and the next run goes through
    guarded.sandbox.update_settings(tokens={token: ALL_SCOPES})
    monkeypatch.setattr(CrmEndpoints, "update", _real_update)
    summary, report = guarded.run("restored")
    # THEN the records the refused set left blank got their planned targets, and the portal is exactly right
    assert summary["outcome"] == "succeeded", report
    assert report["fix"]["pending_recovery"] == 0
    assert set(checks_of(report).values()) == {"PASS"}
    assert guarded.portal_problems() == []
    assert guarded.journal_problems() == []
    # AND a further run writes nothing
    guarded.run_again("restored-again")
