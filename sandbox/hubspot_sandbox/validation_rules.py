"""Portal validation rules: "records matching a condition cannot be set to lifecycle stage X".

HubSpot lets admins set property validation rules; they have been enforced on API writes since 2023-07-24 ("If a
property value does not meet the set requirement, you will receive a 400 status code", body
``{"status":"error","message":"Property values were not valid: [{"isValid":false,"message":"Enter only letters",
"error":"INVALID_ALPHA","name":"firstname"}]","correlationId":...,"category":"VALIDATION_ERROR"}``)
[OFFICIAL-DOC https://developers.hubspot.com/changelog/upcoming-property-validations-rules-will-be-enforced-for-apis-and-integrations],
and from API version ``2026-09`` on every CRM API write (changelog "crm-api-write-validation-enforcement", see
``shared/hubspot-openapi/README.md``). A violation rejects the whole request, like any invalid value.

HubSpot's own rule types are format rules on one property (``ruleType``/``ruleArguments``, Property validations
API). The rule here is the sandbox's shape for what the job must survive — a portal that refuses some stage for some
records — answered the way HubSpot answers a violated rule. UNCONFIRMED: the ``error`` code of such a problem
(``VALIDATION_RULE_VIOLATED`` here; HubSpot uses one code per rule type, e.g. ``INVALID_ALPHA``), that the message
names the record (HubSpot shows the admin's message; the sandbox appends the record so tests can tell which input
failed), and whether the legacy v3 endpoints enforce the newer rules too (a setting, on by default — the harsher
case). Workflow actions are not checked (the changelogs speak of API writes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hubspot_sandbox.catalog import LIFECYCLESTAGE, ObjectType, object_type
from hubspot_sandbox.errors import PropertyProblem

RULE_VIOLATED = "VALIDATION_RULE_VIOLATED"
# Operators of the condition; string comparisons ignore case, as HubSpot's filters do.
VALUE_OPERATORS = frozenset({"EQ", "NEQ", "CONTAINS", "NOT_CONTAINS"})
PRESENCE_OPERATORS = frozenset({"HAS_PROPERTY", "NOT_HAS_PROPERTY"})


@dataclass(frozen=True, slots=True)
class RuleCondition:
    """Which records a rule applies to, judged on the record's values as the write would leave them."""

    property: str
    operator: str
    value: str | None = None

    def matches(self, current: str | None) -> bool:
        if self.operator == "HAS_PROPERTY":
            return current is not None
        if self.operator == "NOT_HAS_PROPERTY":
            return current is None
        wanted, actual = (self.value or "").lower(), (current or "").lower()
        if self.operator == "EQ":
            return actual == wanted
        if self.operator == "NEQ":
            return actual != wanted
        contains = current is not None and wanted in actual
        return contains if self.operator == "CONTAINS" else not contains

    def describe(self) -> str:
        words = {
            "EQ": "is",
            "NEQ": "is not",
            "CONTAINS": "contains",
            "NOT_CONTAINS": "does not contain",
            "HAS_PROPERTY": "is known",
            "NOT_HAS_PROPERTY": "is unknown",
        }[self.operator]
        return f"{self.property} {words}" + (f' "{self.value}"' if self.operator in VALUE_OPERATORS else "")


@dataclass(frozen=True, slots=True)
class StageRule:
    """Records of ``object_type`` matching ``when`` cannot be set to ``forbid_stage``; ``message`` is the admin's."""

    object_type: str
    when: RuleCondition
    forbid_stage: str
    message: str | None = None

    def __post_init__(self) -> None:
        resolved = object_type(self.object_type)  # KeyError for an unknown type
        if not resolved.has_lifecycle:
            raise ValueError(f"{resolved.name} have no lifecycle stage")
        if self.when.property not in resolved.properties:
            raise ValueError(f"{resolved.name} have no property {self.when.property!r}")
        if self.when.operator not in VALUE_OPERATORS | PRESENCE_OPERATORS:
            raise ValueError(f"unknown operator {self.when.operator!r}")
        if self.when.operator in VALUE_OPERATORS and not self.when.value:
            raise ValueError(f"operator {self.when.operator} needs a value")
        if not self.forbid_stage:
            raise ValueError("forbid_stage must name a stage")
        object.__setattr__(self, "object_type", resolved.name)

    @classmethod
    def from_json(cls, raw: object) -> StageRule:
        """``{"object_type", "when": {"property", "operator", "value"}, "forbid_stage", "message"?}``."""
        if not isinstance(raw, Mapping) or not isinstance(raw.get("when"), Mapping):
            raise ValueError("a validation rule is an object with object_type, when and forbid_stage")
        when = raw["when"]
        try:
            return cls(
                object_type=str(raw["object_type"]),
                when=RuleCondition(
                    str(when["property"]),
                    str(when["operator"]).upper(),
                    None if when.get("value") is None else str(when["value"]),
                ),
                forbid_stage=str(raw["forbid_stage"]),
                message=None if raw.get("message") is None else str(raw["message"]),
            )
        except KeyError as missing:
            raise ValueError(f"a validation rule needs {missing}") from None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "object_type": self.object_type,
            "when": {"property": self.when.property, "operator": self.when.operator},
            "forbid_stage": self.forbid_stage,
        }
        if self.when.value is not None:
            data["when"]["value"] = self.when.value
        if self.message is not None:
            data["message"] = self.message
        return data


class RuleBook:
    """The rules of one object type by the stage they forbid: a write that sets no forbidden stage costs one lookup."""

    __slots__ = ("_by_stage",)

    def __init__(self, rules: Iterable[StageRule]) -> None:
        self._by_stage: dict[str, list[StageRule]] = {}
        for rule in rules:
            self._by_stage.setdefault(rule.forbid_stage, []).append(rule)

    def __bool__(self) -> bool:
        return bool(self._by_stage)

    def problems(
        self,
        resolved: ObjectType,
        record_id: str | None,
        new: Mapping[str, str | None],
        stored: Callable[[str], str | None],
    ) -> list[PropertyProblem]:
        """Violations of writing ``new`` to a record whose stored values ``stored`` reads (None: a new record)."""
        rules = self._by_stage.get(new.get(LIFECYCLESTAGE) or "")
        if not rules:
            return []
        record = f"{resolved.singular} {record_id}" if record_id is not None else f"a new {resolved.singular}"
        found = []
        for rule in rules:
            name = rule.when.property
            if rule.when.matches(new[name] if name in new else stored(name)):
                text = rule.message or (
                    f'Lifecycle stage "{rule.forbid_stage}" is not allowed when {rule.when.describe()}'
                )
                found.append(PropertyProblem(LIFECYCLESTAGE, RULE_VIOLATED, f"{text} ({record})"))
        return found
