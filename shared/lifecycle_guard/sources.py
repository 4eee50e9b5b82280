"""Where a bad lifecycle stage came from: the source HubSpot records with every property value.

HubSpot's ``propertiesWithHistory`` lists a property's values, newest first, each a ``ValueWithTimestamp`` with
``sourceType``, ``sourceId``, ``sourceLabel`` and ``updatedByUserId`` (OFFICIAL-SPEC: contacts.json schema
``ValueWithTimestamp``; newest first and the shapes per source type are in ``hubspot_sandbox/history.py``, from real
responses). A record also carries who created it in ``hs_object_source*`` (HubSpot's record-source properties),
which search returns like any property, at no extra request.

The culprit of a record's value:

* a disallowed stage: the newest history entry holding that value (what set it);
* no stage: the newest entry if it is a clear (what cleared it); with no history of the property at all (HubSpot
  lists nothing for a value never set: UNCONFIRMED, the sandbox's reading), the record's creator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from lifecycle_guard.objects import NO_STAGE

# HubSpot's record-source properties (their values as in connector recordings cited in hubspot_sandbox/history.py).
HS_OBJECT_SOURCE = "hs_object_source"
HS_OBJECT_SOURCE_ID = "hs_object_source_id"
HS_OBJECT_SOURCE_DETAIL_1 = "hs_object_source_detail_1"  # the creator's name (an import's file name, an app's name)
HS_OBJECT_SOURCE_USER_ID = "hs_object_source_user_id"
RECORD_SOURCE_PROPERTIES = (HS_OBJECT_SOURCE, HS_OBJECT_SOURCE_ID, HS_OBJECT_SOURCE_DETAIL_1, HS_OBJECT_SOURCE_USER_ID)
UNKNOWN_SOURCE_TYPE = "UNKNOWN"
# What each source type is, in words; the types are those HubSpot's history shows (see hubspot_sandbox/history.py).
_KINDS = {
    "IMPORT": "import",
    "FORM": "form",
    "INTEGRATION": "integration app",
    "AUTOMATION_PLATFORM": "workflow",
    "WORKFLOW": "workflow",
    "CRM_UI": "user",
    "API": "API",
    "MIGRATION": "migration",
    UNKNOWN_SOURCE_TYPE: "unknown source",
}


class ValueSource(BaseModel):
    """Who wrote a value: HubSpot's source type and id, its label when HubSpot gives one, and the user."""

    model_config = ConfigDict(frozen=True)

    source_type: str
    source_id: str = ""
    label: str = ""
    user_id: str = ""

    @property
    def key(self) -> str:
        """The source's identity across records and runs (a label may change; type and id do not)."""
        return f"{self.source_type}:{self.source_id}" if self.source_id else self.source_type

    def describe(self) -> str:
        """``import "Purchased list.csv"``, ``workflow 1487203390``, ``user 48211001``, ``API``."""
        kind = _KINDS.get(self.source_type, self.source_type.lower().replace("_", " "))
        if self.label:
            return f'{kind} "{self.label}"'
        ident = self.user_id or self.source_id.removeprefix("userId:")
        return f"{kind} {ident}" if ident else kind

    def to_row(self) -> list[str]:
        return [self.source_type, self.source_id, self.label, self.user_id]

    @classmethod
    def from_row(cls, row: Sequence[str]) -> ValueSource | None:
        """The inverse of ``to_row``; None for a row without a source (a plan written before sources existed)."""
        if len(row) < 4 or not row[0]:
            return None
        source_type, source_id, label, user_id = row[:4]
        return cls(source_type=source_type, source_id=source_id, label=label, user_id=user_id)

    @classmethod
    def from_history(cls, entry: Mapping[str, Any]) -> ValueSource:
        """From one ``ValueWithTimestamp``."""
        user = entry.get("updatedByUserId")
        return cls(
            source_type=str(entry.get("sourceType") or UNKNOWN_SOURCE_TYPE),
            source_id=str(entry.get("sourceId") or ""),
            label=str(entry.get("sourceLabel") or ""),
            user_id="" if user is None else str(user),
        )


class StageValue(BaseModel):
    """One entry of a record's ``lifecyclestage`` history."""

    model_config = ConfigDict(frozen=True)

    value: str  # "" for a clear
    source: ValueSource


UNKNOWN = ValueSource(source_type=UNKNOWN_SOURCE_TYPE)


def record_creator(properties: Mapping[str, str | None]) -> ValueSource | None:
    """Who created the record, from its ``hs_object_source*`` properties (None if they were not read or are empty)."""
    source_type = properties.get(HS_OBJECT_SOURCE)
    if not source_type:
        return None
    return ValueSource(
        source_type=source_type,
        source_id=properties.get(HS_OBJECT_SOURCE_ID) or "",
        label=properties.get(HS_OBJECT_SOURCE_DETAIL_1) or "",
        user_id=properties.get(HS_OBJECT_SOURCE_USER_ID) or "",
    )


def source_of_value(current: str, history: Sequence[StageValue], creator: ValueSource | None) -> ValueSource:
    """What gave a record its (bad) stage ``current`` ("" for none): see the module's rules. ``history`` newest
    first."""
    if history:
        newest = history[0]
        if newest.value == current:
            return newest.source
        holding = next((entry for entry in history if entry.value == current), None)
        if holding is not None:
            return holding.source
    if current == NO_STAGE and creator is not None:
        return creator
    return UNKNOWN
