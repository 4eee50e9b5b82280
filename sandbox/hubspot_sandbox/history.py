"""Per-record property history (what ``propertiesWithHistory`` returns).

Sources: API writes are ``sourceType`` "API" without a ``sourceId`` (UNCONFIRMED: HubSpot labels private-app
writes by app); the workflow engine writes "AUTOMATION_PLATFORM" with the flow id; derived deal flags are
"CALCULATED"; generated and test-seeded values are "IMPORT" unless the caller names a source.

Stored sparsely: a (property, record) pair gets a list only once something changes it. Until then a set value
is reported as one entry stamped with the record's create date and the portal's load source, which is how a
generated portal of 1M records carries history without 1M lists.
"""

from __future__ import annotations

from typing import NamedTuple


class ChangeSource(NamedTuple):
    """HubSpot's ``sourceType``/``sourceId`` of a property change."""

    source_type: str
    source_id: str | None = None


API_SOURCE = ChangeSource("API")
IMPORT_SOURCE = ChangeSource("IMPORT")


def automation_source(flow_id: str) -> ChangeSource:
    return ChangeSource("AUTOMATION_PLATFORM", flow_id)


class HistoryEntry(NamedTuple):
    value: str  # "" records a clear, as HubSpot shows it
    timestamp_ms: int
    source_type: str
    source_id: str | None


class PropertyHistory:
    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[str, dict[int, list[HistoryEntry]]] = {}

    def record_change(self, name: str, slot: int, entry: HistoryEntry, *, loaded: HistoryEntry | None) -> None:
        """Append ``entry``; ``loaded`` is the implicit entry of the loaded value, kept on the first change."""
        entries = self._entries.setdefault(name, {}).get(slot)
        if entries is None:
            entries = self._entries[name][slot] = [loaded] if loaded is not None else []
        entries.append(entry)

    def entries(self, name: str, slot: int, *, loaded: HistoryEntry | None) -> list[HistoryEntry]:
        """Newest first, as HubSpot returns them."""
        stored = self._entries.get(name, {}).get(slot)
        if stored is None:
            return [loaded] if loaded is not None else []
        return stored[::-1]

    def clone(self) -> PropertyHistory:
        copy = PropertyHistory()
        copy._entries = {
            name: {slot: list(entries) for slot, entries in by_slot.items()} for name, by_slot in self._entries.items()
        }
        return copy
