"""Safety caps: a hard gate before any write beyond them.

Planned changes are checked against the caps before the first write. When fix jobs go out while planning goes on
(``job_dispatch``), that is checked twice: first against the most the plan can hold, which the audit before the
run knows exactly (every record planned is missing a stage or at a disallowed one), and then, as jobs are handed
over, against the running count, so a plan that grew past its bound since the audit (records created meanwhile)
stops being dispatched at the cap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lifecycle_guard.audit import AuditSnapshot
from lifecycle_guard.config import GuardConfig, SafetyCaps
from lifecycle_guard.jobs import RuleCount
from lifecycle_guard.objects import ObjectType


class CapExceededError(RuntimeError):
    """The plan would change more than the safety caps allow; nothing beyond them was written."""


def cap_excess(caps: SafetyCaps, before: AuditSnapshot, changes: Mapping[ObjectType, int]) -> str | None:
    """Why ``changes`` (per object type) exceed the caps, or None if they do not."""
    total = sum(changes.values())
    if caps.max_changes is not None and total > caps.max_changes:
        return f"the plan would change {total:,} records, over caps.max_changes={caps.max_changes:,}"
    for object_type in ObjectType:
        planned = changes.get(object_type, 0)
        records = before.counts[object_type].total
        percent = 100 * planned / records if records else 0.0
        if percent > caps.max_percent:
            return (
                f"the plan would change {percent:.1f}% of {object_type.value} ({planned:,} of {records:,}), over "
                f"caps.max_percent={caps.max_percent:g}"
            )
    return None


def check_caps(caps: SafetyCaps, before: AuditSnapshot, counts: Sequence[RuleCount]) -> None:
    """Raise CapExceededError if the plan changes more records than ``caps.max_changes`` in all, or more than
    ``caps.max_percent`` of an object type's records (as the audit before the run counted them)."""
    changes = {t: sum(count.planned for count in counts if count.object_type is t) for t in ObjectType}
    excess = cap_excess(caps, before, changes)
    if excess:
        raise CapExceededError(
            f"{excess}; nothing was written. Review the dry-run report, then raise the cap if the plan is right."
        )


def plan_bound(config: GuardConfig, before: AuditSnapshot) -> dict[ObjectType, int]:
    """The most changes a plan can hold, per object type: the records the audit counted missing a stage or at a
    stage the config disallows."""
    return {
        object_type: before.counts[object_type].missing
        + sum(before.counts[object_type].by_stage.get(stage, 0) for stage in config.disallowed(object_type))
        for object_type in ObjectType
    }
