"""Search conditions in the domain's words, each both a HubSpot search and a local test of a record.

HubSpot ORs filter groups and ANDs the filters of a group; "no stage" is ``NOT_HAS_PROPERTY`` (a cleared value
no longer has the property). A record we read back holds ``None`` or ``""`` for no stage (``Record.stage``
normalises both), which is what ``matches`` tests, so search's answer can be confirmed by a read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lifecycle_guard.objects import LIFECYCLE_STAGE, NO_STAGE


@dataclass(frozen=True)
class StageFilter:
    """Records with no lifecycle stage (if ``missing``) or at one of ``stages``."""

    missing: bool = False
    stages: tuple[str, ...] = ()

    @classmethod
    def no_stage(cls) -> StageFilter:
        return cls(missing=True)

    @classmethod
    def at(cls, *stages: str) -> StageFilter:
        return cls(stages=tuple(stages))

    @classmethod
    def missing_or_at(cls, stages: Iterable[str]) -> StageFilter:
        return cls(missing=True, stages=tuple(stages))

    def search_groups(self) -> list[list[dict[str, Any]]]:
        groups: list[list[dict[str, Any]]] = []
        if self.missing:
            groups.append([{"propertyName": LIFECYCLE_STAGE, "operator": "NOT_HAS_PROPERTY"}])
        if len(self.stages) == 1:
            groups.append([{"propertyName": LIFECYCLE_STAGE, "operator": "EQ", "value": self.stages[0]}])
        elif self.stages:
            groups.append([{"propertyName": LIFECYCLE_STAGE, "operator": "IN", "values": list(self.stages)}])
        return groups

    def matches(self, properties: Mapping[str, str | None]) -> bool:
        stage = properties.get(LIFECYCLE_STAGE) or NO_STAGE
        return (self.missing and stage == NO_STAGE) or stage in self.stages


@dataclass(frozen=True)
class PropertyEquals:
    """Records whose ``name`` property is exactly ``value``."""

    name: str
    value: str

    def search_groups(self) -> list[list[dict[str, Any]]]:
        return [[{"propertyName": self.name, "operator": "EQ", "value": self.value}]]

    def matches(self, properties: Mapping[str, str | None]) -> bool:
        return properties.get(self.name) == self.value
