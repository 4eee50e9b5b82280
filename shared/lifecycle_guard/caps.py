"""Safety caps: a hard gate between the plan and the first write."""

from __future__ import annotations

from collections.abc import Sequence

from lifecycle_guard.audit import AuditSnapshot
from lifecycle_guard.config import SafetyCaps
from lifecycle_guard.jobs import RuleCount
from lifecycle_guard.objects import ObjectType


class CapExceededError(RuntimeError):
    """The plan would change more than the safety caps allow; nothing was written."""


def check_caps(caps: SafetyCaps, before: AuditSnapshot, counts: Sequence[RuleCount]) -> None:
    """Raise CapExceededError if the plan changes more records than ``caps.max_changes`` in all, or more than
    ``caps.max_percent`` of an object type's records (as the audit before the run counted them)."""
    total = sum(count.planned for count in counts)
    if caps.max_changes is not None and total > caps.max_changes:
        raise CapExceededError(
            f"the plan would change {total:,} records, over caps.max_changes={caps.max_changes:,}; nothing was "
            "written. Review the dry-run report, then raise the cap if the plan is right."
        )
    for object_type in ObjectType:
        changes = sum(count.planned for count in counts if count.object_type is object_type)
        records = before.counts[object_type].total
        percent = 100 * changes / records if records else 0.0
        if percent > caps.max_percent:
            raise CapExceededError(
                f"the plan would change {percent:.1f}% of {object_type.value} ({changes:,} of {records:,}), over "
                f"caps.max_percent={caps.max_percent:g}; nothing was written. Review the dry-run report, then "
                "raise the cap if the plan is right."
            )
