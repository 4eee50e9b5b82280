"""A stateful HubSpot CRM emulator served over real HTTP, plus a deterministic dirty-portal generator.

from hubspot_sandbox import Sandbox, SandboxSettings, PortalSpec, generate_portal

with Sandbox(generate_portal(PortalSpec(contacts=2000, companies=200, seed=7))) as sb:
    client = HubSpot(access_token=sb.token, host=sb.url, base_url=sb.url)
    sb.portal.generation.offenders("contacts")  # who left how many records dirty: the ground truth
"""

from hubspot_sandbox.generator import CompanyLinkMix, CustomStage, DealOutcomeMix, PortalSpec, StageMix, generate_portal
from hubspot_sandbox.history import (
    API_SOURCE,
    IMPORT_SOURCE,
    ChangeSource,
    HistoryEntry,
    automation_source,
    user_source,
)
from hubspot_sandbox.origins import GenerationManifest, NamedSource, Offender
from hubspot_sandbox.pipelines import DEFAULT_DEAL_PIPELINE, Pipeline, PipelineStage
from hubspot_sandbox.portal import AssociatedRecord, Portal, PortalSnapshot
from hubspot_sandbox.sandbox import Sandbox
from hubspot_sandbox.settings import ALL_SCOPES, DEFAULT_TOKEN, FaultSettings, SandboxSettings, TokenKind
from hubspot_sandbox.stages import DEFAULT_LIFECYCLE_OPTIONS, StageOption
from hubspot_sandbox.validation_rules import RuleCondition, StageRule
from hubspot_sandbox.writes import WriteOutcome

__all__ = [
    "ALL_SCOPES",
    "API_SOURCE",
    "DEFAULT_DEAL_PIPELINE",
    "DEFAULT_LIFECYCLE_OPTIONS",
    "DEFAULT_TOKEN",
    "IMPORT_SOURCE",
    "AssociatedRecord",
    "ChangeSource",
    "CompanyLinkMix",
    "CustomStage",
    "DealOutcomeMix",
    "FaultSettings",
    "GenerationManifest",
    "HistoryEntry",
    "NamedSource",
    "Offender",
    "Pipeline",
    "PipelineStage",
    "Portal",
    "PortalSnapshot",
    "PortalSpec",
    "RuleCondition",
    "Sandbox",
    "SandboxSettings",
    "StageMix",
    "StageOption",
    "StageRule",
    "TokenKind",
    "WriteOutcome",
    "automation_source",
    "generate_portal",
    "user_source",
]
