"""Per-record property history (what ``propertiesWithHistory`` returns) and who created each record.

Sources, as HubSpot's ``ValueWithTimestamp`` carries them (``sourceType``, ``sourceId``, ``sourceLabel``,
``updatedByUserId``). What real responses show:

* ``CRM_UI``: ``sourceId`` "userId:<id>" and ``updatedByUserId`` <id>, no label (a real v3 response quoted in
  https://github.com/HubSpot/hubspot-api-nodejs/issues/154; the same in a v1 contact captured in
  https://github.com/megswen/naf-gateway test/samples/hsSamples.js).
* ``INTEGRATION``: ``sourceId`` the app id, no label, for writes by an app's token (responses recorded by the
  Ballerina HubSpot connectors, e.g. ballerina-platform/module-ballerinax-hubspot.crm.object.products
  ballerina/tests/mock_service.bal, whose records also carry ``hs_object_source`` "INTEGRATION").
* ``AUTOMATION_PLATFORM``: ``sourceId`` the workflow id, no label (hsSamples.js above, ``currentlyinworkflow``).
* ``API`` without an id, ``MIGRATION`` and ``CALCULATED`` without ids: in the same v1 contact.
* newest entry first: both sources above list entries by descending timestamp.

UNCONFIRMED: ``IMPORT`` with the import's id and name as label (the sandbox's reading; no real payload found);
``FORM`` with the form's guid and name (the legacy v1 payload in HubSpot's old workflow-webhook docs, quoted in
public code, shows the form *conversion* id and the field's name instead); that a private app's API write reads
``API`` — the evidence above suggests ``INTEGRATION`` with the app id, so the sandbox makes it a setting
(``SandboxSettings.api_write_source``), ``API`` by default.

Stored compactly. A record has an :class:`Origin` (shared, interned: 2 bytes per record) saying who created it
and, for generated records, the steps its lifecycle stage went through; a (property, record) pair gets its own
list only once something changes it after loading. Until then its history is told from the origin: the steps for
``lifecyclestage``, otherwise one entry for the current value at the create date by the creator.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any, NamedTuple

from hubspot_sandbox.catalog import (
    HS_OBJECT_SOURCE,
    HS_OBJECT_SOURCE_DETAIL_1,
    HS_OBJECT_SOURCE_ID,
    HS_OBJECT_SOURCE_LABEL,
    HS_OBJECT_SOURCE_USER_ID,
    LIFECYCLESTAGE,
)


class ChangeSource(NamedTuple):
    """What HubSpot reports as the source of a property value."""

    source_type: str
    source_id: str | None = None
    source_label: str | None = None
    updated_by_user_id: int | None = None

    def as_wire(self) -> dict[str, Any]:
        """The source fields of a ``ValueWithTimestamp`` (absent ones left out, as HubSpot does)."""
        fields = {
            "sourceType": self.source_type,
            "sourceId": self.source_id,
            "sourceLabel": self.source_label,
            "updatedByUserId": self.updated_by_user_id,
        }
        return {key: value for key, value in fields.items() if value is not None}

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> ChangeSource:
        """The inverse of :meth:`as_wire`; ValueError for anything that is not such an object."""
        source_type = raw.get("sourceType")
        if not isinstance(source_type, str) or not source_type:
            raise ValueError("a source needs a sourceType string")
        unknown = set(raw) - {"sourceType", "sourceId", "sourceLabel", "updatedByUserId"}
        if unknown:
            raise ValueError(f"unknown source fields: {sorted(unknown)}")
        source_id, label, user_id = raw.get("sourceId"), raw.get("sourceLabel"), raw.get("updatedByUserId")
        if not all(value is None or isinstance(value, str) for value in (source_id, label)):
            raise ValueError("sourceId and sourceLabel must be strings")
        if user_id is not None and (isinstance(user_id, bool) or not isinstance(user_id, int)):
            raise ValueError("updatedByUserId must be an integer")
        return cls(source_type, source_id, label, user_id)


API_SOURCE = ChangeSource("API")
IMPORT_SOURCE = ChangeSource("IMPORT")  # test seeding: an import nobody named


def automation_source(flow_id: str) -> ChangeSource:
    return ChangeSource("AUTOMATION_PLATFORM", flow_id)


def user_source(user_id: int) -> ChangeSource:
    """An edit in HubSpot's UI by that user."""
    return ChangeSource("CRM_UI", f"userId:{user_id}", None, user_id)


class HistoryEntry(NamedTuple):
    value: str  # "" records a clear, as HubSpot shows it
    timestamp_ms: int
    source: ChangeSource

    @property
    def source_type(self) -> str:
        return self.source.source_type

    @property
    def source_id(self) -> str | None:
        return self.source.source_id


class StepTime(Enum):
    """When a stage step of an origin happened, relative to the record's generated timeline."""

    CREATED = "created"
    BETWEEN = "between"  # halfway between creation and the last change
    LAST_CHANGE = "last_change"


