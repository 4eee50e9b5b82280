"""IAM enforced on the fixture app: who a call is attributed to, what a refusal looks like, what fails loudly.

The fixture's ReportFunction may use its stack's bucket only (S3CrudPolicy); its WorkerFunction has DynamoDB, may
read the bucket's objects but not list it, and has, through its SQS event, the managed policy
AWSLambdaSQSQueueExecutionRole; the state machine may invoke StepFunction
and ReportFunction. ReportFunction and WorkerFunction run `probe` here instead of their handlers: it makes the AWS
call the event asks for, with a client created inside the handler as the runtime would, and returns the error code
the call got.
"""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from lifecycle_guard_offline import LambdaContext, OfflineApp
from lifecycle_guard_offline.iam_enforcement import UnattributedCallError
from lifecycle_guard_offline.iam_policy import Decision

MANAGED_SQS_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"


def probe(event: dict[str, Any], context: LambdaContext) -> Any:
    if "Records" in event:  # a batch from the SQS poller
        return {"batchItemFailures": []}
    client = boto3.client(event["service"])
    try:
        getattr(client, event["operation"])(**event["params"])
    except ClientError as error:
        return {
            "code": error.response["Error"]["Code"],
            "status": error.response["ResponseMetadata"]["HTTPStatusCode"],
            "message": error.response["Error"]["Message"],
        }
    return {"code": None}


@pytest.fixture(scope="module")
def app(fixture_template: Path) -> Iterator[OfflineApp]:
    overrides = {"ReportFunction": probe, "WorkerFunction": probe}
    with OfflineApp(template_path=fixture_template, handler_overrides=overrides, sqs_retry_delay_seconds=0) as app:
        yield app


def invoke(app: OfflineApp, logical_id: str, service: str, operation: str, **params: Any) -> dict[str, Any]:
    """Invokes the function (as the operator, unchecked) to make one call with its role."""
    event = {"service": service, "operation": operation, "params": params}
    response = app.client("lambda").invoke(
        FunctionName=app.stack.physical_ids[logical_id], Payload=json.dumps(event).encode()
    )
    payload: dict[str, Any] = json.loads(response["Payload"].read())
    if "FunctionError" in response:
        return {"function_error": payload["errorType"], "message": payload["errorMessage"]}
    return payload


def test_a_call_the_role_allows_goes_through(app: OfflineApp) -> None:
    outcome = invoke(app, "ReportFunction", "s3", "put_object", Bucket=app.bucket_name, Key="probe.json", Body="{}")
    assert outcome == {"code": None}
    assert app.read_object("probe.json") == b"{}"
    (call,) = [c for c in app.iam.calls if c.principal == "ReportFunction" and c.action == "s3:PutObject"]
    assert call.resource == f"arn:aws:s3:::{app.bucket_name}/probe.json"
    assert call.decision is Decision.ALLOWED


@pytest.mark.parametrize(
    ("service", "operation", "params", "code", "status", "action"),
    [
        (
            "s3",
            "put_object",
            {"Bucket": "lifecycle-guard-artifacts", "Key": "x", "Body": ""},
            "AccessDenied",
            403,
            "s3:PutObject",
        ),
        (
            "dynamodb",
            "get_item",
            {"TableName": "TABLE", "Key": {"id": {"S": "x"}}},
            "AccessDeniedException",
            400,
            "dynamodb:GetItem",
        ),
        (
            "secretsmanager",
            "get_secret_value",
            {"SecretId": "SECRET"},
            "AccessDeniedException",
            400,
            "secretsmanager:GetSecretValue",
        ),
    ],
    ids=["s3", "dynamodb", "secrets manager"],
)
def test_a_call_the_role_does_not_allow_gets_the_services_access_denied(
    app: OfflineApp, service: str, operation: str, params: dict[str, Any], code: str, status: int, action: str
) -> None:
    secret_arn = app.client("secretsmanager").describe_secret(SecretId="lifecycle-guard/hubspot-token")["ARN"]
    names = {"TABLE": app.table_name, "SECRET": secret_arn}
    params = {name: names.get(value, value) if isinstance(value, str) else value for name, value in params.items()}
    # WHEN ReportFunction makes a call its role does not allow
    outcome = invoke(app, "ReportFunction", service, operation, **params)
    # THEN the handler gets the ClientError the service answers with, in AWS's wording
    assert (outcome["code"], outcome["status"]) == (code, status)
    assert "assumed-role/lifecycle-guard-ReportFunctionRole-" in outcome["message"]
    assert f"is not authorized to perform: {action} on resource: " in outcome["message"]
    assert outcome["message"].endswith(f"because no identity-based policy allows the {action} action")


