"""IAM as deployed: the state machine's runs with every AWS call authorised against the template's roles.

OfflineApp enforces IAM (lifecycle_guard_offline.iam_enforcement). The first test proves the enforcement catches
what the template used to get wrong - ProgressFunction with S3ReadPolicy only, which every deployed run hit at
Dispatch - and that the same run passes with template.yaml as it is. The second goes through an apply run and its
undo and checks that each step made its kinds of AWS calls and that none was denied; test_sm_clean_runs and
test_sm_failed_job check the dry run, the scheduled run and the crash-recovery path the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode
from statemachine_helpers import (
    APPLY,
    APPLY_ACTIONS,
    DRY_RUN,
    REPORT_ACTIONS,
    RUN_TIMEOUT_SECONDS,
    STATE_MACHINE_ACTIONS,
    assert_each_function_read_the_token,
    assert_every_call_was_allowed,
    authorisations,
    deployed_app,
    execution_name,
    fresh_portal,
    running_sandbox,
)

from lifecycle_guard_offline import DEFAULT_TEMPLATE_PATH
from lifecycle_guard_offline.iam_policy import Decision

pytestmark = [
    pytest.mark.filterwarnings("ignore:No application metrics to publish"),
]

CODE_PROPERTIES = ("CodeUri", "ContentUri", "DefinitionUri")


def template_with_progress_read_only(directory: Path) -> Path:
    """template.yaml, except that ProgressFunction's only S3 grant is S3ReadPolicy (as before the fix), written as
    JSON to ``directory`` with its code paths made absolute."""
    template, matches = decode(str(DEFAULT_TEMPLATE_PATH))
    assert template is not None, matches
    for resource in template["Resources"].values():
        for name in CODE_PROPERTIES:
            if isinstance(resource.get("Properties", {}).get(name), str):
                resource["Properties"][name] = str(DEFAULT_TEMPLATE_PATH.parent / resource["Properties"][name])
    progress = template["Resources"]["ProgressFunction"]["Properties"]
    without_s3 = [policy for policy in progress["Policies"] if "s3:" not in json.dumps(policy)]
    assert len(without_s3) == len(progress["Policies"]) - 1
    progress["Policies"] = [*without_s3, {"S3ReadPolicy": {"BucketName": {"Ref": "ReportBucket"}}}]
    path = directory / "template-progress-read-only.json"
    path.write_text(json.dumps(template), encoding="utf-8")
    return path


def failed_task(history: list[dict[str, Any]]) -> tuple[str, str]:
    """(state name, error) of the first task whose Lambda function failed."""
    state = ""
    for event in history:
        if event["type"] == "TaskStateEntered":
            state = event["stateEnteredEventDetails"]["name"]
        if event["type"] == "LambdaFunctionFailed":
            return state, event["lambdaFunctionFailedEventDetails"]["error"]
    raise AssertionError("no task failed")


def test_progress_with_only_s3_read_fails_at_dispatch_and_the_template_as_fixed_passes(tmp_path: Path):
    with running_sandbox(fresh_portal()) as sandbox:
        # GIVEN the template with ProgressFunction's old policy, deployed with IAM enforced
        with deployed_app(sandbox, template_path=template_with_progress_read_only(tmp_path)) as app:
            # WHEN a dry run goes through the state machine
            result = app.run(DRY_RUN, name="progress-read-only", timeout_seconds=RUN_TIMEOUT_SECONDS)
            denied = [call for call in app.iam.calls if call.decision is not Decision.ALLOWED]
        # THEN Dispatch fails with S3's AccessDenied, as on AWS, and the run fails with it
        assert result.status == "FAILED"
        assert failed_task(result.history) == ("Dispatch", "AccessDenied")
        assert "is not authorized to perform: s3:PutObject" in result.cause
        # ... refused by IAM: ProgressFunction storing the plan counts, the one call it may not make
        assert [(call.principal, call.action, call.decision) for call in denied] == [
            ("ProgressFunction", "s3:PutObject", Decision.IMPLICIT_DENY)
        ]
        assert denied[0].resource.endswith(f"/work/{execution_name(result)}/plan-counts.json")
        # GIVEN template.yaml as it is, WHEN the same run goes through the state machine
        with deployed_app(sandbox) as app, authorisations(app) as calls:
            fixed = app.run(DRY_RUN, name="progress-read-only", timeout_seconds=RUN_TIMEOUT_SECONDS)
        # THEN it succeeds, and nothing was denied on the way
        assert fixed.status == "SUCCEEDED", fixed.cause
        assert [call for call in calls if call.decision is not Decision.ALLOWED] == []


UNDO_ACTIONS = {
    **STATE_MACHINE_ACTIONS,
    # Begin finds the undone run's files through the run index.
    "AuditPlanFunction": {"s3:GetObject", "s3:PutObject", "dynamodb:PutItem", "dynamodb:UpdateItem"},
    # Reads the undone run's journal; stores its restore jobs, its checkpoint and the skips it journals; hands each
    # job to the workers as it cuts it, after asking whether its execution or run was stopped.
    "UndoFunction": {
        "s3:GetObject",
        "s3:PutObject",
        "sqs:SendMessage",
        "states:DescribeExecution",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
    },
    # The restore jobs: dispatched and polled as a run's fix jobs, written by the fix workers.
    "ProgressFunction": APPLY_ACTIONS["ProgressFunction"],
    "FixWorkerFunction": APPLY_ACTIONS["FixWorkerFunction"],
    # Stores the flows it switches off for the undo, and reads them back to switch them on.
    "PreventionFunction": {"s3:GetObject", "s3:PutObject", "dynamodb:UpdateItem"},
    **REPORT_ACTIONS,
}


def test_an_apply_run_and_its_undo_make_only_allowed_calls():
    with running_sandbox(fresh_portal()) as sandbox, deployed_app(sandbox) as app:
        # GIVEN the dirty portal, WHEN an apply run goes through the state machine
        with authorisations(app) as apply_calls:
            applied = app.run(APPLY, name="iam-apply", timeout_seconds=RUN_TIMEOUT_SECONDS)
        # THEN it succeeds, each step made its kinds of AWS calls, and IAM allowed every one
        assert applied.status == "SUCCEEDED", applied.cause
        assert_every_call_was_allowed(apply_calls, APPLY_ACTIONS)
        # WHEN its undo goes through the state machine
        undo = {"action": "undo", "mode": "apply", "source": "console", "undo_run_id": "iam-apply"}
        with authorisations(app) as undo_calls:
            undone = app.run(undo, name="iam-undo", timeout_seconds=RUN_TIMEOUT_SECONDS)
        # THEN it succeeds and restores the run's changes (what undo restores is test_cli's and the undo tests'
        # subject), with every AWS call on the way allowed
        assert undone.status == "SUCCEEDED", undone.cause
        assert undone.output["changes_applied"] > 0
        assert undone.output["checks"]["restored values held"] == "PASS"
        assert_every_call_was_allowed(undo_calls, UNDO_ACTIONS)
        # ... the report marked the run undone (Report's grant on runs/index/*.undone.json)
        assert any(
            c.action == "s3:PutObject" and c.resource.endswith("/runs/index/iam-apply.undone.json")
            for c in undo_calls
            if c.principal == "ReportFunction"
        )
        # ... and every function that talks to HubSpot read the token with its own role
        assert_each_function_read_the_token(
            app, {"AuditPlanFunction", "FixWorkerFunction", "PreventionFunction", "UndoFunction"}
        )
