"""Deal pipelines and the closed/won flags HubSpot derives from a deal's stage.

Stage metadata is ``dict[str, str]`` on the wire (facts §5): ``isClosed`` "true"/"false" and ``probability``
as a decimal string. Closed-won means closed with probability 1.0.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PipelineStage:
    id: str
    label: str
    display_order: int
    probability: float
    is_closed: bool

    @property
    def is_closed_won(self) -> bool:
        return self.is_closed and self.probability >= 1.0

    @property
    def metadata(self) -> dict[str, str]:
        return {"isClosed": "true" if self.is_closed else "false", "probability": repr(float(self.probability))}


@dataclass(frozen=True, slots=True)
class Pipeline:
    id: str
    label: str
    display_order: int
    stages: tuple[PipelineStage, ...]

    def stage(self, stage_id: str) -> PipelineStage | None:
        return next((stage for stage in self.stages if stage.id == stage_id), None)

    @property
    def stage_ids(self) -> tuple[str, ...]:
        return tuple(stage.id for stage in self.stages)

    def first_stage_where(self, *, closed: bool, won: bool = False) -> PipelineStage:
        for stage in self.stages:
            if stage.is_closed == closed and (not closed or stage.is_closed_won == won):
                return stage
        raise LookupError(f"pipeline {self.id} has no stage with closed={closed} won={won}")


DEFAULT_PIPELINE_ID = "default"

DEFAULT_DEAL_PIPELINE = Pipeline(
    id=DEFAULT_PIPELINE_ID,
    label="Sales Pipeline",
    display_order=0,
    stages=tuple(
        PipelineStage(stage_id, label, order, probability, closed)
        for order, (stage_id, label, probability, closed) in enumerate(
            (
                ("appointmentscheduled", "Appointment Scheduled", 0.2, False),
                ("qualifiedtobuy", "Qualified To Buy", 0.4, False),
                ("presentationscheduled", "Presentation Scheduled", 0.6, False),
                ("decisionmakerboughtin", "Decision Maker Bought-In", 0.8, False),
                ("contractsent", "Contract Sent", 0.9, False),
                ("closedwon", "Closed Won", 1.0, True),
                ("closedlost", "Closed Lost", 0.0, True),
            )
        )
    ),
)


def closed_flags(stage: PipelineStage | None) -> tuple[str | None, str | None]:
    """Values of ``hs_is_closed`` / ``hs_is_closed_won`` for a deal in ``stage`` (no stage -> no values)."""
    if stage is None:
        return None, None
    return ("true" if stage.is_closed else "false"), ("true" if stage.is_closed_won else "false")
