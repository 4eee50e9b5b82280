"""Writes HubSpot refuses: telling which records of a batch it refuses, and why, without giving up the rest.

HubSpot refuses a whole batch update for one bad input: a value that is not an option, or a value an admin's
validation rule forbids, makes the request a ``400 VALIDATION_ERROR`` and nothing of the batch is written.
- Invalid option: ``Property values were not valid: [{"isValid":false,"message":"X was not one of the allowed
  options: [...]","error":"INVALID_OPTION","name":"lifecyclestage"}]`` (hubspot-facts §1.4, 3RD-PARTY, many hits).
  A stage option an admin deletes while a run is in progress turns every write of it into one.
- Validation rules: enforced on API writes since 2023-07-24, "If a property value does not meet the set
  requirement, you will receive a 400 status code", with one ``error`` code per rule type (``INVALID_ALPHA`` ...)
  [OFFICIAL-DOC https://developers.hubspot.com/changelog/upcoming-property-validations-rules-will-be-enforced-for-apis-and-integrations];
  from API version 2026-09 on every CRM write (changelog "crm-api-write-validation-enforcement",
  shared/hubspot-openapi/README.md).
- Whole-request errors come back as a non-2xx with the standard error body (hubspot-facts §3.4, 3RD-PARTY
  HubSpot/hubspot-api-python#51); per-record errors of a 207 are ``WriteResult.failed`` and need no search.

UNCONFIRMED: whether HubSpot's message ever names the offending input of a whole-batch 400 (the admin's message
may not), and which ``error`` codes a violated rule carries beyond the documented format ones. So the records are
found by bisection alone - the batch is split in halves until every refused record stands alone, both halves
written each time, since the good records of each must be written anyway - and never by the message; message and
category are only kept, per record, for the journal and the report. That costs at most 2k·(log2(n/k) + 1) extra
calls for k refused records of n (measured, batches of 100, median of 200 draws: 14 for 1 record, 24 for 2, 48
for 5, 74 for 10; 198 when all 100 are refused). An ``INVALID_OPTION`` for one record's value holds for every
record written that value, so those fail without a call of their own: a deleted stage costs about log2(n) calls
per job, not a call per record.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field

from pydantic import BaseModel

from lifecycle_guard.crm import REFUSALS, Crm, WriteResult
from lifecycle_guard.objects import LIFECYCLE_STAGE

NOT_FOUND = "OBJECT_NOT_FOUND"  # the category of a write to a record that no longer exists: skipped, not refused
INVALID_OPTION = "invalid option"
VALIDATION_RULE = "validation rule"
_PROBLEMS_PREFIX = "Property values were not valid: "
# Problem codes that are about the request's shape, not a rule an admin set (hubspot-facts §1.4, §3.1).
_NOT_RULE_CODES = frozenset({"INVALID_OPTION", "PROPERTY_DOESNT_EXIST", "READ_ONLY_VALUE"})
REJECTED_IDS_LISTED = 1000  # per reason, in the report; the count is always complete
DETAIL_LENGTH = 500  # of HubSpot's message, per listed record (the journal keeps it whole)


def refusal(category: str | None, message: str) -> str:
    """A refused write as the journal keeps it: ``"<CATEGORY>: message"``, the form of a 207's per-record error."""
    return f"{category or 'ERROR'}: {message}"


def _problem_codes(message: str) -> set[str]:
    """The ``error`` codes of HubSpot's ``Property values were not valid: [...]`` list; none if it is not one."""
    if not message.startswith(_PROBLEMS_PREFIX):
        return set()
    try:
        problems = json.loads(message.removeprefix(_PROBLEMS_PREFIX))
    except ValueError:
        return set()
    return {str(p.get("error")) for p in problems if isinstance(p, dict)} if isinstance(problems, list) else set()


