"""The IAM policy evaluator against the examples and rules of AWS's IAM User Guide (the page of each rule is named)."""

from typing import Any

import pytest

from lifecycle_guard_offline.iam_policy import (
    AuthorizationRequest,
    Decision,
    PolicyError,
    PolicyEvaluator,
    UnsupportedPolicyError,
    arn_match,
)

BUCKET = "arn:aws:s3:::amzn-s3-demo-bucket"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def decide(document: dict[str, Any], action: str, resource: str, **context: str) -> Decision:
    request = AuthorizationRequest(action, resource, {key: (value,) for key, value in context.items()})
    return PolicyEvaluator({"policy": document}).evaluate(request).decision


# ---- evaluation logic (reference_policies_evaluation-logic)


def test_an_allow_allows_and_anything_unlisted_is_implicitly_denied() -> None:
    document = policy(allow("s3:GetObject", f"{BUCKET}/*"))
    assert decide(document, "s3:GetObject", f"{BUCKET}/report.json") is Decision.ALLOWED
    assert decide(document, "s3:PutObject", f"{BUCKET}/report.json") is Decision.IMPLICIT_DENY
    assert decide(document, "s3:GetObject", "arn:aws:s3:::other-bucket/report.json") is Decision.IMPLICIT_DENY


def test_an_explicit_deny_overrides_any_allow_in_any_policy() -> None:
    evaluator = PolicyEvaluator(
        {
            "broad": policy(allow("s3:*", "*")),
            "guard": policy(deny("s3:DeleteObject", f"{BUCKET}/runs/*")),
        }
    )
    denied = evaluator.evaluate(AuthorizationRequest("s3:DeleteObject", f"{BUCKET}/runs/a/report.json", {}))
    assert (denied.decision, denied.statement) == (Decision.EXPLICIT_DENY, "guard#0")
    allowed = evaluator.evaluate(AuthorizationRequest("s3:DeleteObject", f"{BUCKET}/work/a.json", {}))
    assert (allowed.decision, allowed.statement) == (Decision.ALLOWED, "broad#0")


def test_the_deciding_statement_is_named_by_its_sid() -> None:
    evaluator = PolicyEvaluator({"p": policy({"Sid": "ReadReports", **allow("s3:GetObject", "*")})})
    assert evaluator.evaluate(AuthorizationRequest("s3:GetObject", f"{BUCKET}/x", {})).statement == "p#ReadReports"


# ---- Action / NotAction (reference_policies_elements_action)


def test_action_names_are_case_insensitive_and_take_wildcards() -> None:
    assert decide(policy(allow("S3:getobject", "*")), "s3:GetObject", f"{BUCKET}/x") is Decision.ALLOWED
    document = policy(allow(["sqs:SendMessage*", "s3:Get*Version", "dynamodb:?etItem"], "*"))
    assert decide(document, "sqs:SendMessage", "*") is Decision.ALLOWED
    assert decide(document, "s3:GetObjectVersion", "*") is Decision.ALLOWED
    assert decide(document, "dynamodb:GetItem", "*") is Decision.ALLOWED
    assert decide(document, "dynamodb:BatchGetItem", "*") is Decision.IMPLICIT_DENY  # ? is one character
    assert decide(document, "s3:GetObject", "*") is Decision.IMPLICIT_DENY


def test_not_action_allows_everything_it_does_not_list() -> None:
    document = policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert decide(document, "s3:PutObject", f"{BUCKET}/x") is Decision.ALLOWED
    assert decide(document, "iam:CreateUser", "*") is Decision.IMPLICIT_DENY


# ---- Resource / NotResource (reference_policies_elements_resource)


def test_resource_arns_are_case_sensitive() -> None:
    assert decide(policy(allow("s3:GetObject", f"{BUCKET}/Runs/*")), "s3:GetObject", f"{BUCKET}/runs/x") is (
        Decision.IMPLICIT_DENY
    )


def test_a_trailing_wildcard_spans_slashes_and_colons_of_the_resource_part() -> None:
    document = policy(allow("s3:PutObject", f"{BUCKET}/runs/*/report.json"))
    assert decide(document, "s3:PutObject", f"{BUCKET}/runs/2026/12/03/run-1/report.json") is Decision.ALLOWED
    assert decide(document, "s3:PutObject", f"{BUCKET}/runs/2026/12/03/run-1/plan.jsonl") is Decision.IMPLICIT_DENY
    function = "arn:aws:lambda:us-east-1:123456789012:function:lifecycle-guard-Report"
    assert decide(
        policy(allow("lambda:InvokeFunction", f"{function}*")), "lambda:InvokeFunction", f"{function}:live"
    ) is (Decision.ALLOWED)


