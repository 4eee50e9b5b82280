"""The object types the sandbox serves and the properties each one knows.

The catalogue drives validation (unknown or read-only properties are rejected like HubSpot does), which
properties get a search index, how filter values compare, and which properties responses return by default.
HubSpot portals know hundreds of properties; the sandbox knows these, so a misspelt name fails loudly — add a
PropertyDef here when the job needs another one. Not modelled: unique ``email`` on contacts, ``idProperty`` lookups.
Per the project's decision companies return ``lastmodifieddate`` by default (HubSpot itself uses
``hs_lastmodifieddate`` there); both names are served for companies and deals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class PropertyKind(StrEnum):
    STRING = "string"
    ENUMERATION = "enumeration"
    NUMBER = "number"
    DATETIME = "datetime"
    BOOL = "bool"


# Properties whose value is derived from record metadata rather than stored in a column.
HS_OBJECT_ID = "hs_object_id"
CREATEDATE = "createdate"
LASTMODIFIEDDATE = "lastmodifieddate"
HS_LASTMODIFIEDDATE = "hs_lastmodifieddate"

LIFECYCLESTAGE = "lifecyclestage"
DEALSTAGE = "dealstage"
PIPELINE = "pipeline"
HS_IS_CLOSED = "hs_is_closed"
HS_IS_CLOSED_WON = "hs_is_closed_won"

# HubSpot's record source ("how the record was created"), computed from the record's origin. Names as in real
# responses (hs_object_source, _id, _label, _detail_1: connector and client fixtures found in public code).
HS_OBJECT_SOURCE = "hs_object_source"
HS_OBJECT_SOURCE_ID = "hs_object_source_id"
HS_OBJECT_SOURCE_LABEL = "hs_object_source_label"
HS_OBJECT_SOURCE_DETAIL_1 = "hs_object_source_detail_1"
HS_OBJECT_SOURCE_USER_ID = "hs_object_source_user_id"
CREATION_SOURCE_PROPERTIES = (
    HS_OBJECT_SOURCE,
    HS_OBJECT_SOURCE_ID,
    HS_OBJECT_SOURCE_LABEL,
    HS_OBJECT_SOURCE_DETAIL_1,
    HS_OBJECT_SOURCE_USER_ID,
)


@dataclass(frozen=True, slots=True)
class PropertyDef:
    name: str
    kind: PropertyKind
    label: str
    group: str
    read_only: bool = False
    # Indexed properties have a value -> ids index, so EQ/IN/HAS/NOT_HAS filters on them never scan.
    indexed: bool = False


@dataclass(frozen=True, slots=True)
class ObjectType:
    name: str  # the plural the SDK puts in paths: "contacts"
    type_id: str  # HubSpot's object type id: "0-1"
    singular: str
    first_id: int  # ids are handed out increasingly from here; distinct ranges per type catch id mix-ups
    default_properties: tuple[str, ...]  # returned when a request names no properties
    always_properties: tuple[str, ...]  # returned in addition to whatever a request names
    text_search_properties: tuple[str, ...]  # what the free-text search `query` looks at
    properties: Mapping[str, PropertyDef]

    @property
    def upper_name(self) -> str:
        return self.singular.upper()

    @property
    def read_scope(self) -> str:
        return f"crm.objects.{self.name}.read"

    @property
    def write_scope(self) -> str:
        return f"crm.objects.{self.name}.write"

    @property
    def has_lifecycle(self) -> bool:
        return LIFECYCLESTAGE in self.properties

    @property
    def indexed_properties(self) -> tuple[str, ...]:
        return tuple(name for name, prop in self.properties.items() if prop.indexed)


def _props(group: str, *defs: tuple[str, PropertyKind, str] | PropertyDef) -> dict[str, PropertyDef]:
    result: dict[str, PropertyDef] = {}
    for item in defs:
        prop = item if isinstance(item, PropertyDef) else PropertyDef(item[0], item[1], item[2], group)
        result[prop.name] = prop
    return result


_S, _E, _N, _D, _B = (
    PropertyKind.STRING,
    PropertyKind.ENUMERATION,
    PropertyKind.NUMBER,
    PropertyKind.DATETIME,
    PropertyKind.BOOL,
)


def _system_props(group: str, *, last_modified: tuple[str, ...]) -> dict[str, PropertyDef]:
    props = {
        HS_OBJECT_ID: PropertyDef(HS_OBJECT_ID, _N, "Record ID", group, read_only=True),
        CREATEDATE: PropertyDef(CREATEDATE, _D, "Create Date", group, read_only=True),
    }
    for name in last_modified:
        props[name] = PropertyDef(name, _D, "Last Modified Date", group, read_only=True)
    for name, kind, label in (
        (HS_OBJECT_SOURCE, _E, "Record source"),
        (HS_OBJECT_SOURCE_ID, _S, "Record source ID"),
        (HS_OBJECT_SOURCE_LABEL, _S, "Record source label"),
        (HS_OBJECT_SOURCE_DETAIL_1, _S, "Record source detail 1"),
        (HS_OBJECT_SOURCE_USER_ID, _N, "Record source user"),
    ):
        props[name] = PropertyDef(name, kind, label, group, read_only=True)
    return props


def _lifecycle_prop(group: str) -> PropertyDef:
    return PropertyDef(LIFECYCLESTAGE, _E, "Lifecycle Stage", group, indexed=True)


CONTACTS = ObjectType(
    name="contacts",
    type_id="0-1",
    singular="contact",
    first_id=101,
    default_properties=("createdate", "email", "firstname", HS_OBJECT_ID, LASTMODIFIEDDATE, "lastname"),
    always_properties=(CREATEDATE, HS_OBJECT_ID, LASTMODIFIEDDATE),
    text_search_properties=("email", "firstname", "lastname", "phone", "company"),
    properties=MappingProxyType(
        {
            **_props(
                "contactinformation",
                ("email", _S, "Email"),
                ("firstname", _S, "First Name"),
                ("lastname", _S, "Last Name"),
                ("phone", _S, "Phone Number"),
                ("company", _S, "Company Name"),
                ("jobtitle", _S, "Job Title"),
                ("website", _S, "Website URL"),
                ("city", _S, "City"),
                ("state", _S, "State/Region"),
                ("country", _S, "Country/Region"),
                ("hs_lead_status", _S, "Lead Status"),
                ("hubspot_owner_id", _S, "Contact owner"),
                ("associatedcompanyid", _N, "Primary Associated Company ID"),
                _lifecycle_prop("contactinformation"),
            ),
            **_system_props("contactinformation", last_modified=(LASTMODIFIEDDATE,)),
        }
    ),
)

COMPANIES = ObjectType(
    name="companies",
    type_id="0-2",
    singular="company",
    first_id=5_000_000_001,
    default_properties=("createdate", "domain", HS_OBJECT_ID, LASTMODIFIEDDATE, "name"),
    always_properties=(CREATEDATE, HS_OBJECT_ID, LASTMODIFIEDDATE),
    text_search_properties=("name", "domain", "website", "phone"),
    properties=MappingProxyType(
        {
            **_props(
                "companyinformation",
                ("name", _S, "Name"),
                ("domain", _S, "Company Domain Name"),
                ("industry", _S, "Industry"),
                ("phone", _S, "Phone Number"),
                ("city", _S, "City"),
                ("state", _S, "State/Region"),
                ("country", _S, "Country/Region"),
                ("website", _S, "Website URL"),
                ("numberofemployees", _N, "Number of Employees"),
                ("annualrevenue", _N, "Annual Revenue"),
                ("hubspot_owner_id", _S, "Company owner"),
                _lifecycle_prop("companyinformation"),
            ),
            **_system_props("companyinformation", last_modified=(LASTMODIFIEDDATE, HS_LASTMODIFIEDDATE)),
        }
    ),
)

DEALS = ObjectType(
    name="deals",
    type_id="0-3",
    singular="deal",
    first_id=9_000_000_001,
    default_properties=(
        "amount",
        "closedate",
        "createdate",
        "dealname",
        DEALSTAGE,
        HS_LASTMODIFIEDDATE,
        HS_OBJECT_ID,
        PIPELINE,
    ),
    always_properties=(CREATEDATE, HS_LASTMODIFIEDDATE, HS_OBJECT_ID),
    text_search_properties=("dealname",),
    properties=MappingProxyType(
        {
            **_props(
                "dealinformation",
                ("dealname", _S, "Deal Name"),
                ("amount", _N, "Amount"),
                ("closedate", _D, "Close Date"),
                ("hubspot_owner_id", _S, "Deal owner"),
                PropertyDef(DEALSTAGE, _E, "Deal Stage", "dealinformation", indexed=True),
                PropertyDef(PIPELINE, _E, "Pipeline", "dealinformation", indexed=True),
                PropertyDef(HS_IS_CLOSED, _B, "Is Deal Closed?", "dealinformation", read_only=True, indexed=True),
                PropertyDef(HS_IS_CLOSED_WON, _B, "Is Closed Won", "dealinformation", read_only=True, indexed=True),
            ),
            **_system_props("dealinformation", last_modified=(LASTMODIFIEDDATE, HS_LASTMODIFIEDDATE)),
        }
    ),
)

OBJECT_TYPES: Mapping[str, ObjectType] = MappingProxyType({t.name: t for t in (CONTACTS, COMPANIES, DEALS)})

_ALIASES: Mapping[str, ObjectType] = MappingProxyType(
    {
        alias: object_type
        for object_type in OBJECT_TYPES.values()
        for alias in (object_type.name, object_type.singular, object_type.type_id)
    }
)


def resolve_object_type(token: str) -> ObjectType | None:
    """Accept what HubSpot accepts in paths: the plural name, the singular name, or the type id (``0-1``)."""
    return _ALIASES.get(token.lower())


def object_type(name: str) -> ObjectType:
    """The object type for a name or alias; KeyError for anything unknown (programming error in callers)."""
    resolved = resolve_object_type(name)
    if resolved is None:
        raise KeyError(f"unknown object type {name!r}; expected one of {sorted(OBJECT_TYPES)}")
    return resolved