def refusal_reason(detail: str) -> str:
    """Why HubSpot refused a write, from its journaled detail: an invalid option, a validation rule, or else the
    error's category."""
    category, _, message = detail.partition(": ")
    codes = _problem_codes(message)
    if "INVALID_OPTION" in codes:
        return INVALID_OPTION
    if category == "VALIDATION_ERROR" and codes - _NOT_RULE_CODES:
        return VALIDATION_RULE
    return category or "ERROR"


@dataclass
class IsolatedWrite:
    """A batch update's outcome once the refused records were isolated; ``calls`` is the updates it took."""

    result: WriteResult = field(default_factory=WriteResult)
    calls: int = 0

    @property
    def isolating_calls(self) -> int:
        """Calls beyond the one the batch would have taken had HubSpot accepted it."""
        return max(0, self.calls - 1)


def update_isolating(
    crm: Crm, object_type: str, stages: Mapping[str, str], invalid_options: MutableMapping[str, str]
) -> IsolatedWrite:
    """Write ``stages`` (id -> stage) as one batch update; if HubSpot refuses the whole batch, write its halves, and
    so on, until each refused record stands alone and is in ``result.failed`` with HubSpot's category and message.

    ``invalid_options`` (stage -> refusal) carries what earlier writes learned: a stage HubSpot called an invalid
    option is not sent again. Token, availability and limit errors are not about a record: they propagate.
    """
    write = IsolatedWrite()
    parts = [list(stages)]
    while parts:
        ids = parts.pop()
        sendable = []
        for object_id in ids:
            known = invalid_options.get(stages[object_id])
            if known is None:
                sendable.append(object_id)
            else:
                write.result.failed[object_id] = known
        if not sendable:
            continue
        write.calls += 1
        try:
            answer = crm.update(object_type, {i: {LIFECYCLE_STAGE: stages[i]} for i in sendable})
        except REFUSALS as exc:
            if len(sendable) > 1:
                half = len(sendable) // 2
                parts += [sendable[half:], sendable[:half]]  # the first half is written first
                continue
            reason = refusal(exc.category, exc.hubspot_message or str(exc))
            write.result.failed[sendable[0]] = reason
            if refusal_reason(reason) == INVALID_OPTION:
                invalid_options[stages[sendable[0]]] = reason
            continue
        write.result.records.update(answer.records)
        write.result.failed.update(answer.failed)
    return write


class RejectedRecord(BaseModel):
    object_type: str
    object_id: str
    value: str  # the stage HubSpot refused
    detail: str  # HubSpot's category and message


class RejectedRecords(BaseModel):
    """Records HubSpot refused a write of, for one reason: how many, and (the first ``REJECTED_IDS_LISTED``) which."""

    reason: str
    count: int = 0
    records: list[RejectedRecord] = []


class RejectionCollector:
    """Gathers, from a run's journal segments as they stream past, the records HubSpot refused, by reason. A record
    counts once (its first refusal), whatever it was refused for later; records that no longer exist are not
    refusals (they are skipped)."""

    _FAILED = b'"outcome":"failed"'

    def __init__(self) -> None:
        self._groups: dict[str, RejectedRecords] = {}
        self._seen: set[tuple[str, str]] = set()

    def scan(self, segment: bytes) -> None:
        if self._FAILED not in segment:  # most segments: no line to parse
            return
        for line in segment.splitlines():
            if self._FAILED in line:
                self._add(json.loads(line))

    def _add(self, entry: Mapping[str, str]) -> None:
        key = (entry["object_type"], entry["object_id"])
        detail = entry.get("detail", "")
        if key in self._seen or detail.startswith(NOT_FOUND):
            return
        self._seen.add(key)
        reason = refusal_reason(detail)
        group = self._groups.setdefault(reason, RejectedRecords(reason=reason))
        group.count += 1
        if len(group.records) < REJECTED_IDS_LISTED:
            record = RejectedRecord(
                object_type=key[0], object_id=key[1], value=entry["after"], detail=detail[:DETAIL_LENGTH]
            )
            group.records.append(record)

    def groups(self) -> list[RejectedRecords]:
        return sorted(self._groups.values(), key=lambda group: -group.count)
