"""The live test's probe records, from the CLI's side of a run.

The verify step deletes the probe contact and company it created. A run stopped before that - a signal during the
live test's wait, or a kill - leaves them in the portal: a contact and a company nobody asked for. So the CLI removes
an interrupted run's probes on its way out (by the ids the execution's history holds, and by the run's marker for a
probe whose create answered too late to be recorded), and, before each run that writes, every stray probe an earlier
run left (``sweep_strays``).

A stray is recognised by the properties every probe is created with (``live_test.probe_properties``: the
``lifecycle-guard.invalid`` email and company domain, the fixed names) and the run id it carries. A probe of a run
this OUT directory knows has no run to wait for (its lock is ours), so it goes; a probe of another run - another OUT,
another laptop, the deployed state machine - may be in a live test right now, and is removed only once it is older
than any live test lasts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lifecycle_guard.crm import Crm, iter_pages
from lifecycle_guard.live_test import Probe, probe_filters, probe_properties
from lifecycle_guard.objects import ObjectType

# The longest live test a run elsewhere may be in: verification.live_test_wait_seconds (at most 3600) and
# settle_seconds (at most 900), with room to spare.
STRAY_AGE = timedelta(hours=2)
_RUN = "0run0"  # a run id that survives probe_properties' lowercasing, to find where a marker holds the run id
_RUN_CARRIER = {ObjectType.CONTACTS: "email", ObjectType.COMPANIES: "name"}  # as probe_filters marks them


@dataclass(frozen=True)
class _AllEqual:
    """Records holding all these values (one filter group: HubSpot ANDs a group's filters)."""

    values: Mapping[str, str]

    def search_groups(self) -> list[list[dict[str, Any]]]:
        return [[{"propertyName": name, "operator": "EQ", "value": value} for name, value in self.values.items()]]

    def matches(self, properties: Mapping[str, str | None]) -> bool:
        return all(properties.get(name) == value for name, value in self.values.items())


@dataclass(frozen=True)
class FoundProbe:
    object_type: ObjectType
    object_id: str
    run_id: str  # lowercase: the contact probe's email carries it so
    created_at: datetime | None


def find_probes(crm: Crm) -> Iterator[FoundProbe]:
    """Every probe record in the portal, of any run."""
    for object_type, properties in probe_properties(_RUN).items():
        carrier = _RUN_CARRIER[object_type]
        before, _, after = properties[carrier].partition(_RUN)
        where = _AllEqual({name: value for name, value in properties.items() if name != carrier})
        for page in iter_pages(crm, object_type, where, [carrier, "createdate", *where.values]):
            for record in page:
                marker = record.properties.get(carrier) or ""
                if where.matches(record.properties) and marker.startswith(before) and marker.endswith(after):
                    run_id = marker[len(before) : len(marker) - len(after)].lower()
                    created = _when(record.properties.get("createdate"))
                    yield FoundProbe(object_type, record.id, run_id, created)


def sweep_strays(crm: Crm, known_runs: Iterable[str], now: datetime | None = None) -> list[FoundProbe]:
    """Remove the probes earlier runs left; returns those removed."""
    known = {run_id.lower() for run_id in known_runs}
    cutoff = (now or datetime.now(UTC)) - STRAY_AGE
    removed = []
    for probe in list(find_probes(crm)):
        if probe.run_id in known or (probe.created_at is not None and probe.created_at < cutoff):
            crm.archive(probe.object_type, probe.object_id)
            removed.append(probe)
    return removed


def remove_run_probes(crm: Crm, run_id: str, created: Iterable[Probe]) -> None:
    """Remove one run's probes: those it recorded (search may not list a new record yet), then any its marker
    finds."""
    removed = {(probe.object_type, probe.object_id) for probe in created}
    for object_type, object_id in removed:
        crm.archive(object_type, object_id)  # one the verify step deleted already answers 404: fine
    for object_type, where in probe_filters(run_id).items():
        for page in iter_pages(crm, object_type, where, [where.name]):
            for record in page:
                if (object_type, record.id) not in removed:
                    crm.archive(object_type, record.id)
                    removed.add((object_type, record.id))


def _when(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None  # an unreadable date is no proof of age: such a probe is kept
