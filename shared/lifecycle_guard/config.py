"""The lifecycle-guard config: rules per object type, safety caps, API budget and step options.

One pydantic model, loaded from a file, the state machine input, or defaults; the defaults are the product's
seed rules. Everything is validated twice: its shape when loaded, and its stage names against the portal's real
stage list (``validate_for_portal``) before any write. Stages may be named by the label HubSpot shows
("Product Qualified Lead") where ``resolve_stage_labels`` turns them into the portal's internal values first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lifecycle_guard.objects import ObjectType
from lifecycle_guard.stages import Stage, StageCatalog


class ConfigError(ValueError):
    """The config is malformed or does not fit the portal; nothing has been written."""


class Mode(StrEnum):
    DRY_RUN = "dry-run"
    APPLY = "apply"


class _Strict(BaseModel):
    # Unknown keys are typos, and a typo in a rule must never silently fall back to a default.
    model_config = ConfigDict(extra="forbid", frozen=True)


class FromPrimaryCompany(_Strict):
    """Take the primary company's stage (as it will be after this run) when it is one of ``inherit``."""

    derive: Literal["primary_company"] = "primary_company"
    inherit: tuple[str, ...]
    otherwise: str


class FromDeals(_Strict):
    """Derive a company's stage from its deals: any closed-won, else any open, else ``otherwise``."""

    derive: Literal["deals"] = "deals"
    closed_won: str = "customer"
    open: str = "opportunity"
    otherwise: str = "lead"


ContactTarget = Annotated[str | FromPrimaryCompany, Field(union_mode="left_to_right")]
CompanyTarget = Annotated[str | FromDeals, Field(union_mode="left_to_right")]


def _stages_named(target: str | FromPrimaryCompany | FromDeals) -> tuple[str, ...]:
    if isinstance(target, str):
        return (target,)
    if isinstance(target, FromPrimaryCompany):
        return (*target.inherit, target.otherwise)
    return (target.closed_won, target.open, target.otherwise)


def _seed_contact_disallowed() -> dict[str, ContactTarget]:
    return {
        "subscriber": "lead",
        "other": "lead",
        "evangelist": FromPrimaryCompany(inherit=("customer",), otherwise="lead"),
    }


def _seed_company_disallowed() -> dict[str, CompanyTarget]:
    return {"subscriber": FromDeals(), "other": FromDeals(), "evangelist": FromDeals()}


class ContactRules(_Strict):
    missing: ContactTarget = FromPrimaryCompany(inherit=("customer", "opportunity"), otherwise="lead")
    disallowed: dict[str, ContactTarget] = Field(default_factory=_seed_contact_disallowed)


class CompanyRules(_Strict):
    missing: CompanyTarget = FromDeals()
    disallowed: dict[str, CompanyTarget] = Field(default_factory=_seed_company_disallowed)


class SafetyCaps(_Strict):
    """Checked against the complete plan, before the first write; exceeding either stops the run."""

    max_changes: int | None = Field(default=None, ge=0, description="Most records one run may change.")
    max_percent: float = Field(default=50.0, gt=0, le=100, description="Most % of an object type one run may change.")


class ApiBudget(_Strict):
    requests_per_10s: int | None = Field(
        default=None,
        ge=1,
        description="Burst budget for the whole run, shared by the planner and every fix worker; unset = the "
        "deployed tier x percent.",
    )
    search_requests_per_second: float = Field(
        default=5,
        gt=0,
        le=5,
        description="HubSpot's search limit is 5 a second; the pacer pads its second by 2.5 % and counts each search "
        "from its answer.",
    )
    burst_exemptions: bool = Field(
        default=True,
        description="Send the calls HubSpot's specs exempt from the ten-secondly limit (search, association batch "
        "reads, flow writes) outside the burst budget; false paces them too.",
    )
    daily_watermark: int = Field(
        default=10_000, ge=0, description="Stop cleanly when HubSpot reports fewer daily requests left than this."
    )
    max_attempts: int = Field(default=6, ge=1, le=20, description="Attempts per request on 429/5xx/network errors.")


