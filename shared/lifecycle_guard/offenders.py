"""Where the records a run fixed come from: the changed records counted by the source of their bad value, worst
first, with links to the source in HubSpot. Pure: the report step feeds it the changed records as it streams
them to ``changes.csv``."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from lifecycle_guard.changes import ChangedRecord, record_link
from lifecycle_guard.objects import NO_STAGE, ObjectType
from lifecycle_guard.sources import UNKNOWN, ValueSource

SAMPLE_RECORDS = 5  # records linked per source in the report
TOP_SOURCES = 50  # sources report.json and the page list (changes.csv has every record with its source)
SUMMARY_LINE_SOURCES = 3


class SourceCount(BaseModel):
    """How many records of one object type a source left without a stage or at a disallowed one."""

    object_type: ObjectType
    source: ValueSource
    missing: int = 0
    disallowed: int = 0
    sample: list[str] = []  # ids of the first records fixed
    link: str = ""  # the source's page in HubSpot (``source_link``), once the portal is known (``linked``)
    record_links: dict[str, str] = {}  # the sample's records in HubSpot, by id, likewise

    @property
    def total(self) -> int:
        return self.missing + self.disallowed

    @property
    def key(self) -> str:
        """``contacts INTEGRATION:2190533``: what the run summary and drift count by."""
        return f"{self.object_type.value} {self.source.key}"


class SourceTally:
    """Counts fixed records by (object type, source) as they go by. A source is one by its type and id: HubSpot
    labels it in some places (a record's creator, an import's history entry) and not in others, so the first
    label seen is kept."""

    def __init__(self) -> None:
        self._counts: dict[tuple[ObjectType, str], SourceCount] = {}

    def add(self, row: ChangedRecord) -> None:
        if not row.fixed:
            return
        source = row.source or UNKNOWN
        count = self._counts.get((row.object_type, source.key))
        if count is None:
            count = self._counts[(row.object_type, source.key)] = SourceCount(
                object_type=row.object_type, source=source
            )
        elif source.label and not count.source.label:
            count.source = source
        if row.before == NO_STAGE:
            count.missing += 1
        else:
            count.disallowed += 1
        if len(count.sample) < SAMPLE_RECORDS:
            count.sample.append(row.object_id)

    def ranked(self) -> list[SourceCount]:
        """Worst first; ties by object type and source, so the order is stable across runs."""
        return sorted(self._counts.values(), key=lambda c: (-c.total, c.object_type.value, c.source.key))


def summary_line(counts: Sequence[SourceCount]) -> str:
    """The run summary's one line: the top sources and their share of what the run fixed."""
    fixed = sum(count.total for count in counts)
    if not fixed:
        return "no records fixed"
    top = ", ".join(
        f"{count.source.describe()} {count.total:,} {count.object_type.value}"
        for count in counts[:SUMMARY_LINE_SOURCES]
    )
    shown = sum(count.total for count in counts[:SUMMARY_LINE_SOURCES])
    return f"{fixed:,} records fixed; {shown * 100 // fixed}% from: {top}"


def linked(counts: Sequence[SourceCount], portal_id: int | None) -> list[SourceCount]:
    """The counts with their links into the portal (unchanged when its id is unknown): for report.json's
    machines and the page alike."""
    if portal_id is None:
        return list(counts)
    return [
        count.model_copy(
            update={
                "link": source_link(portal_id, count.source),
                "record_links": {i: record_link(portal_id, count.object_type, i) for i in count.sample},
            }
        )
        for count in counts
    ]


def source_link(portal_id: int | None, source: ValueSource) -> str:
    """The source's page in HubSpot's app, where one is known (empty otherwise). The workflow address is the one
    the report already links prevention flows by; the others are HubSpot app pages as seen in its UI
    (UNCONFIRMED: not documented by HubSpot as stable addresses)."""
    if portal_id is None:
        return ""
    kind, ident = source.source_type, source.source_id
    if kind in ("AUTOMATION_PLATFORM", "WORKFLOW") and ident:
        return f"https://app.hubspot.com/workflows/{portal_id}/platform/flow/{ident}/edit"
    if kind == "IMPORT":
        return f"https://app.hubspot.com/import/{portal_id}/past-imports"
    if kind == "FORM" and ident:
        return f"https://app.hubspot.com/forms/{portal_id}/editor/{ident}/edit/form"
    if kind == "INTEGRATION":
        return f"https://app.hubspot.com/integrations-settings/{portal_id}/installed"
    if kind == "CRM_UI":
        return f"https://app.hubspot.com/settings/{portal_id}/users"
    return ""
