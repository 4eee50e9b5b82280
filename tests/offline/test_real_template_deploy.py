"""The project's real template.yaml and state machine deployed through the harness. No execution: the handlers in
functions/ are written elsewhere and only loaded when first invoked."""

import json
from collections.abc import Iterator

import pytest

from lifecycle_guard_offline import OfflineApp

FUNCTIONS = {
    "AuditPlanFunction",
    "FixWorkerFunction",
    "ProgressFunction",
    "PreventionFunction",
    "VerifyFunction",
    "ReportFunction",
    "UndoFunction",
}
GUARD_CONFIG = {"caps": {"max_changes": 250}}


@pytest.fixture(scope="module")
def app() -> Iterator[OfflineApp]:
    with OfflineApp(
        hubspot_base_url="http://127.0.0.1:8999",
        api_tier="enterprise",
        api_budget_percent=40,
        guard_config=GUARD_CONFIG,
        parameters={"ScheduleMode": "dry-run", "FixJobMaxAttempts": "4"},
    ) as app:
        yield app


def test_functions_queues_table_and_bucket_exist(app: OfflineApp) -> None:
    functions = app.stack.physical_ids_of_type("AWS::Lambda::Function")
    assert set(functions) == FUNCTIONS
    deployed = {f["FunctionName"] for f in app.client("lambda").list_functions()["Functions"]}
    assert set(functions.values()) <= deployed
    assert set(app.queue_urls) == {"FixJobQueue", "FixJobDeadLetterQueue"}
    redrive = json.loads(
        app.client("sqs").get_queue_attributes(
            QueueUrl=app.queue_urls["FixJobQueue"], AttributeNames=["RedrivePolicy"]
        )["Attributes"]["RedrivePolicy"]
    )
    dead_letter_arn = app.client("sqs").get_queue_attributes(
        QueueUrl=app.queue_urls["FixJobDeadLetterQueue"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert redrive == {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": 4}  # FixJobMaxAttempts
    assert app.client("dynamodb").describe_table(TableName=app.table_name)["Table"]["TableStatus"] == "ACTIVE"
    assert app.outputs["ReportBucketName"] == app.bucket_name


def function_variables(app: OfflineApp, logical_id: str) -> dict[str, object]:
    configuration = app.client("lambda").get_function_configuration(FunctionName=app.stack.physical_ids[logical_id])
    variables: dict[str, object] = configuration["Environment"]["Variables"]
    return variables


def test_parameters_reach_the_functions(app: OfflineApp) -> None:
    variables = function_variables(app, "ProgressFunction")
    assert variables["HUBSPOT_BASE_URL"] == "http://127.0.0.1:8999"
    assert variables["HUBSPOT_TOKEN_SECRET_ARN"].startswith("arn:aws:secretsmanager:")
    assert str(variables["API_REQUESTS_PER_10S"]) == "190"  # enterprise tier
    (mapping,) = app.client("lambda").list_event_source_mappings()["EventSourceMappings"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 4}  # the tier's fix workers
    assert str(variables["API_BUDGET_PERCENT"]) == "40"
    assert variables["FIX_JOB_QUEUE_URL"] == app.queue_urls["FixJobQueue"]
    assert json.loads(str(function_variables(app, "AuditPlanFunction")["GUARD_CONFIG"])) == GUARD_CONFIG


def test_state_machine_is_created_with_every_substitution_resolved(app: OfflineApp) -> None:
    description = app.client("stepfunctions").describe_state_machine(stateMachineArn=app.state_machine_arn)
    assert "${" not in description["definition"]
    assert app.outputs["StateMachineArn"] == app.state_machine_arn
    assert description["name"] == "lifecycle-guard-lifecycle-guard"  # the template's Name: <stack>-lifecycle-guard

    function_arns = {
        logical_id: app.client("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        for logical_id, name in app.stack.physical_ids_of_type("AWS::Lambda::Function").items()
    }
    source = json.loads(app.template.state_machines["LifecycleGuardStateMachine"].definition_path.read_text())
    deployed = json.loads(description["definition"])
    for state_name, state in source["States"].items():
        if state["Type"] == "Task":
            placeholder = state["Resource"].removeprefix("${").removesuffix("Arn}")
            assert deployed["States"][state_name]["Resource"] == function_arns[placeholder], state_name


def test_schedule_input_carries_the_mode(app: OfflineApp) -> None:
    # The config reaches scheduled runs through AuditPlanFunction's GUARD_CONFIG (test_parameters_reach_the_functions).
    assert app.scheduled_input == {"action": "run", "mode": "dry-run", "source": "schedule"}
