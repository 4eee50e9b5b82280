"""No Lambda over 15 minutes: the plan handler stops when its context says the Lambda is near its end, and the
next invocation resumes from the cursor it returned - together planning every record exactly once.

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
        begin = begin_event("chunked", config={"caps": {"max_percent": 100}}, allow_loosening=True)
        state = succeeded(invoke(stack.app, "AuditPlanFunction", begin))
        handler = LoadedFunction(stack.app, "AuditPlanFunction")
        yield Planning(stack, handler, state)
        handler.unload()


def planned_contacts(planning: Planning) -> Counter[str]:
    """How often each contact is planned across the run's stored fix jobs."""
    app = planning.stack.app
    counts: Counter[str] = Counter()
    for key in app.list_keys(f"work/{planning.state['run']['run_id']}/jobs/"):
        job = app.read_json(key)
        if job["object_type"] == "contacts":
            counts.update(row[0] for row in job["changes"])
    return counts


def plan(planning: Planning, cursor: dict[str, Any], timeout_seconds: int | None = None) -> dict[str, Any]:
    event = {"step": "plan", "execution": execution(planning.state["run"]["run_id"]), "cursor": cursor}
    result: dict[str, Any] = planning.plan(event, timeout_seconds=timeout_seconds)
    return result


def test_planning_stops_near_the_deadline_and_resumes_from_its_cursor(planning: Planning):
    all_contacts = {record_id for record_id, _ in planning.stack.sandbox.portal.records("contacts")}
    assert len(all_contacts) == CONTACTS
    # WHEN the first plan invocation's Lambda is nearly out of time
    first = plan(planning, planning.state["plan"], timeout_seconds=NEARLY_OUT_OF_TIME)
    # THEN it returns unfinished, with a cursor into the contacts and the jobs planned so far stored
    assert first["done"] is False
    assert first["object_type"] == "contacts"
    assert first["after_id"] > 0
    so_far = planned_contacts(planning)
    assert 0 < len(so_far) < CONTACTS
    assert max(so_far.values()) == 1
    assert all(int(contact_id) <= first["after_id"] for contact_id in so_far)

    # WHEN the next invocation (a full Lambda) resumes from that cursor
    second = plan(planning, first)
    # THEN planning is done, and every contact is planned exactly once
    assert second["done"] is True
    assert second["next_job"] > first["next_job"]
    counts = planned_contacts(planning)
    assert set(counts) == all_contacts
    assert set(counts.values()) == {1}

    # WHEN the second invocation is retried from the same cursor (as after a Lambda timeout)
    again = plan(planning, first)
    # THEN it replaces what it wrote before: still every contact exactly once
    assert again == second
    assert planned_contacts(planning) == counts
