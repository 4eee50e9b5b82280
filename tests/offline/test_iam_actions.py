"""The IAM authorisations derived from API calls: actions and ARNs as AWS documents them, and loud failures."""

from typing import Any

import pytest

from lifecycle_guard_offline.iam_actions import ApiCall, UnmappedCallError, authorization_requests

REGION, ACCOUNT = "us-east-1", "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lg-Progress"
BUCKET = "lg-reports"


def call(iam_prefix: str, operation: str, **params: Any) -> ApiCall:
    return ApiCall(iam_prefix, operation, params, REGION, ACCOUNT, secure_transport=True, principal_arn=ROLE)


def authorised(iam_prefix: str, operation: str, **params: Any) -> list[tuple[str, str]]:
    return [(r.action, r.resource) for r in authorization_requests(call(iam_prefix, operation, **params))]


@pytest.mark.parametrize(
    ("operation", "params", "expected"),
    [
        ("GetObject", {"Key": "work/r/run.json"}, [("s3:GetObject", f"arn:aws:s3:::{BUCKET}/work/r/run.json")]),
        ("GetObject", {"Key": "k", "VersionId": "v1"}, [("s3:GetObjectVersion", f"arn:aws:s3:::{BUCKET}/k")]),
        ("HeadObject", {"Key": "k"}, [("s3:GetObject", f"arn:aws:s3:::{BUCKET}/k")]),
        ("PutObject", {"Key": "k", "Body": b""}, [("s3:PutObject", f"arn:aws:s3:::{BUCKET}/k")]),
        (
            "PutObject",
            {"Key": "k", "ACL": "public-read"},
            [("s3:PutObject", f"arn:aws:s3:::{BUCKET}/k"), ("s3:PutObjectAcl", f"arn:aws:s3:::{BUCKET}/k")],
        ),
        ("DeleteObject", {"Key": "k"}, [("s3:DeleteObject", f"arn:aws:s3:::{BUCKET}/k")]),
        ("ListObjectsV2", {"Prefix": "work/"}, [("s3:ListBucket", f"arn:aws:s3:::{BUCKET}")]),
        ("CreateMultipartUpload", {"Key": "k"}, [("s3:PutObject", f"arn:aws:s3:::{BUCKET}/k")]),
        ("UploadPart", {"Key": "k", "UploadId": "u", "PartNumber": 1}, [("s3:PutObject", f"arn:aws:s3:::{BUCKET}/k")]),
        ("CompleteMultipartUpload", {"Key": "k", "UploadId": "u"}, [("s3:PutObject", f"arn:aws:s3:::{BUCKET}/k")]),
        (
            "AbortMultipartUpload",
            {"Key": "k", "UploadId": "u"},
            [("s3:AbortMultipartUpload", f"arn:aws:s3:::{BUCKET}/k")],
        ),
        (
            "CopyObject",
            {"Key": "latest/report.json", "CopySource": {"Bucket": BUCKET, "Key": "runs/r/report.json"}},
            [
                ("s3:GetObject", f"arn:aws:s3:::{BUCKET}/runs/r/report.json"),
                ("s3:PutObject", f"arn:aws:s3:::{BUCKET}/latest/report.json"),
            ],
        ),
        (
            "CopyObject",  # as botocore's own handler leaves CopySource: "bucket/key", URL-quoted
            {"Key": "b", "CopySource": f"{BUCKET}/runs/a%20b.json"},
            [("s3:GetObject", f"arn:aws:s3:::{BUCKET}/runs/a b.json"), ("s3:PutObject", f"arn:aws:s3:::{BUCKET}/b")],
        ),
    ],
)
def test_s3_object_and_bucket_operations(
    operation: str, params: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert authorised("s3", operation, Bucket=BUCKET, **params) == expected


def test_s3_listing_carries_its_condition_keys_and_the_global_ones() -> None:
    (request,) = authorization_requests(call("s3", "ListObjectsV2", Bucket=BUCKET, Prefix="work/r/jobs/", MaxKeys=100))
    assert request.context["s3:prefix"] == ("work/r/jobs/",)
    assert request.context["s3:max-keys"] == ("100",)
    assert "s3:delimiter" not in request.context
    assert request.context["aws:SecureTransport"] == ("true",)
    assert request.context["aws:PrincipalArn"] == (ROLE,)
    (unprefixed,) = authorization_requests(call("s3", "ListObjectsV2", Bucket=BUCKET))
    assert "s3:prefix" not in unprefixed.context


def test_dynamodb_tables_indexes_and_transactions_per_item() -> None:
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/runs"
    assert authorised("dynamodb", "GetItem", TableName="runs", Key={}) == [("dynamodb:GetItem", table)]
    assert authorised("dynamodb", "Query", TableName="runs", IndexName="by-status") == [
        ("dynamodb:Query", f"{table}/index/by-status")
    ]
    transaction = [
        {"Update": {"TableName": "runs", "Key": {}}},
        {"ConditionCheck": {"TableName": "locks", "Key": {}}},
        {"Put": {"TableName": "runs", "Item": {}}},
    ]
    assert authorised("dynamodb", "TransactWriteItems", TransactItems=transaction) == [
        ("dynamodb:UpdateItem", table),
        ("dynamodb:ConditionCheckItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/locks"),
        ("dynamodb:PutItem", table),
    ]


def test_sqs_queue_from_its_url_and_batches_as_single_actions() -> None:
    url = f"https://sqs.{REGION}.amazonaws.com/210987654321/lg-FixJobQueue"
    queue = f"arn:aws:sqs:{REGION}:210987654321:lg-FixJobQueue"
    assert authorised("sqs", "SendMessageBatch", QueueUrl=url, Entries=[]) == [("sqs:SendMessage", queue)]
    assert authorised("sqs", "DeleteMessageBatch", QueueUrl=url, Entries=[]) == [("sqs:DeleteMessage", queue)]
    assert authorised("sqs", "ChangeMessageVisibilityBatch", QueueUrl=url, Entries=[]) == [
        ("sqs:ChangeMessageVisibility", queue)
    ]
    assert authorised("sqs", "ReceiveMessage", QueueUrl=url) == [("sqs:ReceiveMessage", queue)]
    assert authorised("sqs", "GetQueueUrl", QueueName="lg-FixJobQueue") == [
        ("sqs:GetQueueUrl", f"arn:aws:sqs:{REGION}:{ACCOUNT}:lg-FixJobQueue")
    ]


def test_lambda_secrets_manager_and_step_functions_resources() -> None:
    function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:lg-Report"
    assert authorised("lambda", "Invoke", FunctionName="lg-Report") == [("lambda:InvokeFunction", function)]
    assert authorised("lambda", "Invoke", FunctionName=function, Qualifier="live") == [
        ("lambda:InvokeFunction", f"{function}:live")
    ]
    secret = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:lg/hubspot-token-AbCdEf"
    assert authorised("secretsmanager", "GetSecretValue", SecretId=secret) == [
        ("secretsmanager:GetSecretValue", secret)
    ]
    execution = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:lg-machine:run-1"
    assert authorised("states", "DescribeExecution", executionArn=execution) == [
        ("states:DescribeExecution", execution)
    ]
    assert authorised("states", "SendTaskSuccess", taskToken="t", output="{}") == [("states:SendTaskSuccess", "*")]


@pytest.mark.parametrize(
    ("iam_prefix", "operation", "params", "message"),
    [
        ("ec2", "DescribeInstances", {}, "service 'ec2' is not mapped"),
        ("s3", "SelectObjectContent", {"Bucket": BUCKET, "Key": "k"}, "not an IAM action"),
        ("sqs", "SendMessage", {"MessageBody": "x"}, "names no resource"),
        ("secretsmanager", "GetSecretValue", {"SecretId": "lg/hubspot-token"}, "by name"),
        (
            "states",
            "DescribeExecution",
            {"executionArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:m"},
            "none of",
        ),
    ],
    ids=["unknown service", "operation with no action of its name", "no resource", "secret by name", "wrong arn type"],
)
def test_a_call_it_cannot_map_fails_loudly(
    iam_prefix: str, operation: str, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(UnmappedCallError, match=message):
        authorization_requests(call(iam_prefix, operation, **params))
