"""The CRM vocabulary every other module shares: object types, the lifecycle property, a record."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

LIFECYCLE_STAGE = "lifecyclestage"
# HubSpot stores "no value" as an empty string on writes and returns null on reads; we normalise to "".
NO_STAGE = ""


class ObjectType(StrEnum):
    """CRM object types lifecycle-guard reads, in the order a run fixes them (companies first)."""

    COMPANIES = "companies"
    CONTACTS = "contacts"

    @property
    def object_type_id(self) -> str:
        """HubSpot's numeric object type id, used by the Automation v4 API."""
        return {"contacts": "0-1", "companies": "0-2"}[self.value]


@dataclass(frozen=True, slots=True)
class Record:
    """One CRM record as read from HubSpot: its id and the properties we asked for."""

    id: str
    properties: dict[str, str | None]

    @property
    def stage(self) -> str:
        return self.properties.get(LIFECYCLE_STAGE) or NO_STAGE
