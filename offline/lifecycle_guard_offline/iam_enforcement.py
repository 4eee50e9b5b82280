"""IAM enforced offline: every AWS call a Lambda, the state machine or the SQS poller makes is authorised against
the deployed role's policies before moto sees it, and refused as AWS refuses it.

moto's own IAM emulation (`INITIAL_NO_AUTH_ACTION_COUNT`) is not used: in moto 5.2.5 only S3, SQS, IAM and STS
compute the request's resource ARN (`_determine_resource`; every other service, DynamoDB, Secrets Manager, Step
Functions and Lambda included, authorises on "*", so any resource-scoped grant denies), it skips condition keys,
and it attributes a call by the credentials the client signed with, while Powertools caches one Secrets Manager
client per process for every function. Here instead:

- A botocore hook on every client (registered in `botocore.handlers.BUILTIN_HANDLERS`, as moto registers its own)
  authorises each call (`before-call`, after the request is built and before it is sent) with the parameters
  `call_params` kept: `iam_actions` derives the IAM action(s), resource ARN(s) and condition keys,
  `iam_policy` evaluates them against the caller's policies.
- The caller is who runs the code, not whose credentials a client holds (boto3's default session resolves
  credentials once, so every function's clients hold the same ones): `acting_as` marks the current context (the
  dispatcher around each handler, the SQS poller around its SQS calls), which a thread the handler hands work to
  with its context (`contextvars.copy_context`, as `storage.read_in_order` does) carries along. Clients of the
  operator's session
  (`OfflineApp.client`: tests, the CLI, the deployment) are never checked, on any thread. Calls on threads nobody
  marked are attributed by the access key they are signed with: the Step Functions engine's clients in moto 5.2.5
  sign with "ak" (`moto/stepfunctions/parser/asl/utils/boto_client.py`), so those calls are the state machine's
  role; the operator's key is the operator's; any other key fails loudly. A thread a handler starts without its
  context is unmarked, so its calls would pass as the operator's (the code's thread pools pass their context).
- A role's policies (inline and attached managed ones) are read from moto's IAM once, when enforcement starts.
- A refused call short-circuits `before-call` with the error response the service sends (status and error code per
  service, message in AWS's wording), so botocore raises the same ClientError it raises in AWS and the caller's
  error handling, Retry and Catch see what they would see there. A call that cannot be mapped raises
  `UnmappedCallError` in the caller.
- A read of a missing S3 key is answered as S3 answers it (`after-call`): 404 NoSuchKey only to a caller allowed
  s3:ListBucket on the bucket, 403 AccessDenied to any other, so that it learns nothing of which keys exist
  (AmazonS3 API Reference, GetObject and HeadObject, "Permissions"). moto answers 404 to everyone, which would hide
  a role that reads keys that may be missing without the right to list the bucket. That authorisation is listed in
  `calls` under the read (`operation` "s3:GetObject", `action` "s3:ListBucket").

One enforcer at a time per process (the hook is process-global); `OfflineApp` installs it.
"""

import ast
import json
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote, urlparse

import boto3
from botocore.awsrequest import AWSResponse
from botocore.handlers import BUILTIN_HANDLERS

from lifecycle_guard_offline.call_params import params_of
from lifecycle_guard_offline.iam_actions import ApiCall, UnmappedCallError, authorization_requests
from lifecycle_guard_offline.iam_policy import AuthorizationRequest, Decision, PolicyEvaluator

# The access key moto 5.2.5's Step Functions engine signs its service integrations' calls with.
STEP_FUNCTIONS_ENGINE_ACCESS_KEY = "ak"

_OPERATOR_KEY = "lifecycle_guard_offline.iam.operator"
_AUTHORISED_KEY = "lifecycle_guard_offline.iam.authorised"  # (principal, call) of a call IAM let through

# The S3 reads whose answer for a missing key depends on s3:ListBucket.
_KEY_READS = frozenset({"GetObject", "HeadObject"})

# What each service answers a refused call with (the services' "Common Errors" API reference pages; S3 and SQS
# answer AccessDenied, the JSON services AccessDeniedException).
_DENIAL_RESPONSES: dict[str, tuple[int, str]] = {
    "s3": (403, "AccessDenied"),
    "sqs": (403, "AccessDenied"),
    "lambda": (403, "AccessDeniedException"),
    "dynamodb": (400, "AccessDeniedException"),
    "secretsmanager": (400, "AccessDeniedException"),
    "states": (400, "AccessDeniedException"),
}


class UnattributedCallError(RuntimeError):
    """An AWS call that no known principal made: the harness would otherwise let it through unchecked."""


