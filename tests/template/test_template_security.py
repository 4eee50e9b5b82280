"""Security properties of the transformed template: storage encryption and access, least-privilege roles."""

from typing import Any

import pytest

Resources = dict[str, dict[str, Any]]

# Managed policies a role may carry although they grant actions on "*", and why.
ALLOWED_MANAGED_POLICIES = {
    # Lambda's baseline: CreateLogGroup/CreateLogStream/PutLogEvents for the function's own log group.
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    # Tracing: Active. xray:PutTraceSegments/PutTelemetryRecords support no resource-level permissions.
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}
# SAM attaches this to a function with an SQS *event* (receive/delete on every queue of the account); the template
# declares the worker's event source mapping itself, with an SQSPollerPolicy scoped to the job queue, to avoid it.
SQS_EXECUTION_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"

# Step Functions' CloudWatch Logs delivery: these APIs take no resource ARN, AWS documents them on "*".
LOG_DELIVERY_ACTIONS = {
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def of_type(resources: Resources, resource_type: str) -> Resources:
    return {logical_id: r for logical_id, r in resources.items() if r["Type"] == resource_type}


def test_report_bucket_is_private_encrypted_versioned_and_expires(resources: Resources) -> None:
    bucket = resources["ReportBucket"]["Properties"]
    (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]  # ACLs off
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = {rule["Prefix"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"] if "Prefix" in rule}
    assert rules["runs/"]["ExpirationInDays"] == {"Ref": "RunRetentionDays"}
    assert all(rule["Status"] == "Enabled" and "NoncurrentVersionExpiration" in rule for rule in rules.values())
    assert all("ExpirationInDays" in rule for rule in rules.values())


def test_report_bucket_policy_denies_plain_http(resources: Resources) -> None:
    policy = resources["ReportBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "ReportBucket"}
    (deny,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert (deny["Principal"], deny["Action"]) == ("*", "s3:*")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [{"Fn::GetAtt": ["ReportBucket", "Arn"]}, {"Fn::Sub": "${ReportBucket.Arn}/*"}]


def test_run_table_has_ttl_point_in_time_recovery_and_encryption(resources: Resources) -> None:
    table = resources["RunTable"]["Properties"]
    assert table["TimeToLiveSpecification"]["Enabled"] is True
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"]["SSEEnabled"] is True


def test_each_function_has_a_role_of_its_own(resources: Resources) -> None:
    functions = of_type(resources, "AWS::Lambda::Function")
    roles = {logical_id: f["Properties"]["Role"] for logical_id, f in functions.items()}
    assert all(role == {"Fn::GetAtt": [f"{logical_id}Role", "Arn"]} for logical_id, role in roles.items())
    for logical_id in functions:
        trust = resources[f"{logical_id}Role"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust == [
            {"Action": ["sts:AssumeRole"], "Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com"]}}
        ]


@pytest.mark.parametrize("role_kind", ["function", "state machine", "schedule"])
def test_roles_grant_no_wildcards_beyond_the_listed_exceptions(resources: Resources, role_kind: str) -> None:
    principal = {"function": "lambda", "state machine": "states", "schedule": "scheduler"}[role_kind]
    roles = {
        logical_id: role["Properties"]
        for logical_id, role in of_type(resources, "AWS::IAM::Role").items()
        if f"{principal}.amazonaws.com" in str(role["Properties"]["AssumeRolePolicyDocument"])
    }
    assert roles, f"no {role_kind} role found"
    for logical_id, role in roles.items():
        managed = set(role.get("ManagedPolicyArns", []))
        assert managed <= ALLOWED_MANAGED_POLICIES, logical_id
        assert SQS_EXECUTION_POLICY not in managed, logical_id
        for policy in role.get("Policies", []):
            for statement in as_list(policy["PolicyDocument"]["Statement"]):
                if statement["Effect"] != "Allow":
                    continue
                actions = as_list(statement["Action"])
                assert not [a for a in actions if a == "*" or a.endswith(":*")], (logical_id, actions)
                if "*" in as_list(statement["Resource"]):
                    assert set(actions) <= LOG_DELIVERY_ACTIONS, (logical_id, actions)
