"""The sample inputs in events/ are valid inputs of the state machine and of the fix worker."""

import json
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities.parser.models import SqsModel
from cfnlint.decode import decode

from lifecycle_guard.config import Mode
from lifecycle_guard.contracts import RunRequest
from lifecycle_guard.queue import FixJobMessage

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"


@pytest.mark.parametrize(
    ("name", "action", "mode", "source"),
    [
        ("scheduled-run.json", "run", Mode.APPLY, "schedule"),
        ("console-dry-run.json", "run", Mode.DRY_RUN, "console"),
        ("console-apply.json", "run", Mode.APPLY, "console"),
        ("console-undo.json", "undo", Mode.APPLY, "console"),
    ],
)
def test_state_machine_inputs_validate(name, action, mode, source):
    request = RunRequest.model_validate_json((EVENTS / name).read_text())
    assert request.action in ("run", "undo")
    assert (request.action, request.mode, request.source) == (action, mode, source)


def test_the_scheduled_sample_is_what_the_schedule_sends():
    template, problems = decode(str(ROOT / "template.yaml"))
    assert not problems
    schedule = template["Resources"]["LifecycleGuardStateMachine"]["Properties"]["Events"]["Nightly"]["Properties"]
    sent = json.loads(schedule["Input"]["Fn::Sub"].replace("${ScheduleMode}", "apply"))
    assert sent == json.loads((EVENTS / "scheduled-run.json").read_text())


def test_undo_sample_names_the_run_to_undo():
    request = RunRequest.model_validate_json((EVENTS / "console-undo.json").read_text())
    assert request.action == "undo"
    assert request.undo_run_id


def test_sqs_sample_carries_a_fix_job():
    event = SqsModel.model_validate_json((EVENTS / "sqs-fix-job.json").read_text())
    (record,) = event.Records
    job = FixJobMessage.model_validate_json(record.body)
    assert job.job_key.endswith(f"{job.job_id}.json")
