"""The portal's own lifecycle-stage list and order, read from the property's options (custom stages included)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from lifecycle_guard.objects import NO_STAGE, ObjectType


@dataclass(frozen=True, slots=True)
class Stage:
    value: str
    label: str
    display_order: int
    hidden: bool = False


@dataclass(frozen=True)
class StageCatalog:
    """The ordered lifecycle stages of one object type, as the portal defines them.

    HubSpot orders options by ``displayOrder`` ascending and puts ``-1`` after every positive value; ties keep the
    order the API returned them in (Python's sort is stable). Moving a record to an earlier stage than its current
    one is silently ignored by HubSpot, so the catalog is what decides whether a move needs clear-then-set.
    """

    object_type: ObjectType
    stages: tuple[Stage, ...]

    @classmethod
    def from_property(cls, object_type: ObjectType, definition: Mapping[str, Any]) -> StageCatalog:
        """Build from a ``GET /crm/v3/properties/{type}/lifecyclestage`` response body."""
        options: Iterable[Mapping[str, Any]] = definition.get("options") or []
        stages = [
            Stage(
                value=str(option["value"]),
                label=str(option.get("label") or option["value"]),
                display_order=int(option.get("displayOrder", -1)),
                hidden=bool(option.get("hidden", False)),
            )
            for option in options
        ]
        stages.sort(key=lambda stage: (stage.display_order < 0, stage.display_order))
        return cls(object_type=object_type, stages=tuple(stages))

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(stage.value for stage in self.stages)

    def __contains__(self, value: object) -> bool:
        return value in self._positions

    @cached_property
    def _positions(self) -> dict[str, int]:
        return {stage.value: index for index, stage in enumerate(self.stages)}

    def label(self, value: str) -> str:
        for stage in self.stages:
            if stage.value == value:
                return stage.label
        return value or "(no stage)"

    def needs_clear_first(self, current: str, target: str) -> bool:
        """Whether setting ``target`` over ``current`` would be a backward move that HubSpot ignores.

        A value the portal no longer lists (a deleted custom stage) has no known position, so we treat the move
        as backward: clearing first costs one extra write and is always correct.
        """
        if NO_STAGE in (current, target) or current == target:
            return False
        positions = self._positions
        if current not in positions:
            return True
        return positions[target] < positions[current]
