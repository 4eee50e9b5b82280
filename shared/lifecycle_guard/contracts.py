"""The contract between the steps: the state machine's input, the state it carries, and each handler's event.

The state (``ExecutionState``) has one field per ``ResultPath`` in ``statemachine/lifecycle_guard.asl.json``;
every handler parses its event from it and the report step builds the report from it. Unknown keys are errors
(``extra="forbid"``), so nothing a step returns is silently dropped (``tests/template`` holds the ASL to this).
Data between steps stays small (a run context of a few KB, cursors, counters): plans, journals and reports live in
S3 and counters in DynamoDB, so a million-record run never comes near Step Functions' 256 KB payload limit.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lifecycle_guard.audit import AuditSnapshot
from lifecycle_guard.config import GuardConfig, Mode
from lifecycle_guard.flow_pause import SwitchedFlows
from lifecycle_guard.jobs import JobCursor
from lifecycle_guard.layout import RunLayout
from lifecycle_guard.live_test import ProbeState
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.overrides import Override
from lifecycle_guard.planning import PlanCursor
from lifecycle_guard.reporting import RunSummary
from lifecycle_guard.stages import Stage, StageCatalog
from lifecycle_guard.undo import RestoreCheck
from lifecycle_guard.verification import Verification
from lifecycle_guard.workflows import PreventionOutcome

Action = Literal["run", "undo"]
MAX_SOURCE_LENGTH = 64
MAX_CONFIG_OVERRIDE_BYTES = 16_384
EXECUTION_NAME_LENGTH = 80  # Step Functions' limit on an execution name (which is a run id)
EXECUTION_NAME = r"^[A-Za-z0-9_-]+$"


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunRequest(_Contract):
    """The state machine's input, from the schedule or the console (samples in events/). Its sizes are bounded:
    what Begin stores from it must stay far from Step Functions' 256 KB state limit, whose overflow
    (States.DataLimitExceeded) no Catch can handle."""

    action: Action = "run"
    mode: Mode = Mode.DRY_RUN
    config: dict[str, Any] = Field(default_factory=dict, description="Overrides merged onto the deployed config.")
    source: str = Field(default="console", min_length=1, max_length=MAX_SOURCE_LENGTH, pattern=r"^[\w .:@/-]+$")
    undo_run_id: str | None = Field(default=None, max_length=EXECUTION_NAME_LENGTH, pattern=EXECUTION_NAME)
    force: bool = Field(
        default=False, description="Undo: also restore records changed since the run; undo a run undone before."
    )
    allow_loosening: bool = Field(
        default=False, description="Let the config overrides loosen caps or the API budget (shown in the report)."
    )

    @field_validator("config")
    @classmethod
    def _config_is_small(cls, config: dict[str, Any]) -> dict[str, Any]:
        size = len(json.dumps(config))
        if size > MAX_CONFIG_OVERRIDE_BYTES:
            raise ValueError(f"the config overrides are {size:,} bytes; at most {MAX_CONFIG_OVERRIDE_BYTES:,}")
        return config


class ExecutionInfo(_Contract):
    """``$$.Execution``: who this run is, as Step Functions says (never from the input)."""

    id: str
    name: str
    start_time: datetime


class RunContext(_Contract):
    """Everything a step needs to know about its run (a few KB). ``Begin`` stores it in S3 under the execution's
    name; every later step loads it from there (``steps.context.load_run``), never from the state."""

    run_id: str
    action: Action
    mode: Mode
    source: str
    started_at: datetime
    prefix: str
    config: GuardConfig
    stages: dict[ObjectType, list[tuple[str, str]]]
    before: AuditSnapshot | None = None
    token_scopes_checked: bool = True  # False: HubSpot could not introspect the token (not a private-app token)
    portal_id: int | None = None  # the token's portal (``hubId``), for links into HubSpot; None if HubSpot cannot say
    undo_run_id: str | None = None
    undo_prefix: str | None = None
    force: bool = False
    overrides: list[Override] = []  # what the execution input changed in the deployed config

    @property
    def apply(self) -> bool:
        return self.mode is Mode.APPLY

    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.run_id, self.prefix)

    @property
    def undone_layout(self) -> RunLayout | None:
        """Where the run this undo restores keeps its files."""
        if self.undo_run_id is None or self.undo_prefix is None:
            return None
        return RunLayout(self.undo_run_id, self.undo_prefix)

    def catalogs(self) -> dict[ObjectType, StageCatalog]:
        return {
            object_type: StageCatalog(
                object_type, tuple(Stage(value, label, index) for index, (value, label) in enumerate(stages))
            )
            for object_type, stages in self.stages.items()
        }


class UndoCursor(_Contract, JobCursor):
    """Where an undo's deciding stands: the last journaled job of the undone run decided, the restore jobs cut
    (``next_job``; ``done`` once every journaled job is decided and cut), and the counts so far. It is stored with
    the undo's checkpoint (``job_dispatch``), which a retried Undo resumes from."""

    after_job: str = ""
    to_restore: dict[str, int] = {}  # per object type: restores cut into fix jobs (what the workers applied is
    # in the run's counters)
    skipped: dict[str, int] = {}  # per object type: changed since the run, left alone
    already_restored: dict[str, int] = {}  # per object type: at the original already (an interrupted undo's work)