class PreventionOptions(_Strict):
    enabled: bool = True
    default_stage: str = "lead"
    enable_flows: bool = Field(default=True, description="False creates/updates the flows disabled, for review.")
    correction_flows: bool = Field(
        default=False, description="Also ensure flows moving forward-correctable disallowed stages to their target."
    )
    contact_flow_name: str = "AUTO-FIX: Set Default Lifecycle Stage (Lead)"
    company_flow_name: str = "AUTO-FIX: Set Default Company Lifecycle Stage (Lead)"


class VerificationOptions(_Strict):
    spot_check_size: int = Field(default=25, ge=0, le=1000)
    live_test: bool = True
    live_test_wait_seconds: int = Field(default=120, ge=0, le=3600)
    settle_seconds: int = Field(
        default=60, ge=0, le=900, description="How long after-counts may take to reflect writes (search lag)."
    )


class FixOptions(_Strict):
    job_size: int = Field(default=1000, ge=1, le=5000, description="Changes per SQS fix job.")
    batch_size: int = Field(default=100, ge=1, le=100, description="Records per HubSpot batch write.")
    max_write_attempts: int = Field(default=3, ge=1, le=10, description="Writes per record before it is residue.")
    overlap_planning: bool = Field(
        default=True,
        description="Hand fix jobs to the workers while planning goes on (when the audit shows the plan cannot "
        "pass the caps); false plans everything first.",
    )

    @model_validator(mode="after")
    def _whole_batches(self) -> FixOptions:
        # Jobs that are not whole batches waste a partial write call at every job boundary.
        if self.job_size % self.batch_size:
            raise ValueError("fix.job_size must be a multiple of fix.batch_size")
        return self


class GuardConfig(_Strict):
    contacts: ContactRules = ContactRules()
    companies: CompanyRules = CompanyRules()
    caps: SafetyCaps = SafetyCaps()
    budget: ApiBudget = ApiBudget()
    prevention: PreventionOptions = PreventionOptions()
    verification: VerificationOptions = VerificationOptions()
    fix: FixOptions = FixOptions()

    def rules_for(self, object_type: ObjectType) -> ContactRules | CompanyRules:
        return self.contacts if object_type is ObjectType.CONTACTS else self.companies

    def disallowed(self, object_type: ObjectType) -> tuple[str, ...]:
        return tuple(self.rules_for(object_type).disallowed)

    @model_validator(mode="after")
    def _targets_are_allowed(self) -> GuardConfig:
        for object_type in ObjectType:
            rules = self.rules_for(object_type)
            disallowed = set(rules.disallowed)
            targets = [rules.missing, *rules.disallowed.values()]
            for target in targets:
                for stage in _stages_named(target):
                    if stage in disallowed:
                        raise ValueError(
                            f"{object_type.value}: target stage {stage!r} is itself disallowed; "
                            "a run would never converge"
                        )
                    if not stage:
                        raise ValueError(f"{object_type.value}: a target stage may not be empty")
        if self.prevention.default_stage in self.contacts.disallowed:
            raise ValueError("prevention.default_stage may not be a disallowed contact stage")
        return self


def _deep_merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict) and key != "disallowed":
            # A disallowed map is replaced whole: merging would keep stages the user meant to allow.
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "config"
        problems.append(f"{where}: {item['msg']}")
    return "; ".join(problems)


def load_config(
    source: Path | str | Mapping[str, Any] | None = None, overrides: Mapping[str, Any] | None = None
) -> GuardConfig:
    """Load a config from a JSON file path, a JSON string or a mapping, with ``overrides`` deep-merged on top."""
    data: dict[str, Any]
    try:
        if source is None:
            data = {}
        elif isinstance(source, Mapping):
            data = dict(source)
        elif isinstance(source, Path):
            data = json.loads(source.read_text(encoding="utf-8"))
        else:
            data = json.loads(source)
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read config: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError("config must be a JSON object")
    if overrides:
        data = _deep_merge(data, overrides)
    try:
        return GuardConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid config: {_describe(exc)}") from exc


