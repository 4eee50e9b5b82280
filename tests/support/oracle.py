"""An independent, deliberately plain reading of the seed rules over the sandbox's own state.

Tests compare the portal after a run with this; it shares no code with lifecycle_guard's planner, so a planning
bug cannot hide by being repeated here.
"""

from __future__ import annotations

from hubspot_sandbox import Portal

DISALLOWED = {"subscriber", "other", "evangelist"}
PRIMARY = 1


def _company_target(portal: Portal, company_id: str) -> str:
    won = opened = False
    for link in portal.associations("companies", company_id, "deals"):
        deal = portal.get_properties("deals", link.to_id)
        if deal.get("hs_is_closed_won") == "true":
            won = True
        elif deal.get("hs_is_closed") != "true":
            opened = True
    return "customer" if won else "opportunity" if opened else "lead"


def expected_stages(portal: Portal) -> dict[tuple[str, str], str]:
    """The stage every contact and company should hold after one apply run with the default config."""
    expected: dict[tuple[str, str], str] = {}
    for company_id, properties in portal.records("companies"):
        stage = properties.get("lifecyclestage") or ""
        expected[("companies", company_id)] = (
            _company_target(portal, company_id) if stage == "" or stage in DISALLOWED else stage
        )
    for contact_id, properties in portal.records("contacts"):
        stage = properties.get("lifecyclestage") or ""
        primary = next(
            (
                link.to_id
                for link in portal.associations("contacts", contact_id, "companies")
                if PRIMARY in link.type_ids
            ),
            None,
        )
        company_stage = expected.get(("companies", primary)) if primary else None
        if stage == "":
            target = company_stage if company_stage in ("customer", "opportunity") else "lead"
        elif stage in ("subscriber", "other"):
            target = "lead"
        elif stage == "evangelist":
            target = "customer" if company_stage == "customer" else "lead"
        else:
            target = stage
        expected[("contacts", contact_id)] = target
    return expected


def actual_stages(portal: Portal) -> dict[tuple[str, str], str]:
    return {
        (object_type, record_id): properties.get("lifecyclestage") or ""
        for object_type in ("companies", "contacts")
        for record_id, properties in portal.records(object_type)
    }


def differences(expected: dict[tuple[str, str], str], actual: dict[tuple[str, str], str]) -> list[str]:
    return [
        f"{key[0]} {key[1]}: expected {want!r}, found {actual.get(key)!r}"
        for key, want in expected.items()
        if actual.get(key) != want
    ]