class ProgressStatus(_Contract):
    """How far the fix jobs are, and how long to wait before asking again."""

    jobs_total: int = 0
    jobs_done: int = 0
    jobs_failed: int = 0
    done: bool = False
    stalled: bool = False
    wait_seconds: int = 30
    noticed_after_seconds: float = 0.0  # done: how long after the last job settled this poll saw it


class CatchPayload(_Contract):
    """What a Catch puts at its ResultPath: the error name and, for Lambda errors, the handler's error JSON."""

    Error: str = "Error"
    Cause: str = ""

    def describe(self) -> str:
        try:
            parsed = json.loads(self.Cause)
            message = parsed.get("errorMessage", self.Cause) if isinstance(parsed, dict) else self.Cause
        except ValueError:
            message = self.Cause
        return f"{self.Error}: {message}" if message else self.Error


class RunRef(_Contract):
    """What the state says of the run: enough for a Choice and a reader of the execution history. The context
    itself is loaded by execution name; nothing in the state decides what a step does to which run."""

    run_id: str
    action: Action
    mode: Mode


class Begun(_Contract):
    """What ``Begin`` returns (its ResultPath is ``$``): the run, and the cursor of what it does first."""

    run: RunRef
    plan: PlanCursor | None = None
    undo: UndoCursor | None = None


class ExecutionState(_Contract):
    """The state as it reaches the report; a field is absent until the step that sets it has run. A run whose
    ``Begin`` failed carries only the failure: the raw input never travels on."""

    run: RunRef | None = None
    plan: PlanCursor | None = None
    undo: UndoCursor | None = None
    paused: SwitchedFlows | None = None  # an undo's: the prevention flows switched off while it restores
    resumed: SwitchedFlows | None = None  # ... and switched back on
    restores: RestoreCheck | None = None  # ... and what the restored records hold once they are back on
    progress: ProgressStatus | None = None
    prevention: PreventionOutcome | None = None
    probe: ProbeState | None = None
    verification: Verification | None = None
    failure: CatchPayload | None = None
    resume_failure: CatchPayload | None = None  # the flows could not be switched back on after a failed undo
    summary: RunSummary | None = None
    report_failure: CatchPayload | None = None  # the report itself could not be written


# ---------------------------------------------------------------- the handlers' events


class BeginEvent(_Contract):
    step: Literal["begin"]
    request: RunRequest
    execution: ExecutionInfo


class PlanEvent(_Contract):
    """Planning resumes from the checkpoint it stored (``job_dispatch``), not from the state's cursor: a retried
    invocation must not plan again what the previous one handed to the workers."""

    step: Literal["plan"]
    execution: ExecutionInfo


class ProgressEvent(_Contract):
    step: Literal["dispatch", "poll", "stop"]
    execution: ExecutionInfo


class PreventionEvent(_Contract):
    step: Literal["ensure", "pause", "resume"]
    execution: ExecutionInfo


class StartProbeEvent(_Contract):
    step: Literal["start_probe"]
    execution: ExecutionInfo
    prevention: PreventionOutcome


class CheckProbeEvent(_Contract):
    step: Literal["check_probe"]
    execution: ExecutionInfo
    probe: ProbeState


class VerifyEvent(_Contract):
    step: Literal["verify"]
    execution: ExecutionInfo
    probe: ProbeState
    prevention: PreventionOutcome


class UndoEvent(_Contract):
    """Like planning, the undo resumes from the checkpoint it stored, not from the state's cursor: a retried
    invocation must not decide again what the previous one handed to the workers."""

    step: Literal["undo"]
    execution: ExecutionInfo


class CheckRestoresEvent(_Contract):
    step: Literal["check_restores"]
    execution: ExecutionInfo


class ReportEvent(_Contract):
    execution: ExecutionInfo
    state: ExecutionState
