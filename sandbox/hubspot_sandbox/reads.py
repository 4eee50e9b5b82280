"""Reading records into plain values (what the HTTP layer renders and tests inspect)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from hubspot_sandbox.catalog import (
    CREATEDATE,
    CREATION_SOURCE_PROPERTIES,
    HS_LASTMODIFIEDDATE,
    HS_OBJECT_ID,
    LASTMODIFIEDDATE,
    ObjectType,
)
from hubspot_sandbox.history import HistoryEntry
from hubspot_sandbox.state import PortalState
from hubspot_sandbox.timefmt import iso_from_ms

ValueReader = Callable[[int, str], str | None]  # (record id, property) -> stored value


class RecordData(NamedTuple):
    id: str
    properties: dict[str, str | None]
    created_ms: int
    updated_ms: int
    archived_ms: int | None
    history: dict[str, list[HistoryEntry]] | None


def response_property_names(object_type: ObjectType, requested: Sequence[str] | None) -> list[str]:
    """Requested properties HubSpot knows plus the ones it always returns; the defaults when none are named."""
    if not requested:
        return list(object_type.default_properties)
    names = [name for name in dict.fromkeys(requested) if name in object_type.properties]
    return names + [name for name in object_type.always_properties if name not in names]


def history_property_names(object_type: ObjectType, requested: Sequence[str] | None) -> list[str]:
    return [name for name in dict.fromkeys(requested or ()) if name in object_type.properties]


class RecordReader:
    """Reads records of one type; ``values`` lets search substitute the lagged view of stored values."""

    __slots__ = ("_state", "_values", "object_type")

    def __init__(self, state: PortalState, object_type: ObjectType, values: ValueReader | None = None) -> None:
        self._state = state
        self.object_type = object_type
        store = state.store(object_type)
        self._values: ValueReader = values or (lambda record_id, name: store.value(record_id - store.first_id, name))

    def read(self, slot: int, names: Sequence[str], history_names: Sequence[str] = ()) -> RecordData:
        store = self._state.store(self.object_type)
        record_id = store.id_of(slot)
        created, updated = store.created_ms[slot], store.updated_ms[slot]
        properties: dict[str, str | None] = {}
        for name in names:
            if name == HS_OBJECT_ID:
                properties[name] = str(record_id)
            elif name == CREATEDATE:
                properties[name] = iso_from_ms(created)
            elif name in (LASTMODIFIEDDATE, HS_LASTMODIFIEDDATE):
                properties[name] = iso_from_ms(updated)
            elif name in CREATION_SOURCE_PROPERTIES:
                properties[name] = self._state.history[self.object_type.name].creation_value(slot, name)
            else:
                properties[name] = self._values(record_id, name)
        history = None
        if history_names:
            history = {name: self.history(slot, name) for name in history_names}
        return RecordData(str(record_id), properties, created, updated, store.archived_ms.get(slot), history)

    def history(self, slot: int, name: str) -> list[HistoryEntry]:
        """Newest first. Computed properties (ids, dates, record source) have none."""
        store = self._state.store(self.object_type)
        history = self._state.history[self.object_type.name]
        return history.entries(name, slot, store.value(slot, name), store.created_ms[slot])
