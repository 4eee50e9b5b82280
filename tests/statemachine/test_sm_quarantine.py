"""Pending markers that cannot be trusted are quarantined by the steps that find them - Begin's start-up recovery
(AuditPlan) and Verify's recovery of the run's own abandoned batches - with IAM enforced: the moves to
``work/quarantine/`` are calls their roles must allow, and a quarantine never fails the run.

A garbled marker of a dead run is seeded before the run; a garbled one of the run itself appears while it runs
(the prevention function is wrapped to seed it, through the operator's unchecked client, just before the real
handler ensures the flows: after the fix jobs, before Verify), since Begin would quarantine it already if it were
there from the start.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
from statemachine_helpers import (
    APPLY,
    APPLY_ACTIONS,
    RUN_TIMEOUT_SECONDS,
    assert_every_call_was_allowed,
    authorisations,
    deployed_app,
    fresh_portal,
    report_of,
    running_sandbox,
)
from support.functions import import_function

from lifecycle_guard.layout import quarantine_key
from lifecycle_guard_offline import LambdaContext, OfflineApp

pytestmark = [
    pytest.mark.filterwarnings("ignore:No application metrics to publish"),
]

REAL_PREVENTION_MODULE = "statemachine_test_real_prevention"
RUN = "quarantine-run"
GARBLED = b'{"run_id": "cut off mid-wri'
DEAD_RUNS_MARKER = "work/pending/a-dead-run/000003-contacts-backward-0000.json"
RUNS_OWN_MARKER = f"work/pending/{RUN}/000007-contacts-backward-0001.json"


class SeedingPrevention:
    """The real prevention handler; before the run's EnsurePrevention, a garbled marker of the run appears."""

    def __init__(self) -> None:
        self.app: OfflineApp | None = None

    def __call__(self, event: dict[str, Any], context: LambdaContext) -> Any:
        if event.get("step") == "ensure" and self.app is not None:
            self.app.client("s3").put_object(Bucket=self.app.bucket_name, Key=RUNS_OWN_MARKER, Body=GARBLED)
        real = sys.modules.get(REAL_PREVENTION_MODULE) or import_function("prevention", REAL_PREVENTION_MODULE)
        return real.lambda_handler(event, context)


def test_begin_and_verify_quarantine_untrustworthy_markers_with_the_rights_their_roles_have():
    prevention = SeedingPrevention()
    try:
        with (
            running_sandbox(fresh_portal()) as sandbox,
            deployed_app(sandbox, handler_overrides={"PreventionFunction": prevention}) as app,
        ):
            prevention.app = app
            # GIVEN a garbled marker a dead run left, and one of the run itself appearing while it runs
            app.client("s3").put_object(Bucket=app.bucket_name, Key=DEAD_RUNS_MARKER, Body=GARBLED)
            # WHEN an apply run goes through the state machine, IAM enforced
            with authorisations(app) as calls:
                result = app.run(APPLY, name=RUN, timeout_seconds=RUN_TIMEOUT_SECONDS)
            report = report_of(app, result)
            pending_after = app.list_keys("work/pending/")
            quarantined = app.list_keys("work/quarantine/")
    finally:
        sys.modules.pop(REAL_PREVENTION_MODULE, None)
    # THEN the run succeeded: neither marker stopped it
    assert result.status == "SUCCEEDED", result.cause
    # ... Begin moved the dead run's marker aside, Verify the run's own, each with its own role's rights
    watched = {DEAD_RUNS_MARKER, RUNS_OWN_MARKER, quarantine_key(DEAD_RUNS_MARKER), quarantine_key(RUNS_OWN_MARKER)}
    moved = {
        (call.principal, call.action, key)
        for call in calls
        if call.action in ("s3:PutObject", "s3:DeleteObject") and (key := call.resource.partition("/")[2]) in watched
    }
    assert moved == {
        ("AuditPlanFunction", "s3:PutObject", quarantine_key(DEAD_RUNS_MARKER)),
        ("AuditPlanFunction", "s3:DeleteObject", DEAD_RUNS_MARKER),
        ("VerifyFunction", "s3:PutObject", quarantine_key(RUNS_OWN_MARKER)),
        ("VerifyFunction", "s3:DeleteObject", RUNS_OWN_MARKER),
    }
    assert_every_call_was_allowed(calls, APPLY_ACTIONS)
    # ... nothing is left pending, both are in quarantine, and the report lists them with who moved them and why
    assert pending_after == []
    assert sorted(quarantined) == sorted(quarantine_key(key) for key in (DEAD_RUNS_MARKER, RUNS_OWN_MARKER))
    listed = {(m["marker_key"], m["quarantined_by"]) for m in report["quarantined"]}
    assert listed == {(DEAD_RUNS_MARKER, RUN), (RUNS_OWN_MARKER, RUN)}
    assert all(m["reason"].startswith("not a readable pending marker") for m in report["quarantined"])