class StageStep(NamedTuple):
    value: str | None  # None: the stage the record holds when its history is first told; "" a clear
    source: ChangeSource
    at: StepTime


class Origin(NamedTuple):
    """Who created a record (``hs_object_source*``) and, oldest first, what its lifecycle stage went through."""

    created_by: ChangeSource
    creator_name: str | None = None  # ``hs_object_source_detail_1``: the import's, form's, app's or user's name
    stage_steps: tuple[StageStep, ...] = ()


MAX_ORIGINS = 65_535  # an unsigned short per record


class PropertyHistory:
    """The history of every record of one object type."""

    __slots__ = ("_changes", "_last_change_s", "_origin_ids", "_origin_of", "_origins")

    def __init__(self) -> None:
        self._origins: list[Origin] = []
        self._origin_ids: dict[Origin, int] = {}
        self._origin_of = array("H")  # slot -> index into _origins
        self._last_change_s = array("I")  # slot -> seconds from creation to its origin's last stage step
        self._changes: dict[str, dict[int, list[HistoryEntry]]] = {}  # oldest first

    # --- origins ------------------------------------------------------------------------------------------
    def intern(self, origin: Origin) -> int:
        known = self._origin_ids.get(origin)
        if known is not None:
            return known
        if len(self._origins) >= MAX_ORIGINS:
            raise OverflowError(f"more than {MAX_ORIGINS} distinct record origins in one object type")
        self._origins.append(origin)
        self._origin_ids[origin] = len(self._origins) - 1
        return len(self._origins) - 1

    def record_created(self, slot: int, origin: Origin) -> None:
        """Register the origin of the record just appended at ``slot``."""
        if slot != len(self._origin_of):
            raise ValueError(f"record {slot} created out of order (expected slot {len(self._origin_of)})")
        self._origin_of.append(self.intern(origin))
        self._last_change_s.append(0)

    def bulk_created(self, origin_ids: Sequence[int], last_change_s: Sequence[int]) -> None:
        """Register many records appended at once (generator path): interned origin ids and last-change offsets."""
        if len(origin_ids) != len(last_change_s):
            raise ValueError("one origin and one last-change offset per record")
        self._origin_of.extend(origin_ids)
        self._last_change_s.extend(last_change_s)

    def origin(self, slot: int) -> Origin:
        return self._origins[self._origin_of[slot]]

    def creation_value(self, slot: int, name: str) -> str | None:
        """The value of a ``hs_object_source*`` property (HubSpot's record source; its label is the source type,
        as in the connector responses cited above)."""
        origin = self.origin(slot)
        source = origin.created_by
        if name in (HS_OBJECT_SOURCE, HS_OBJECT_SOURCE_LABEL):
            return source.source_type
        if name == HS_OBJECT_SOURCE_ID:
            return source.source_id
        if name == HS_OBJECT_SOURCE_DETAIL_1:
            return origin.creator_name
        if name == HS_OBJECT_SOURCE_USER_ID:
            return None if source.updated_by_user_id is None else str(source.updated_by_user_id)
        raise KeyError(name)

    # --- entries ------------------------------------------------------------------------------------------
    def told(self, name: str, slot: int, current: str | None, created_ms: int) -> list[HistoryEntry]:
        """The history as the origin tells it, oldest first, for a record whose value is ``current``."""
        origin = self.origin(slot)
        if name == LIFECYCLESTAGE and origin.stage_steps:
            last_ms = created_ms + self._last_change_s[slot] * 1000
            times = {
                StepTime.CREATED: created_ms,
                StepTime.BETWEEN: (created_ms + last_ms) // 2,
                StepTime.LAST_CHANGE: last_ms,
            }
            return [
                HistoryEntry((current or "") if step.value is None else step.value, times[step.at], step.source)
                for step in origin.stage_steps
            ]
        return [] if current is None else [HistoryEntry(current, created_ms, origin.created_by)]

    def record_change(self, name: str, slot: int, entry: HistoryEntry, *, before: str | None, created_ms: int) -> None:
        """Append ``entry``; the first change keeps what the origin told about the value ``before`` it."""
        by_slot = self._changes.setdefault(name, {})
        entries = by_slot.get(slot)
        if entries is None:
            entries = by_slot[slot] = self.told(name, slot, before, created_ms)
        entries.append(entry)

    def entries(self, name: str, slot: int, current: str | None, created_ms: int) -> list[HistoryEntry]:
        """Newest first, as HubSpot returns them."""
        stored = self._changes.get(name, {}).get(slot)
        return (stored if stored is not None else self.told(name, slot, current, created_ms))[::-1]

    def clone(self) -> PropertyHistory:
        copy = PropertyHistory()
        copy._origins = list(self._origins)  # Origin is immutable
        copy._origin_ids = dict(self._origin_ids)
        copy._origin_of = array("H", self._origin_of)
        copy._last_change_s = array("I", self._last_change_s)
        copy._changes = {
            name: {slot: list(entries) for slot, entries in by_slot.items()} for name, by_slot in self._changes.items()
        }
        return copy
