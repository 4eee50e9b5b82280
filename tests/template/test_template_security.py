"""Security properties of the transformed template: storage encryption and access, least-privilege roles."""

import re
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


# S3 rights no step needs: object ACLs (the bucket enforces BucketOwnerEnforced) and bucket configuration, which
# the S3CrudPolicy template would grant (s3:PutObjectAcl, s3:PutLifecycleConfiguration).
FORBIDDEN_S3_ACTIONS = ("s3:PutObjectAcl", "s3:PutLifecycleConfiguration", "s3:PutBucket", "s3:DeleteBucket", "s3:*")
# Object prefixes a step may write (storage.py's layout); whole-bucket object grants are never needed.
WRITE_PREFIXES = ("work/", "runs/", "latest/")


def s3_statements(resources: Resources) -> list[tuple[str, dict[str, Any]]]:
    """(function, statement) for every Allow of an s3 action in a function role's inline policies."""
    found = []
    for logical_id in of_type(resources, "AWS::Lambda::Function"):
        for policy in resources[f"{logical_id}Role"]["Properties"].get("Policies", []):
            for statement in as_list(policy["PolicyDocument"]["Statement"]):
                if statement["Effect"] == "Allow" and any(a.startswith("s3:") for a in as_list(statement["Action"])):
                    found.append((logical_id, statement))
    return found


def object_prefix(resource: Any) -> str | None:
    """The key pattern of a `!Sub "${ReportBucket.Arn}/<pattern>"` resource; None for the bucket itself."""
    if resource == {"Fn::GetAtt": ["ReportBucket", "Arn"]}:
        return None
    assert isinstance(resource, dict), resource
    assert isinstance(resource.get("Fn::Sub"), str), resource
    bucket, _, pattern = resource["Fn::Sub"].partition("/")
    assert bucket == "${ReportBucket.Arn}", resource
    return pattern


def test_no_function_uses_an_s3_policy_template(sam_template: Any) -> None:
    for logical_id, resource in sam_template.resources.items():
        for policy in resource.get("Properties", {}).get("Policies", []):
            if isinstance(policy, dict):
                assert not [name for name in policy if name.startswith("S3")], (logical_id, policy)


def test_s3_grants_are_scoped_to_the_report_bucket_prefixes_a_step_writes(resources: Resources) -> None:
    statements = s3_statements(resources)
    assert {logical_id for logical_id, _ in statements} == set(of_type(resources, "AWS::Lambda::Function"))
    for logical_id, statement in statements:
        actions = as_list(statement["Action"])
        assert not [a for a in actions if a.startswith(FORBIDDEN_S3_ACTIONS)], (logical_id, actions)
        prefixes = [object_prefix(resource) for resource in as_list(statement["Resource"])]
        if actions == ["s3:ListBucket"]:
            assert prefixes == [None], logical_id  # names only, on the bucket
            continue
        assert None not in prefixes, (logical_id, actions)  # object actions on objects only
        for prefix in prefixes:
            assert prefix is not None
            assert prefix.startswith(WRITE_PREFIXES), (logical_id, actions, prefix)
        if set(actions) - {"s3:GetObject"}:  # a write: never a whole top-level prefix of everyone's files
            assert not [p for p in prefixes if p in ("runs/*", "latest/*")], (logical_id, actions, prefixes)


def test_only_the_report_step_writes_reports_and_only_begin_the_run_index(resources: Resources) -> None:
    writers: dict[str, set[str]] = {}
    for logical_id, statement in s3_statements(resources):
        if set(as_list(statement["Action"])) & {"s3:PutObject", "s3:DeleteObject"}:
            for resource in as_list(statement["Resource"]):
                writers.setdefault(str(object_prefix(resource)), set()).add(logical_id)
    for report_file in ("latest/report.json", "latest/report.html", "runs/*/report.json", "runs/*/report.html"):
        assert writers[report_file] == {"ReportFunction"}, report_file
    assert writers["runs/index/*"] == {"AuditPlanFunction"}
    assert writers["work/*/plan-counts.json"] == {"ProgressFunction"}


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://api.hubapi.com", True),
        ("http://api.hubapi.com", False),
        ("https://", False),
        ("api.hubapi.com", False),
    ],
)
def test_the_hubspot_base_url_parameter_takes_https_only(sam_template: Any, url: str, accepted: bool) -> None:
    # CloudFormation matches AllowedPattern against the whole value (moto does not check it: the offline harness
    # may aim the functions at the sandbox on 127.0.0.1, which the functions' own settings allow).
    pattern = sam_template.body["Parameters"]["HubSpotBaseUrl"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, url)) is accepted
