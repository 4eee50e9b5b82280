"""Let moto's CloudFormation evaluate expressions for resources it cannot create itself (moto 5.2.5).

The harness creates the state machine and reads the schedule's input outside CloudFormation, but their properties
are CloudFormation expressions (`Fn::GetAtt`, `Fn::Sub` with parameters, `Fn::FindInMap`, ...). Rather than
re-implementing intrinsic functions, every expression in such a property tree becomes an extra stack output; moto
resolves outputs after creating the stack, exactly as it resolves everything else in the template. The extra
outputs are split off from the template's own outputs afterwards.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_KEY_PREFIX = "OfflineHarnessResolved"


@dataclass(frozen=True)
class _Pending:
    """Stands for an expression in a property tree until the stack output `key` holds its value."""

    key: str


def _is_intrinsic(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and any(k == "Ref" or k.startswith("Fn::") for k in value)


class ResolverOutputs:
    def __init__(self) -> None:
        self._expressions: dict[str, Any] = {}

    def defer(self, tree: Any) -> Any:
        """A copy of `tree` whose expressions are registered as outputs; pass it to `resolve` after deploying."""
        if _is_intrinsic(tree):
            key = f"{_KEY_PREFIX}{len(self._expressions)}"
            self._expressions[key] = tree
            return _Pending(key)
        if isinstance(tree, dict):
            return {name: self.defer(value) for name, value in tree.items()}
        if isinstance(tree, list):
            return [self.defer(value) for value in tree]
        return tree

    def attach_to(self, template: dict[str, Any]) -> None:
        outputs = template.setdefault("Outputs", {})
        clashes = [key for key in outputs if key.startswith(_KEY_PREFIX)]
        if clashes:
            raise ValueError(f"template outputs {clashes} clash with the harness's resolver outputs")
        outputs.update({key: {"Value": expression} for key, expression in self._expressions.items()})

    @staticmethod
    def split(stack_outputs: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        """(the template's own outputs, the resolved values by key)."""
        own = {key: value for key, value in stack_outputs.items() if not key.startswith(_KEY_PREFIX)}
        resolved = {key: value for key, value in stack_outputs.items() if key.startswith(_KEY_PREFIX)}
        return own, resolved

    @staticmethod
    def resolve(deferred: Any, resolved: Mapping[str, str]) -> Any:
        """The deferred tree with each expression replaced by the value moto computed for it."""
        if isinstance(deferred, _Pending):
            return resolved[deferred.key]
        if isinstance(deferred, dict):
            return {name: ResolverOutputs.resolve(value, resolved) for name, value in deferred.items()}
        if isinstance(deferred, list):
            return [ResolverOutputs.resolve(value, resolved) for value in deferred]
        return deferred