def test_wildcards_stay_within_their_arn_segment() -> None:
    # "?" and "*" in the region segment do not reach into the account segment.
    assert arn_match("arn:aws:sqs:us-east-?:123456789012:jobs", "arn:aws:sqs:us-east-1:123456789012:jobs")
    assert not arn_match("arn:aws:sqs:*:jobs", "arn:aws:sqs:us-east-1:123456789012:jobs")
    assert arn_match("*", "arn:aws:sqs:us-east-1:123456789012:jobs")
    assert not arn_match("arn:aws:sqs:us-east-1:123456789012:jobs", "*")  # "*" is only a pattern


def test_not_resource_allows_every_resource_it_does_not_list() -> None:
    document = policy({"Effect": "Allow", "Action": "s3:GetObject", "NotResource": f"{BUCKET}/secret/*"})
    assert decide(document, "s3:GetObject", f"{BUCKET}/runs/x") is Decision.ALLOWED
    assert decide(document, "s3:GetObject", f"{BUCKET}/secret/x") is Decision.IMPLICIT_DENY


# ---- Condition (reference_policies_elements_condition_operators)


def list_bucket_with_prefixes(*prefixes: str) -> dict[str, Any]:
    """The User Guide's example: s3:ListBucket limited to prefixes with StringLike on s3:prefix."""
    return policy(allow("s3:ListBucket", BUCKET, Condition={"StringLike": {"s3:prefix": list(prefixes)}}))


def test_a_prefix_condition_allows_only_the_listed_prefixes() -> None:
    document = list_bucket_with_prefixes("work/*", "runs/index/*")
    assert decide(document, "s3:ListBucket", BUCKET, **{"s3:prefix": "work/run-1/jobs/"}) is Decision.ALLOWED
    assert decide(document, "s3:ListBucket", BUCKET, **{"s3:prefix": "runs/index/"}) is Decision.ALLOWED
    assert decide(document, "s3:ListBucket", BUCKET, **{"s3:prefix": "latest/"}) is Decision.IMPLICIT_DENY
    # No prefix in the request: the key is absent and the condition fails (a full listing is not allowed).
    assert decide(document, "s3:ListBucket", BUCKET) is Decision.IMPLICIT_DENY


def test_condition_keys_are_case_insensitive_and_values_case_sensitive() -> None:
    document = list_bucket_with_prefixes("work/*")
    assert decide(document, "s3:ListBucket", BUCKET, **{"S3:Prefix": "work/a"}) is Decision.ALLOWED
    assert decide(document, "s3:ListBucket", BUCKET, **{"s3:prefix": "WORK/a"}) is Decision.IMPLICIT_DENY


def test_a_failed_condition_on_a_deny_leaves_the_allow_standing() -> None:
    document = policy(
        allow("s3:*", "*"),
        deny("s3:*", "*", Condition={"Bool": {"aws:SecureTransport": "false"}}),
    )
    assert decide(document, "s3:GetObject", f"{BUCKET}/x", **{"aws:SecureTransport": "true"}) is Decision.ALLOWED
    assert decide(document, "s3:GetObject", f"{BUCKET}/x", **{"aws:SecureTransport": "false"}) is (
        Decision.EXPLICIT_DENY
    )


def test_all_operators_and_keys_must_match_any_value_may() -> None:
    document = policy(
        allow(
            "s3:ListBucket",
            BUCKET,
            Condition={
                "StringEquals": {"s3:delimiter": "/", "aws:RequestedRegion": ["us-east-1", "eu-west-1"]},
                "NumericLessThanEquals": {"s3:max-keys": "1000"},
            },
        )
    )
    good = {"s3:delimiter": "/", "aws:RequestedRegion": "eu-west-1", "s3:max-keys": "100"}
    assert decide(document, "s3:ListBucket", BUCKET, **good) is Decision.ALLOWED
    assert decide(document, "s3:ListBucket", BUCKET, **{**good, "s3:max-keys": "5000"}) is Decision.IMPLICIT_DENY
    assert decide(document, "s3:ListBucket", BUCKET, **{**good, "aws:RequestedRegion": "us-west-2"}) is (
        Decision.IMPLICIT_DENY
    )


