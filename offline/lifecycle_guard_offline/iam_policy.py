"""IAM identity-policy evaluation: does a role's set of policies allow one request (action, resource, context)?

What AWS documents for a principal and a resource in the same account, with no SCP, permissions boundary or
session policy ("Policy evaluation logic", IAM User Guide, reference_policies_evaluation-logic.html):

- an explicit Deny in any matching statement wins;
- otherwise an Allow in any matching statement allows;
- otherwise the request is implicitly denied.

A statement matches when its Action (or NotAction), its Resource (or NotResource) and every Condition match.

- Action names are case-insensitive; `*` matches any run of characters, `?` one character
  (reference_policies_elements_action.html). NotAction matches every action it does not list.
- Resource ARNs are case-sensitive and matched segment by segment (the colon-separated parts); a wildcard stays in
  its segment except in the last (resource) part, where `*` also matches colons and slashes
  (reference_policies_elements_resource.html: "If the * wildcard is the last character of a resource ARN segment, it
  can expand to match beyond the colon boundaries"). A Resource of "*" matches everything.
- Condition (reference_policies_elements_condition_operators.html): all operators of a statement and all keys of an
  operator must match (AND); any of an operator's values may match (OR). Key names are case-insensitive. A key absent
  from the request makes the operator false, except negated operators (true), `...IfExists` (true) and `Null`. With
  `ForAnyValue:` one request value must match, with `ForAllValues:` every one (true when the key is absent)
  (reference_policies_condition-single-vs-multi-valued-context-keys.html). Operators implemented: the String, Arn,
  Bool, Numeric and Null families; any other (Date, IpAddress, Binary) raises `UnsupportedPolicyError` rather than
  guessing, and so do policy variables (`${aws:username}`) and an identity policy with a Principal.
"""

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import Any


class PolicyError(ValueError):
    """A policy document IAM would reject (missing Effect, both Action and NotAction, ...)."""


class UnsupportedPolicyError(PolicyError):
    """Valid IAM, but outside what this evaluator implements: evaluating it would be a guess."""


class Decision(Enum):
    ALLOWED = "allowed"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


@dataclass(frozen=True)
class AuthorizationRequest:
    """One authorisation IAM makes: an API call needs one or more (e.g. CopyObject: GetObject and PutObject)."""

    action: str  # "s3:GetObject"
    resource: str  # an ARN, or "*" for actions that take no resource
    context: Mapping[str, Sequence[str]]  # condition key -> its values in this request (most keys have one)


@dataclass(frozen=True)
class Evaluation:
    decision: Decision
    statement: str | None  # "<policy name>#<Sid or statement index>" of the deciding statement