@dataclass(frozen=True)
class Principal:
    name: str  # the template's logical id of the function or state machine, or what the unchecked caller is
    role_arn: str | None  # None: not authorised by IAM here (the operator, AWS's own service internals)


OPERATOR = Principal("operator", None)


@dataclass(frozen=True)
class EvaluatedCall:
    principal: str
    operation: str  # "<IAM prefix>:<operation>", e.g. "s3:ListObjectsV2"
    action: str
    resource: str
    decision: Decision
    statement: str | None


class IamEnforcer:
    def __init__(
        self, session: boto3.session.Session, roles: Mapping[str, str], *, engine_role_arn: str | None
    ) -> None:
        """`roles`: role ARN -> the principal's name. `engine_role_arn`: the role of the stack's state machine, which
        the Step Functions engine's calls are made with (None: the stack has none, such calls fail loudly)."""
        iam = session.client("iam")
        self._operator_session = session
        self._principals = {arn: Principal(name, arn) for arn, name in roles.items()}
        self._evaluators = {arn: PolicyEvaluator(_role_policies(iam, arn)) for arn in roles}
        self._by_access_key = {_operator_access_key(session): OPERATOR}
        if engine_role_arn is not None:
            self._by_access_key[STEP_FUNCTIONS_ENGINE_ACCESS_KEY] = self._principals[engine_role_arn]
        self._lock = threading.Lock()
        self._calls: list[EvaluatedCall] = []

    @property
    def calls(self) -> list[EvaluatedCall]:
        """Every authorisation made so far, in order."""
        with self._lock:
            return list(self._calls)

    def principal(self, role_arn: str) -> Principal:
        if role_arn not in self._principals:
            raise LookupError(f"{role_arn} is not a role of the deployed stack")
        return self._principals[role_arn]

    @contextmanager
    def installed(self) -> Iterator["IamEnforcer"]:
        global _active  # noqa: PLW0603 - the hook is process-global, like moto's own
        if _active is not None:
            raise RuntimeError("another IamEnforcer is installed")
        # A default session created before this module was imported would lack the hook; the next boto3.client()
        # builds a new one from BUILTIN_HANDLERS.
        boto3.DEFAULT_SESSION = None
        self._operator_session.events.register(
            "before-parameter-build", _mark_operator, unique_id="lifecycle_guard_offline.iam.operator"
        )
        _active = self
        try:
            yield self
        finally:
            _active = None
            self._operator_session.events.unregister(
                "before-parameter-build", unique_id="lifecycle_guard_offline.iam.operator"
            )

    # ---------- the hook ----------
    def authorise(self, model: Any, request: Mapping[str, Any], signing_key: str | None, context: Any) -> Any:
        """None to let the call through; the (response, parsed) pair of a refusal otherwise."""
        if context.get(_OPERATOR_KEY):
            return None
        principal = _acting_principal() or self._by_access_key.get(signing_key or "")
        if principal is None:
            raise UnattributedCallError(
                f"{model.service_model.service_name}.{model.name} signed with access key {signing_key!r}, made by "
                "no Lambda handler, state machine or poller of the stack"
            )
        if principal.role_arn is None:
            return None
        iam_prefix = model.service_model.signing_name
        role_account = principal.role_arn.split(":")[4]
        call = ApiCall(
            iam_prefix=iam_prefix,
            operation=model.name,
            params=params_of(context),
            region=context.get("client_region") or "us-east-1",
            account=role_account,
            secure_transport=urlparse(request["url"]).scheme == "https",
            principal_arn=principal.role_arn,
        )
        evaluator = self._evaluators[principal.role_arn]
        for authorization in authorization_requests(call):
            evaluation = evaluator.evaluate(authorization)
            with self._lock:
                self._calls.append(
                    EvaluatedCall(
                        principal.name,
                        f"{iam_prefix}:{model.name}",
                        authorization.action,
                        authorization.resource,
                        evaluation.decision,
                        evaluation.statement,
                    )
                )
            if evaluation.decision is not Decision.ALLOWED:
                return _denial(iam_prefix, request["url"], principal, authorization, evaluation.decision)
        context[_AUTHORISED_KEY] = (principal, call)
        return None

    def conceal_missing_key(self, model: Any, http_response: AWSResponse, parsed: dict[str, Any], context: Any) -> None:
        """Turn moto's 404 for a missing key into S3's 403 when the caller may not list the bucket."""
        authorised = context.get(_AUTHORISED_KEY)
        if authorised is None or model.name not in _KEY_READS or http_response.status_code != 404:
            return
        principal, call = authorised
        assert principal.role_arn is not None  # only calls IAM authorised are stored
        listing = replace(call, operation="ListObjectsV2", params={"Bucket": call.params["Bucket"]})
        (authorization,) = authorization_requests(listing)
        evaluation = self._evaluators[principal.role_arn].evaluate(authorization)
        with self._lock:
            self._calls.append(
                EvaluatedCall(
                    principal.name,
                    f"s3:{model.name}",
                    authorization.action,
                    authorization.resource,
                    evaluation.decision,
                    evaluation.statement,
                )
            )
        if evaluation.decision is Decision.ALLOWED:
            return
        _, denied = _denial("s3", http_response.url, principal, authorization, evaluation.decision)
        if model.name == "HeadObject":  # a HEAD response has no body: botocore names the error by its status
            denied["Error"] = {"Code": "403", "Message": "Forbidden"}
        http_response.status_code = denied["ResponseMetadata"]["HTTPStatusCode"]
        parsed.clear()
        parsed.update(denied)


