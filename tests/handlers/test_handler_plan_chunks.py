"""No Lambda over 15 minutes: the plan handler stops when its context says the Lambda is near its end, and the
next invocation resumes from the checkpoint it stored - together planning every record exactly once, a retried
invocation included.

The handler gets the context's remaining time; a context of a 121 s Lambda leaves it 1 s before the 2-minute safety
margin. Planning checks its deadline after every 200-record search page (``Planner._plan_object``), so it stops at
the first page that ends after that second, deciding the records it gathered; at the 5 searches a second the
handler tests' config allows, that is a few pages. Hence a portal of a few thousand contacts, all missing a stage:
many more pages than one second reads, and fewer contacts needing context than one 10,000-record context buffer
(``CONTEXT_BUFFER``), so the first invocation decides its records at the deadline, not on a full buffer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from handler_helpers import LoadedFunction, Stack, begin_event, execution, invoke, running_stack, succeeded

from hubspot_sandbox import PortalSpec, StageMix

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

CONTACTS = 5_300  # 27 search pages: more than one second of planning, under one 10,000-record context buffer
SPEC = PortalSpec(
    contacts=CONTACTS,
    companies=20,
    seed=9,
    contact_stages=StageMix(missing=1, subscriber=0, other=0, evangelist=0, custom=0, valid=0),
)
NEARLY_OUT_OF_TIME = 121  # seconds: the Lambda's remaining time is just past the handler's safety margin


@dataclass(frozen=True)
class Planning:
    stack: Stack
    plan: LoadedFunction  # functions/audit_plan/app.py, for invocations with a context of our choosing
    state: dict[str, Any]  # after Begin


@pytest.fixture(scope="module")
def planning() -> Iterator[Planning]:
    with running_stack(SPEC) as stack:
        # A dry run: the jobs stay in S3 for the test to count (an apply run hands them to the workers).
        begin = begin_event("chunked", "dry-run", config={"caps": {"max_percent": 100}}, allow_loosening=True)
        state = succeeded(invoke(stack.app, "AuditPlanFunction", begin))
        handler = LoadedFunction(stack.app, "AuditPlanFunction")
        yield Planning(stack, handler, state)
        handler.unload()


def work(planning: Planning) -> str:
    return f"work/{planning.state['run']['run_id']}/"


def planned_contacts(planning: Planning) -> Counter[str]:
    """How often each contact is planned across the run's stored fix jobs and the changes its checkpoint holds
    pending (decided, not yet cut into a job)."""
    app = planning.stack.app
    counts: Counter[str] = Counter()
    for key in app.list_keys(f"{work(planning)}jobs/"):
        job = app.read_json(key)
        if job["object_type"] == "contacts":
            counts.update(row[0] for row in job["changes"])
    pending = app.read_json(f"{work(planning)}plan-checkpoint.json")["pending"].get("contacts", [])
    counts.update(row[0] for row in pending)
    return counts


def plan(planning: Planning, timeout_seconds: int | None = None) -> dict[str, Any]:
    event = {"step": "plan", "execution": execution(planning.state["run"]["run_id"])}
    result: dict[str, Any] = planning.plan(event, timeout_seconds=timeout_seconds)
    return result


def test_planning_stops_near_the_deadline_and_resumes_from_its_checkpoint(planning: Planning):
    app = planning.stack.app
    all_contacts = {record_id for record_id, _ in planning.stack.sandbox.portal.records("contacts")}
    assert len(all_contacts) == CONTACTS
    # WHEN the first plan invocation's Lambda is nearly out of time
    first = plan(planning, timeout_seconds=NEARLY_OUT_OF_TIME)
    # THEN it returns unfinished, with a cursor into the contacts, and what it planned so far is stored
    assert first["done"] is False
    assert first["object_type"] == "contacts"
    assert first["after_id"] > 0
    so_far = planned_contacts(planning)
    assert 0 < len(so_far) < CONTACTS
    assert max(so_far.values()) == 1
    assert all(int(contact_id) <= first["after_id"] for contact_id in so_far)

    # WHEN an attempt at the next invocation dies half-way, leaving a job the checkpoint does not know of
    stray = f"{work(planning)}jobs/{first['next_job']:06d}-contacts-forward.json"
    app.write_object(stray, app.read_object(app.list_keys(f"{work(planning)}jobs/")[-1]))
    # AND the invocation is retried (a full Lambda)
    second = plan(planning)
    # THEN planning is done from where the checkpoint stood, and every contact is planned exactly once
    assert second["done"] is True
    assert second["next_job"] > first["next_job"]
    counts = planned_contacts(planning)
    assert set(counts) == all_contacts
    assert set(counts.values()) == {1}

    # WHEN it is retried once more (its answer was lost)
    again = plan(planning)
    # THEN it answers the same and plans nothing again
    assert again == second
    assert planned_contacts(planning) == counts
