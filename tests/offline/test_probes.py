"""The CLI's probe clean-up: strays of runs this OUT knows go at once, strays of other runs once no live test can
still be using them, and nothing that merely resembles a probe."""

from datetime import UTC, datetime, timedelta

from support.memory_crm import InMemoryCrm

from lifecycle_guard.live_test import Probe, probe_properties
from lifecycle_guard.objects import ObjectType
from lifecycle_guard_offline.probes import STRAY_AGE, find_probes, remove_run_probes, sweep_strays

NOW = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)


def add_probes(crm: InMemoryCrm, run_id: str, created: datetime) -> dict[ObjectType, str]:
    """A run's probe contact and company, as start_probes creates them, created at ``created``."""
    ids = {}
    for object_type, properties in probe_properties(run_id).items():
        ids[object_type] = crm.create(object_type.value, {**properties, "createdate": created.isoformat()}).id
    return ids


def test_strays_of_known_runs_and_old_strays_go_and_a_young_probe_of_an_unknown_run_stays():
    crm = InMemoryCrm()
    add_probes(crm, "Killed-Run", NOW - timedelta(minutes=1))  # this OUT's run, killed a minute ago
    add_probes(crm, "elsewhere-old", NOW - STRAY_AGE - timedelta(minutes=1))  # no live test lasts that long
    young = add_probes(crm, "elsewhere-now", NOW - timedelta(minutes=5))  # may be in its live test right now
    # a real person named like the probe, and a company at the probes' domain with another name, are not probes
    crm.add("contacts", "555", email="jo@example.com", firstname="lifecycle-guard", lastname="prevention probe")
    crm.add("companies", "556", name="Invalid Inc", domain="lifecycle-guard.invalid")
    removed = sweep_strays(crm, known_runs=["Killed-Run", "another"], now=NOW)
    assert sorted((p.run_id, p.object_type.value) for p in removed) == [
        ("elsewhere-old", "companies"),
        ("elsewhere-old", "contacts"),
        ("killed-run", "companies"),
        ("killed-run", "contacts"),
    ]
    left = {(p.object_type.value, p.object_id) for p in find_probes(crm)}
    assert left == {(object_type.value, object_id) for object_type, object_id in young.items()}
    assert "555" in crm.records["contacts"]
    assert "556" in crm.records["companies"]


def test_a_runs_probes_are_removed_by_id_and_by_marker():
    crm = InMemoryCrm()
    probes = add_probes(crm, "r1", NOW)
    other = add_probes(crm, "r2", NOW)
    # only the contact was recorded (the company's create answered too late): its marker finds the company
    remove_run_probes(crm, "r1", [Probe(object_type=ObjectType.CONTACTS, object_id=probes[ObjectType.CONTACTS])])
    assert probes[ObjectType.CONTACTS] not in crm.records["contacts"]
    assert probes[ObjectType.COMPANIES] not in crm.records["companies"]
    assert {p.object_id for p in find_probes(crm)} == set(other.values())
