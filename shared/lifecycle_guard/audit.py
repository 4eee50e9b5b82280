"""Audit: how many records sit at each lifecycle stage, and how many have none - the before and after state.

Counts come from search totals (one request per stage and object type, not a scan of every record), so an audit
of a million-record portal costs about twenty requests. Values outside the portal's stage list (a deleted custom
stage) are counted as ``unrecognised``: total minus the known stages minus missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from pydantic import BaseModel

from lifecycle_guard.crm import Crm
from lifecycle_guard.filters import StageFilter
from lifecycle_guard.journal import utcnow
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.stages import StageCatalog


class StageCounts(BaseModel):
    total: int
    missing: int
    by_stage: dict[str, int]
    unrecognised: int


class AuditSnapshot(BaseModel):
    taken_at: datetime
    counts: dict[ObjectType, StageCounts]


def count_stages(crm: Crm, catalog: StageCatalog) -> StageCounts:
    object_type = catalog.object_type
    total = crm.count(object_type)
    missing = crm.count(object_type, StageFilter.no_stage())
    by_stage = {stage: crm.count(object_type, StageFilter.at(stage)) for stage in catalog.values}
    unrecognised = max(0, total - missing - sum(by_stage.values()))
    return StageCounts(total=total, missing=missing, by_stage=by_stage, unrecognised=unrecognised)


def audit(crm: Crm, catalogs: Mapping[ObjectType, StageCatalog]) -> AuditSnapshot:
    return AuditSnapshot(
        taken_at=utcnow(),
        counts={object_type: count_stages(crm, catalogs[object_type]) for object_type in ObjectType},
    )
