"""Lifecycle stage options and the forward-only rule HubSpot applies to ``lifecyclestage``.

Order comes from the property's options: ascending ``displayOrder``, ``-1`` after every non-negative value
(the Properties spec's wording), ties in list order. Facts §1.1 lists the default eight stages; their exact
``displayOrder`` integers are UNCONFIRMED, the sandbox uses 0..7.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import Enum


@dataclass(frozen=True, slots=True)
class StageOption:
    value: str
    label: str
    display_order: int
    hidden: bool = False
    description: str = ""


DEFAULT_LIFECYCLE_OPTIONS: tuple[StageOption, ...] = tuple(
    StageOption(value, label, order)
    for order, (value, label) in enumerate(
        (
            ("subscriber", "Subscriber"),
            ("lead", "Lead"),
            ("marketingqualifiedlead", "Marketing Qualified Lead"),
            ("salesqualifiedlead", "Sales Qualified Lead"),
            ("opportunity", "Opportunity"),
            ("customer", "Customer"),
            ("evangelist", "Evangelist"),
            ("other", "Other"),
        )
    )
)

# The stages lifecycle-guard's default rules disallow. The generator makes records dirty with them; its ground
# truth and the dirty-record injector tell dirty records (these, or no stage) from clean ones by them.
DISALLOWED_STAGES = ("subscriber", "other", "evangelist")


class StageList:
    """An immutable, ordered list of stage options with O(1) rank lookup."""

    __slots__ = ("_options", "_rank")

    def __init__(self, options: Iterable[StageOption]) -> None:
        listed = list(options)
        ordered = sorted(
            enumerate(listed),
            key=lambda pair: (pair[1].display_order < 0, pair[1].display_order, pair[0]),
        )
        self._options: tuple[StageOption, ...] = tuple(option for _, option in ordered)
        self._rank = {option.value: rank for rank, option in enumerate(self._options)}
        if len(self._rank) != len(self._options):
            raise ValueError("stage values must be unique")

    @classmethod
    def default(cls) -> StageList:
        return cls(DEFAULT_LIFECYCLE_OPTIONS)

    @property
    def options(self) -> tuple[StageOption, ...]:
        return self._options

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(option.value for option in self._options)

    def __contains__(self, value: object) -> bool:
        return value in self._rank

    def rank(self, value: str) -> int | None:
        return self._rank.get(value)

    def with_stage(self, option: StageOption, *, after: str | None = None) -> StageList:
        """Add a stage; with ``after`` it is placed right behind that stage and later stages shift down."""
        if option.value in self._rank:
            raise ValueError(f"stage {option.value!r} already exists")
        if after is None:
            return StageList((*self._options, option))
        anchor = self._rank.get(after)
        if anchor is None:
            raise ValueError(f"unknown anchor stage {after!r}")
        # Renumber so display orders stay distinct and reflect the new position.
        placed = [*self._options[: anchor + 1], option, *self._options[anchor + 1 :]]
        return StageList(replace(stage, display_order=order) for order, stage in enumerate(placed))

    def without(self, value: str) -> StageList:
        if value not in self._rank:
            raise ValueError(f"unknown stage {value!r}")
        return StageList(option for option in self._options if option.value != value)


class StageDecision(Enum):
    APPLY = "apply"
    NO_CHANGE = "no_change"
    IGNORED_BACKWARD = "ignored_backward"


def decide_stage_change(stages: StageList, current: str | None, new: str | None) -> StageDecision:
    """HubSpot's forward-only rule (facts §1.3).

    ``None`` means "no value" (an empty string clears and is always applied). A non-empty value earlier than the
    current non-empty value is silently ignored. If the current value is no longer an option (its stage was
    deleted) the sandbox cannot rank it and applies the set — UNCONFIRMED, chosen as the least surprising.
    """
    if new == current:
        return StageDecision.NO_CHANGE
    if new is None or current is None:
        return StageDecision.APPLY
    current_rank, new_rank = stages.rank(current), stages.rank(new)
    if current_rank is not None and new_rank is not None and new_rank < current_rank:
        return StageDecision.IGNORED_BACKWARD
    return StageDecision.APPLY
