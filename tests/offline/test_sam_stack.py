"""Transform + deploy of the fixture SAM app into moto (lifecycle_guard_offline.sam_stack)."""

import json

from lifecycle_guard_offline import OfflineApp


def test_stack_creates_the_template_resources(fixture_app: OfflineApp) -> None:
    types = fixture_app.stack.resource_types
    functions = fixture_app.stack.physical_ids_of_type("AWS::Lambda::Function")
    assert set(functions) == {"StepFunction", "ReportFunction", "WorkerFunction", "UnwrittenFunction"}
    assert types["WorkerFunctionJobs"] == "AWS::Lambda::EventSourceMapping"
    assert set(fixture_app.queue_urls) == {"JobQueue", "JobDeadLetterQueue"}

    lambda_client = fixture_app.client("lambda")
    names = {f["FunctionName"] for f in lambda_client.list_functions()["Functions"]}
    assert set(functions.values()) <= names
    fixture_app.client("dynamodb").describe_table(TableName=fixture_app.table_name)
    fixture_app.client("s3").head_bucket(Bucket=fixture_app.bucket_name)
    assert fixture_app.outputs["BucketName"] == fixture_app.bucket_name


def test_function_configuration_comes_from_globals_and_the_function(fixture_app: OfflineApp) -> None:
    step = fixture_app.client("lambda").get_function_configuration(
        FunctionName=fixture_app.stack.physical_ids["StepFunction"]
    )
    assert step["Handler"] == "app.lambda_handler"
    assert (step["Timeout"], step["MemorySize"]) == (30, 256)
    variables = step["Environment"]["Variables"]
    assert variables["BUCKET_NAME"] == fixture_app.bucket_name
    assert variables["STEP_GREETING"] == "hello from the step function"


def test_state_machine_is_created_with_substitutions_resolved(fixture_app: OfflineApp) -> None:
    description = fixture_app.client("stepfunctions").describe_state_machine(
        stateMachineArn=fixture_app.state_machine_arn
    )
    definition = json.loads(description["definition"])
    step_arn = fixture_app.client("lambda").get_function(FunctionName=fixture_app.stack.physical_ids["StepFunction"])
    assert definition["States"]["Step"]["Resource"] == step_arn["Configuration"]["FunctionArn"]
    assert "${" not in description["definition"]
    assert description["roleArn"].split("/")[-1] == fixture_app.stack.physical_ids["StateMachineRole"]
    # Named as the template says; its references in the stack resolve to what the harness created.
    assert description["name"] == "lifecycle-guard-fixture"
    assert fixture_app.outputs["StateMachineArn"] == fixture_app.state_machine_arn
    assert fixture_app.outputs["StateMachineSummary"] == f"lifecycle-guard-fixture is {fixture_app.state_machine_arn}"


def test_scheduled_input_is_resolved_from_parameters(fixture_app: OfflineApp, fixture_guard_config) -> None:
    assert fixture_app.stack.resource_types["StateMachineNightly"] == "AWS::Scheduler::Schedule"
    assert fixture_app.scheduled_input == {"action": "run", "source": "schedule", "config": fixture_guard_config}
