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

    @property
    def display_properties(self) -> tuple[str, ...]:
        """What a person knows a record by; searched with the stage at no extra request."""
        return ("firstname", "lastname", "email") if self is ObjectType.CONTACTS else ("name", "domain")


@dataclass(frozen=True, slots=True)
class Record:
    """One CRM record as read from HubSpot: its id and the properties we asked for."""

    id: str
    properties: dict[str, str | None]

    @property
    def stage(self) -> str:
        return self.properties.get(LIFECYCLE_STAGE) or NO_STAGE

    def label(self, object_type: ObjectType) -> str:
        """A contact's name and e-mail, a company's name and domain: whichever are set."""
        values = [self.properties.get(name) or "" for name in object_type.display_properties]
        if object_type is ObjectType.CONTACTS:
            name, email = " ".join(v for v in values[:2] if v), values[2]
            return f"{name} <{email}>" if name and email else name or email
        name, domain = values
        return f"{name} ({domain})" if name and domain else name or domain