def resolve_stage_labels(config: GuardConfig, catalogs: Mapping[ObjectType, StageCatalog]) -> GuardConfig:
    """The config with every stage it names by its label ("Lead", "product qualified lead") replaced by that
    stage's internal value: people write what HubSpot shows them, the engine needs values. An internal value is
    kept as it is; a label matches case-insensitively and must be one stage's only. A name that is neither is kept,
    for ``validate_for_portal`` to report with the valid stages."""
    problems: list[str] = []

    def value_of(object_type: ObjectType, name: str) -> str:
        catalog = catalogs[object_type]
        if name in catalog:
            return name
        labelled = [stage for stage in catalog.stages if stage.label.casefold() == name.casefold()]
        if len(labelled) > 1:
            shown = ", ".join(_shown(stage) for stage in labelled)
            problems.append(f"{object_type.value}: {name!r} is the label of {shown}; name the stage by its value")
        return labelled[0].value if len(labelled) == 1 else name

    def target_values(object_type: ObjectType, target: Any) -> Any:
        if isinstance(target, str):
            return value_of(object_type, target)
        # A derived target: every field but the derivation's name is a stage or a list of stages.
        return {
            key: value if key == "derive" else _map_names(value, lambda name: value_of(object_type, name))
            for key, value in target.items()
        }

    data = config.model_dump(mode="json")
    for object_type in ObjectType:
        rules = data[object_type.value]
        rules["missing"] = target_values(object_type, rules["missing"])
        disallowed: dict[str, Any] = {}
        for name, target in rules["disallowed"].items():
            value = value_of(object_type, name)
            if value in disallowed:
                problems.append(f"{object_type.value}.disallowed names the stage {value!r} twice")
            disallowed[value] = target_values(object_type, target)
        rules["disallowed"] = disallowed
    default = data["prevention"]["default_stage"]
    per_type = {object_type: value_of(object_type, default) for object_type in ObjectType}
    if len(set(per_type.values())) > 1:
        shown = " and ".join(f"{value!r} for {object_type.value}" for object_type, value in per_type.items())
        problems.append(f"prevention.default_stage {default!r} is {shown}; name one stage by its value")
    data["prevention"]["default_stage"] = per_type[ObjectType.CONTACTS]
    if problems:
        raise ConfigError("config does not fit this portal: " + "; ".join(dict.fromkeys(problems)))
    try:
        return GuardConfig.model_validate(data)
    except ValidationError as exc:  # e.g. a label naming a disallowed stage as a target
        raise ConfigError(f"invalid config: {_describe(exc)}") from exc


def _map_names(names: str | list[str], value_of: Callable[[str], str]) -> str | list[str]:
    return value_of(names) if isinstance(names, str) else [value_of(name) for name in names]


def _shown(stage: Stage) -> str:
    """A stage as people recognise it and as the config may name it: ``"7001" (Product Qualified Lead)``."""
    return f'"{stage.value}" ({stage.label})'


def validate_for_portal(config: GuardConfig, catalogs: Mapping[ObjectType, StageCatalog]) -> None:
    """Check every stage the config names against the portal's stage list; one error names every unknown stage,
    where the config uses it, and (once per object type) the valid values."""
    unknown: dict[tuple[ObjectType, str], list[str]] = {}

    def check(object_type: ObjectType, stage: str, what: str) -> None:
        if stage in catalogs[object_type]:
            return
        places = unknown.setdefault((object_type, stage), [])
        if what not in places:
            places.append(what)

    for object_type in ObjectType:
        rules = config.rules_for(object_type)
        for stage in rules.disallowed:
            check(object_type, stage, f"{object_type.value}.disallowed")
        for trigger, target in [("missing", rules.missing), *rules.disallowed.items()]:
            for stage in _stages_named(target):
                check(object_type, stage, f"{object_type.value} target for {trigger}")
        check(object_type, config.prevention.default_stage, "prevention.default_stage")
    if unknown:
        problems = [
            f"{', '.join(places)}: {stage!r} is not a lifecycle stage of this portal's {object_type.value}"
            for (object_type, stage), places in unknown.items()
        ]
        for object_type in dict.fromkeys(object_type for object_type, _ in unknown):
            stages = ", ".join(_shown(stage) for stage in catalogs[object_type].stages)
            problems.append(f"{object_type.value}: valid values are: {stages}")
        raise ConfigError("config does not fit this portal: " + "; ".join(problems))
