"""Prevention: ensure the workflows in a run; switch them off for an undo and back on after it."""

from __future__ import annotations

from lifecycle_guard.contracts import RunContext
from lifecycle_guard.crm import Flows
from lifecycle_guard.flow_pause import PauseRecord, SwitchedFlows, pause_flows, resume_flows
from lifecycle_guard.layout import PAUSED_FLOWS_PREFIX, paused_flows_key
from lifecycle_guard.runtime import Services
from lifecycle_guard.storage import ObjectStore
from lifecycle_guard.workflows import PreventionOutcome, ensure_flows


def prevent(run: RunContext, services: Services) -> PreventionOutcome:
    with services.hubspot(run.run_id, run.config) as gateway:
        return ensure_flows(gateway.flows, run.config, run.catalogs(), apply=run.apply)


def _store_pause(store: ObjectStore, record: PauseRecord) -> None:
    store.put(paused_flows_key(record.run_id), record.model_dump_json().encode())


def open_pause(store: ObjectStore, run_id: str) -> PauseRecord | None:
    """The pause record of undo ``run_id`` while its flows may still be off."""
    body = store.get(paused_flows_key(run_id))
    record = PauseRecord.model_validate_json(body) if body is not None else None
    return record if record is not None and record.open else None


def _open_pauses_of_others(store: ObjectStore, run_id: str) -> list[PauseRecord]:
    """The open records of earlier undos: they ended without switching their flows back on (see flow_pause)."""
    records = []
    for key in store.keys(PAUSED_FLOWS_PREFIX):
        other = key.removeprefix(PAUSED_FLOWS_PREFIX).split("/")[0]
        if key == paused_flows_key(other) and other != run_id and (record := open_pause(store, other)):
            records.append(record)
    return records


def pause_prevention(run: RunContext, services: Services) -> SwitchedFlows:
    """Before an undo writes: its restored blanks would otherwise be set to the default stage again by our own
    flows. It also takes over what earlier undos left off. A dry run switches nothing."""
    if not run.apply:
        return SwitchedFlows()
    earlier = _open_pauses_of_others(services.store, run.run_id)

    def remember(flow_ids: list[str]) -> None:
        _store_pause(services.store, PauseRecord(run_id=run.run_id, flow_ids=flow_ids))

    left_off = [flow_id for record in earlier for flow_id in record.flow_ids]
    with services.hubspot(run.run_id, run.config) as gateway:
        switched = pause_flows(gateway.flows, run.config, run.catalogs(), remember, left_off)
    for record in earlier:  # their ids are in this undo's record now
        _store_pause(services.store, record.model_copy(update={"resumed_by": run.run_id}))
    return switched


def resume_paused(run: RunContext, store: ObjectStore, record: PauseRecord, flows: Flows) -> SwitchedFlows:
    """Switch back on what ``record`` (this undo's open pause) holds, then close it."""
    resumed = resume_flows(flows, run.config, run.catalogs(), record.flow_ids)
    _store_pause(store, record.model_copy(update={"resumed_by": run.run_id}))
    return resumed


def resume_prevention(run: RunContext, services: Services) -> SwitchedFlows:
    """Switch back on what this undo's pause stored as switched off (the stored ids, not the state's: a pause
    that failed half-way stored them before its first write)."""
    record = open_pause(services.store, run.run_id)
    if record is None:
        return SwitchedFlows()
    with services.hubspot(run.run_id, run.config) as gateway:
        return resume_paused(run, services.store, record, gateway.flows)
