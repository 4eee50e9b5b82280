"""The dirty-portal generator: determinism, mixes, shapes, and (slow) the 1M-contact scale."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest

from hubspot_sandbox import CustomStage, Portal, PortalSpec, StageMix, generate_portal


def test_same_seed_same_portal() -> None:
    spec = PortalSpec(contacts=1500, companies=120, seed=21)
    assert generate_portal(spec).dump() == generate_portal(spec).dump()
    other = generate_portal(PortalSpec(contacts=1500, companies=120, seed=22)).dump()
    assert other["records"]["contacts"] != generate_portal(spec).dump()["records"]["contacts"]


def _stage_shares(portal: Portal, object_type: str) -> Counter[str | None]:
    counts: Counter[str | None] = Counter(props.get("lifecyclestage") for _, props in portal.records(object_type))
    return counts


def test_stage_mix_of_contacts_and_companies() -> None:
    portal = generate_portal(PortalSpec(contacts=20_000, companies=4_000, seed=5))
    contacts = _stage_shares(portal, "contacts")
    assert abs(contacts[None] / 20_000 - 0.12) < 0.015
    for disallowed in ("subscriber", "other", "evangelist"):
        assert contacts[disallowed] > 0
    assert contacts["52137490"] > 0  # the numeric custom stage
    assert {"lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer"} <= set(contacts)
    companies = _stage_shares(portal, "companies")
    assert abs(companies[None] / 4_000 - 0.15) < 0.03
    assert companies["customer"] > 0


def test_custom_mix_and_removed_stages() -> None:
    spec = PortalSpec(
        contacts=2000,
        companies=50,
        seed=2,
        removed_stages=("evangelist",),
        custom_stages=(CustomStage("111", "A", after="lead"), CustomStage("222", "B", after="111")),
        contact_stages=StageMix(missing=0.5, subscriber=0, other=0, evangelist=0.2, custom=0.5, valid=0),
    )
    portal = generate_portal(spec)
    values = [stage.value for stage in portal.lifecycle_stages("contacts")]
    assert values[:4] == ["subscriber", "lead", "111", "222"]
    assert "evangelist" not in values
    assert set(_stage_shares(portal, "contacts")) == {None, "111", "222"}


def test_deals_span_pipelines_and_outcomes() -> None:
    portal = generate_portal(PortalSpec(contacts=100, companies=600, seed=9))
    pipelines = {pipeline.id: pipeline for pipeline in portal.deal_pipelines()}
    assert len(pipelines) == 3
    outcomes: Counter[str] = Counter()
    used: set[str] = set()
    for deal_id, props in portal.records("deals"):
        stage = pipelines[props["pipeline"]].stage(props["dealstage"])
        assert stage is not None
        assert props["hs_is_closed"] == ("true" if stage.is_closed else "false")
        assert props["hs_is_closed_won"] == ("true" if stage.is_closed_won else "false")
        outcomes["won" if stage.is_closed_won else "lost" if stage.is_closed else "open"] += 1
        used.add(props["pipeline"])
        links = portal.associations("deals", deal_id, "companies")
        assert [link.type_ids for link in links] == [(5, 341)]
    assert set(outcomes) == {"won", "lost", "open"}
    assert used == set(pipelines)


def test_contact_link_shapes() -> None:
    portal = generate_portal(PortalSpec(contacts=3000, companies=300, seed=4))
    shapes: Counter[str] = Counter()
    for contact_id, _ in portal.records("contacts"):
        links = portal.associations("contacts", contact_id, "companies")
        primaries = [link for link in links if 1 in link.type_ids]
        assert len(primaries) <= 1
        assert all(279 in link.type_ids for link in links)  # a primary link also carries the unlabeled type
        if not links:
            shapes["none"] += 1
        elif primaries:
            shapes["primary+unlabeled" if len(links) > 1 else "primary"] += 1
        else:
            shapes["unlabeled only"] += 1
    assert set(shapes) == {"none", "primary", "primary+unlabeled", "unlabeled only"}
    assert abs(shapes["none"] / 3000 - 0.2) < 0.03


def test_more_than_10000_missing_at_100k() -> None:
    portal = generate_portal(PortalSpec(contacts=100_000, companies=10_000, seed=1))
    assert sum(1 for _, props in portal.records("contacts") if "lifecyclestage" not in props) > 10_000


SCALE_SCRIPT = """
import json, resource, time
from hubspot_sandbox import PortalSpec, generate_portal
started = time.perf_counter()
portal = generate_portal(PortalSpec(contacts=1_000_000, companies=100_000, seed=1))
seconds = time.perf_counter() - started
from hubspot_sandbox.search_query import parse_search_request
from hubspot_sandbox.catalog import CONTACTS
page, _ = portal.search("contacts", parse_search_request(
    {"filterGroups": [{"filters": [{"propertyName": "lifecyclestage", "operator": "NOT_HAS_PROPERTY"}]}],
     "limit": 1}, CONTACTS))
print(json.dumps({"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "contacts": portal.count("contacts"), "missing": page.total}))
"""


@pytest.mark.slow
def test_one_million_contacts_generate_in_about_a_minute_and_fit_in_memory() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCALE_SCRIPT], capture_output=True, text=True, check=True, timeout=300
    )
    measured = json.loads(result.stdout)
    assert measured["contacts"] == 1_000_000
    assert measured["missing"] > 10_000
    assert measured["seconds"] < 90
    assert measured["peak_rss_mb"] < 2048