@pytest.mark.parametrize("operation", ["get_object", "head_object"])
def test_a_missing_key_is_not_found_only_for_a_role_that_may_list_the_bucket(app: OfflineApp, operation: str) -> None:
    # GIVEN an object in the bucket; ReportFunction may list the bucket, WorkerFunction may only read objects
    app.client("s3").put_object(Bucket=app.bucket_name, Key="there.json", Body=b"{}")
    for_each = {"Bucket": app.bucket_name}
    # WHEN each reads the object, THEN both get it
    assert invoke(app, "ReportFunction", "s3", operation, **for_each, Key="there.json") == {"code": None}
    assert invoke(app, "WorkerFunction", "s3", operation, **for_each, Key="there.json") == {"code": None}
    # WHEN each reads a key that does not exist
    lister = invoke(app, "ReportFunction", "s3", operation, **for_each, Key="missing.json")
    reader = invoke(app, "WorkerFunction", "s3", operation, **for_each, Key="missing.json")
    # THEN the role that may list the bucket learns it is missing (404), the other is refused (403), as S3 answers
    not_found, refused = ("NoSuchKey", "AccessDenied") if operation == "get_object" else ("404", "403")
    assert (lister["code"], lister["status"]) == (not_found, 404)
    assert (reader["code"], reader["status"]) == (refused, 403)
    # ... and the s3:ListBucket authorisation that decided it is listed under the read
    listing = [
        (c.principal, c.decision)
        for c in app.iam.calls
        if c.action == "s3:ListBucket" and c.operation in ("s3:GetObject", "s3:HeadObject")
    ]
    assert listing[-2:] == [("ReportFunction", Decision.ALLOWED), ("WorkerFunction", Decision.IMPLICIT_DENY)]


def test_a_call_it_cannot_map_fails_the_handler_loudly(app: OfflineApp) -> None:
    outcome = invoke(app, "ReportFunction", "sns", "list_topics")
    assert outcome["function_error"] == "UnmappedCallError"
    assert "'sns' is not mapped" in outcome["message"]


def test_the_step_functions_engines_calls_are_the_state_machines_role(app: OfflineApp) -> None:
    # moto 5.2.5's engine signs its integrations' calls with the access key "ak": that is the state machine
    engine_lambda = boto3.client("lambda", aws_access_key_id="ak", aws_secret_access_key="sk", region_name=app.region)
    with pytest.raises(ClientError) as refused:
        engine_lambda.invoke(FunctionName=app.stack.physical_ids["WorkerFunction"], Payload=b"{}")
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert app.run({"hello": "engine"}).status == "SUCCEEDED"  # its Task invokes StepFunction, which it may
    machine_calls = {
        (c.action, c.resource.rsplit(":", 1)[-1], c.decision) for c in app.iam.calls if c.principal == "StateMachine"
    }
    assert ("lambda:InvokeFunction", app.stack.physical_ids["StepFunction"], Decision.ALLOWED) in machine_calls
    assert ("lambda:InvokeFunction", app.stack.physical_ids["WorkerFunction"], Decision.IMPLICIT_DENY) in machine_calls


def test_a_call_nobody_of_the_stack_made_fails_loudly(app: OfflineApp) -> None:
    stranger = boto3.client("s3", aws_access_key_id="AKIASTRANGER", aws_secret_access_key="x", region_name=app.region)
    with pytest.raises(UnattributedCallError, match="AKIASTRANGER"):
        stranger.list_objects_v2(Bucket=app.bucket_name)


def test_the_sqs_poller_uses_the_workers_role_and_its_managed_policy(app: OfflineApp, wait_until: Any) -> None:
    app.client("sqs").send_message(QueueUrl=app.queue_urls["JobQueue"], MessageBody="{}")
    wait_until(lambda: app.messages_in_queue("JobQueue") == 0)
    worker = {(c.action, c.statement) for c in app.iam.calls if c.principal == "WorkerFunction"}
    for action in ("sqs:GetQueueAttributes", "sqs:ReceiveMessage", "sqs:DeleteMessage"):
        assert (action, f"{MANAGED_SQS_POLICY}#0") in worker
    polled = [c for c in app.iam.calls if c.principal == "WorkerFunction" and c.action.startswith("sqs:")]
    assert all(c.decision is Decision.ALLOWED for c in polled)