_active: IamEnforcer | None = None
# A context variable, not a thread-local: a handler that hands work to a thread pool with its context
# (``contextvars.copy_context``, as ``storage.read_in_order`` does) acts as its function's role there too.
_acting: ContextVar[Principal | None] = ContextVar("acting_principal", default=None)


@contextmanager
def acting_as(principal: Principal) -> Iterator[None]:
    """AWS calls made inside the block (on this thread, or on threads running its context) are `principal`'s
    (nests: the innermost wins)."""
    token = _acting.set(principal)
    try:
        yield
    finally:
        _acting.reset(token)


def _acting_principal() -> Principal | None:
    return _acting.get()


def _mark_operator(context: Any, **_: Any) -> None:
    context[_OPERATOR_KEY] = True


def _authorise(model: Any, params: Mapping[str, Any], request_signer: Any, context: Any, **_: Any) -> Any:
    if _active is None:
        return None
    # botocore keeps the client's credentials on its request signer only (a private attribute).
    credentials = getattr(request_signer, "_credentials", None)
    return _active.authorise(model, params, getattr(credentials, "access_key", None), context)


def _conceal_missing_key(
    http_response: AWSResponse, parsed: dict[str, Any], model: Any, context: Any, **_: Any
) -> None:
    if _active is not None:
        _active.conceal_missing_key(model, http_response, parsed, context)


BUILTIN_HANDLERS.append(("before-call", _authorise))
BUILTIN_HANDLERS.append(("after-call.s3", _conceal_missing_key))


def _denial(
    iam_prefix: str, url: str, principal: Principal, authorization: AuthorizationRequest, decision: Decision
) -> tuple[AWSResponse, dict[str, Any]]:
    status, code = _DENIAL_RESPONSES.get(iam_prefix, (403, "AccessDenied"))
    assert principal.role_arn is not None
    *_, role_name = principal.role_arn.split("/")
    account = principal.role_arn.split(":")[4]
    reason = (
        "with an explicit deny in an identity-based policy"
        if decision is Decision.EXPLICIT_DENY
        else f"because no identity-based policy allows the {authorization.action} action"
    )
    message = (
        f"User: arn:aws:sts::{account}:assumed-role/{role_name}/{principal.name} is not authorized to perform: "
        f"{authorization.action} on resource: {authorization.resource} {reason}"
    )
    request_id = str(uuid.uuid4())
    headers = {"x-amzn-requestid": request_id}
    parsed = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {
            "RequestId": request_id,
            "HTTPStatusCode": status,
            "HTTPHeaders": headers,
            "RetryAttempts": 0,
        },
    }
    return AWSResponse(url, status, headers, raw=None), parsed


def _role_policies(iam: Any, role_arn: str) -> dict[str, Any]:
    """Policy name -> document of the role's inline and attached managed policies."""
    role_name = role_arn.rsplit("/", 1)[-1]
    policies: dict[str, Any] = {}
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=role_name):
        for name in page["PolicyNames"]:
            document = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
            policies[name] = _document(document)
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role_name):
        for attached in page["AttachedPolicies"]:
            arn = attached["PolicyArn"]
            version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
            policies[arn] = _document(document)
    return policies


def _document(document: Any) -> Any:
    """A policy document as IAM returns it: parsed by botocore, or a string. moto 5.2.5 returns a role policy that
    CloudFormation created as `str(dict)` (Python literals, not JSON)."""
    if not isinstance(document, str):
        return document
    text = unquote(document)
    try:
        return json.loads(text)
    except ValueError:
        return ast.literal_eval(text)


def _operator_access_key(session: boto3.session.Session) -> str:
    credentials = session.get_credentials()
    if credentials is None:
        raise RuntimeError("the operator's session has no credentials")
    return str(credentials.access_key)


__all__ = [
    "OPERATOR",
    "EvaluatedCall",
    "IamEnforcer",
    "Principal",
    "UnattributedCallError",
    "UnmappedCallError",
    "acting_as",
]