def test_absent_keys_fail_positive_operators_and_satisfy_negated_ones_and_if_exists() -> None:
    not_like = policy(allow("s3:ListBucket", BUCKET, Condition={"StringNotLike": {"s3:prefix": "private/*"}}))
    assert decide(not_like, "s3:ListBucket", BUCKET) is Decision.ALLOWED
    assert decide(not_like, "s3:ListBucket", BUCKET, **{"s3:prefix": "private/a"}) is Decision.IMPLICIT_DENY
    if_exists = policy(allow("s3:ListBucket", BUCKET, Condition={"StringLikeIfExists": {"s3:prefix": "work/*"}}))
    assert decide(if_exists, "s3:ListBucket", BUCKET) is Decision.ALLOWED
    assert decide(if_exists, "s3:ListBucket", BUCKET, **{"s3:prefix": "runs/"}) is Decision.IMPLICIT_DENY


def test_null_checks_whether_a_key_is_present() -> None:
    document = policy(allow("s3:ListBucket", BUCKET, Condition={"Null": {"s3:prefix": "false"}}))
    assert decide(document, "s3:ListBucket", BUCKET, **{"s3:prefix": "x"}) is Decision.ALLOWED
    assert decide(document, "s3:ListBucket", BUCKET) is Decision.IMPLICIT_DENY


def test_arn_like_conditions_match_segment_by_segment() -> None:
    document = policy(
        allow("sqs:SendMessage", "*", Condition={"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/lg-*"}})
    )
    arn = "arn:aws:iam::123456789012:role/lg-Progress"
    assert decide(document, "sqs:SendMessage", "*", **{"aws:PrincipalArn": arn}) is Decision.ALLOWED
    other = "arn:aws:iam::123456789012:role/admin"
    assert decide(document, "sqs:SendMessage", "*", **{"aws:PrincipalArn": other}) is Decision.IMPLICIT_DENY


def test_set_operators_over_multi_valued_keys() -> None:
    # reference_policies_condition-single-vs-multi-valued-context-keys: ForAllValues is true for an absent key.
    for_all = policy(
        allow(
            "dynamodb:GetItem", "*", Condition={"ForAllValues:StringEquals": {"dynamodb:Attributes": ["id", "status"]}}
        )
    )
    evaluator = PolicyEvaluator({"p": for_all})

    def attributes(*names: str) -> Decision:
        context = {"dynamodb:Attributes": names} if names else {}
        return evaluator.evaluate(AuthorizationRequest("dynamodb:GetItem", "*", context)).decision

    assert attributes("id", "status") is Decision.ALLOWED
    assert attributes("id", "secret") is Decision.IMPLICIT_DENY
    assert attributes() is Decision.ALLOWED
    for_any = PolicyEvaluator(
        {
            "p": policy(
                allow("dynamodb:GetItem", "*", Condition={"ForAnyValue:StringEquals": {"dynamodb:Attributes": "id"}})
            )
        }
    )
    assert for_any.evaluate(
        AuthorizationRequest("dynamodb:GetItem", "*", {"dynamodb:Attributes": ("x", "id")})
    ).decision is (Decision.ALLOWED)
    assert for_any.evaluate(AuthorizationRequest("dynamodb:GetItem", "*", {})).decision is Decision.IMPLICIT_DENY


# ---- what it refuses to guess


@pytest.mark.parametrize(
    "statement",
    [
        allow("s3:GetObject", "*", Condition={"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}),
        allow("s3:GetObject", "*", Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}),
        allow("s3:GetObject", f"{BUCKET}/home/${{aws:username}}/*"),
        {**allow("s3:GetObject", "*"), "Principal": "*"},
    ],
    ids=["date operator", "ip operator", "policy variable", "principal in an identity policy"],
)
def test_what_it_does_not_implement_raises_instead_of_guessing(statement: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedPolicyError):
        PolicyEvaluator({"p": policy(statement)})


@pytest.mark.parametrize(
    "document",
    [
        policy({"Effect": "Permit", "Action": "s3:GetObject", "Resource": "*"}),
        policy({"Effect": "Allow", "Action": "s3:GetObject", "NotAction": "s3:PutObject", "Resource": "*"}),
        policy({"Effect": "Allow", "Action": "s3:GetObject"}),
        {"Version": "2012-10-17"},
        {"Version": "2020-01-01", "Statement": []},
    ],
    ids=["bad effect", "action and not action", "no resource", "no statement", "unknown version"],
)
def test_invalid_policies_are_rejected(document: dict[str, Any]) -> None:
    with pytest.raises(PolicyError):
        PolicyEvaluator({"p": document})