@cache
def _wildcard_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """`*` any run of characters, `?` one character, everything else literal."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return _wildcard_regex(pattern, ignore_case).fullmatch(value) is not None


def arn_match(pattern: str, arn: str) -> bool:
    """Resource/ArnLike matching: the five colon-separated prefix segments each on their own, then the rest."""
    if pattern == "*":
        return True
    pattern_parts, arn_parts = pattern.split(":", 5), arn.split(":", 5)
    if len(pattern_parts) != 6 or len(arn_parts) != 6:
        return False
    return all(wildcard_match(p, a) for p, a in zip(pattern_parts, arn_parts, strict=True))


def _as_list(value: Any, element: str) -> list[str]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) for v in values):
        raise PolicyError(f"{element} must be a string or a non-empty list of strings, got {value!r}")
    for text in values:
        if "${" in text:
            raise UnsupportedPolicyError(f"policy variables are not supported: {element} {text!r}")
    return values


# ---------------------------------------------------------------- conditions

Comparison = Callable[[str, str], bool]  # (request value, policy value) -> match


def _numeric(compare: Callable[[float, float], bool]) -> Comparison:
    def comparison(request_value: str, policy_value: str) -> bool:
        try:
            return compare(float(request_value), float(policy_value))
        except ValueError:
            return False  # a value that is not a number matches no numeric operator

    return comparison


def _bool(request_value: str, policy_value: str) -> bool:
    return request_value.lower() == policy_value.lower()


# Operator -> (comparison, negated). Negated operators match when no policy value matches.
_OPERATORS: dict[str, tuple[Comparison, bool]] = {
    "StringEquals": (lambda r, p: r == p, False),
    "StringNotEquals": (lambda r, p: r == p, True),
    "StringEqualsIgnoreCase": (lambda r, p: r.lower() == p.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda r, p: r.lower() == p.lower(), True),
    "StringLike": (lambda r, p: wildcard_match(p, r), False),
    "StringNotLike": (lambda r, p: wildcard_match(p, r), True),
    "ArnEquals": (lambda r, p: arn_match(p, r), False),
    "ArnLike": (lambda r, p: arn_match(p, r), False),
    "ArnNotEquals": (lambda r, p: arn_match(p, r), True),
    "ArnNotLike": (lambda r, p: arn_match(p, r), True),
    "Bool": (_bool, False),
    "NumericEquals": (_numeric(lambda r, p: r == p), False),
    "NumericNotEquals": (_numeric(lambda r, p: r == p), True),
    "NumericLessThan": (_numeric(lambda r, p: r < p), False),
    "NumericLessThanEquals": (_numeric(lambda r, p: r <= p), False),
    "NumericGreaterThan": (_numeric(lambda r, p: r > p), False),
    "NumericGreaterThanEquals": (_numeric(lambda r, p: r >= p), False),
}


@dataclass(frozen=True)
class _Condition:
    """One operator of a Condition block applied to one key."""

    key: str  # lower-cased: condition keys are case-insensitive
    operator: str
    qualifier: str | None  # "ForAnyValue", "ForAllValues" or None
    if_exists: bool
    values: tuple[str, ...]

    @classmethod
    def parse(cls, operator_text: str, key: str, raw_values: Any) -> "_Condition":
        qualifier, _, operator = operator_text.rpartition(":")
        if qualifier not in ("", "ForAnyValue", "ForAllValues"):
            raise PolicyError(f"unknown condition set operator {qualifier!r}")
        if_exists = operator.endswith("IfExists") and operator != "Null"
        operator = operator.removesuffix("IfExists") if if_exists else operator
        if operator != "Null" and operator not in _OPERATORS:
            raise UnsupportedPolicyError(f"condition operator {operator_text!r} is not implemented")
        raw_list = raw_values if isinstance(raw_values, list) else [raw_values]
        values = tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in raw_list)
        if any("${" in value for value in values):
            raise UnsupportedPolicyError(f"policy variables are not supported: {operator_text} {key} {raw_values!r}")
        return cls(key.lower(), operator, qualifier or None, if_exists, values)

    def matches(self, context: Mapping[str, Sequence[str]]) -> bool:
        present = self.key in context and len(context[self.key]) > 0
        if self.operator == "Null":  # "true": the key must be absent; "false": present
            return present != (self.values[0].lower() == "true")
        comparison, negated = _OPERATORS[self.operator]
        if not present:
            if self.qualifier == "ForAllValues":
                return True
            return self.if_exists or (negated and self.qualifier is None)
        request_values = context[self.key]

        def value_matches(request_value: str) -> bool:
            matched = any(comparison(request_value, policy_value) for policy_value in self.values)
            return not matched if negated else matched

        if self.qualifier == "ForAllValues":
            return all(value_matches(v) for v in request_values)
        return any(value_matches(v) for v in request_values)


# ---------------------------------------------------------------- statements and policies


@dataclass(frozen=True)
class _Statement:
    name: str
    allow: bool
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    conditions: tuple[_Condition, ...]

    @classmethod
    def parse(cls, name: str, statement: Any) -> "_Statement":
        if not isinstance(statement, dict):
            raise PolicyError(f"{name}: a statement must be an object")
        if "Principal" in statement or "NotPrincipal" in statement:
            raise UnsupportedPolicyError(f"{name}: Principal belongs in resource-based policies, not a role's policy")
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError(f"{name}: Effect must be Allow or Deny, got {effect!r}")
        action_key = _exactly_one(statement, "Action", "NotAction", name)
        resource_key = _exactly_one(statement, "Resource", "NotResource", name)
        condition_block = statement.get("Condition", {})
        if not isinstance(condition_block, dict):
            raise PolicyError(f"{name}: Condition must be an object")
        conditions: list[_Condition] = []
        for operator_text, keys in condition_block.items():
            if not isinstance(keys, dict):
                raise PolicyError(f"{name}: condition {operator_text} must map keys to values")
            conditions.extend(_Condition.parse(operator_text, key, values) for key, values in keys.items())
        return cls(
            name=name,
            allow=effect == "Allow",
            actions=tuple(_as_list(statement[action_key], action_key)),
            not_action=action_key == "NotAction",
            resources=tuple(_as_list(statement[resource_key], resource_key)),
            not_resource=resource_key == "NotResource",
            conditions=tuple(conditions),
        )

    def matches(self, request: AuthorizationRequest) -> bool:
        action_listed = any(wildcard_match(a, request.action, ignore_case=True) for a in self.actions)
        if action_listed == self.not_action:
            return False
        resource_listed = any(arn_match(r, request.resource) for r in self.resources)
        if resource_listed == self.not_resource:
            return False
        return all(condition.matches(request.context) for condition in self.conditions)


def _exactly_one(statement: Mapping[str, Any], first: str, second: str, name: str) -> str:
    present = [key for key in (first, second) if key in statement]
    if len(present) != 1:
        raise PolicyError(f"{name}: a statement needs exactly one of {first} and {second}, has {present}")
    return present[0]


def _statements(policy_name: str, document: Any) -> Iterable[_Statement]:
    if not isinstance(document, dict) or "Statement" not in document:
        raise PolicyError(f"{policy_name}: a policy document needs a Statement")
    version = document.get("Version", "2008-10-17")
    if version not in ("2012-10-17", "2008-10-17"):
        raise PolicyError(f"{policy_name}: unknown policy Version {version!r}")
    raw = document["Statement"]
    for index, statement in enumerate(raw if isinstance(raw, list) else [raw]):
        sid = statement.get("Sid") if isinstance(statement, dict) else None
        yield _Statement.parse(f"{policy_name}#{sid or index}", statement)


class PolicyEvaluator:
    """The identity policies of one principal, parsed once; `evaluate` is cheap enough to call per API call."""

    def __init__(self, policies: Mapping[str, Any]) -> None:
        """`policies`: policy name -> policy document (parsed JSON)."""
        statements = [statement for name, doc in policies.items() for statement in _statements(name, doc)]
        self._denies = [statement for statement in statements if not statement.allow]
        self._allows = [statement for statement in statements if statement.allow]

    def evaluate(self, request: AuthorizationRequest) -> Evaluation:
        context = {key.lower(): values for key, values in request.context.items()}
        normalised = AuthorizationRequest(request.action, request.resource, context)
        for statement in self._denies:
            if statement.matches(normalised):
                return Evaluation(Decision.EXPLICIT_DENY, statement.name)
        for statement in self._allows:
            if statement.matches(normalised):
                return Evaluation(Decision.ALLOWED, statement.name)
        return Evaluation(Decision.IMPLICIT_DENY, None)
