"""The fewest HubSpot API calls one apply run can make on a portal, computed from the portal itself.

The targets come from the independent oracle of the engine tests (``tests/support/oracle.py``, which shares no
code with lifecycle_guard's planner); everything else is counted here from the portal's records, stage order and
associations. The rules are the product's seed rules (what the oracle implements and a default config applies).

**Batched work** (the minimum an ideal batcher needs, per phase and endpoint):

- planning, per object type: the records missing a stage or at subscriber/other/evangelist ("dirty") found by one
  keyset search, 200 per page: ``max(1, ceil(dirty / 200))`` searches;
- planning, context: every dirty company derives its stage from its deals, so its company->deal associations are
  read, 1000 inputs per call (plus one input per further page of 500 links); then the deals not yet known, 100 per
  batch read. Dirty contacts missing a stage or at evangelist take their primary company's stage, so their
  contact->company associations are read (1000 per call), then their primary companies that this run does not
  plan anyway, 100 per batch read;
- fixing, per object type: forward moves need one write, backward moves (to an earlier stage in the portal's
  order) two - a clear, then a set in a separate request: ``ceil((forward + 2 x backward) / 100)`` batch updates,
  and ``ceil((forward + backward) / 100)`` batch reads to read the sets back.

**Fixed overhead** (per run, independent of the portal's size; what lifecycle-guard's features cost): the two
stage properties, one token introspection; the audit before (per object type: total, missing, one count per
stage) and the same audit after; per object type, the verification's two counts (missing, disallowed), its
search for stray probes and its check that the deleted probes have left search before the after-audit; the spot
check (one contact read, one association read, one company read); the prevention flows (one listing, a create
per flow on a portal that has none); the live test (create, read, blank again, read again - at least once, more
while the workflow has not acted - and delete a probe contact and company).
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from math import ceil
from typing import Any

from common import REPO

from hubspot_sandbox import Portal, PortalSpec, generate_portal

sys.path.insert(0, str(REPO / "tests"))
from support.oracle import DISALLOWED, PRIMARY, expected_stages  # the oracle lives with the tests

SEARCH_PAGE = 200
BATCH = 100
ASSOCIATION_INPUTS = 1000
ASSOCIATION_PAGE = 500  # links per input per association read (HubSpot and the sandbox)
CONTEXT_TRIGGERS = ("", "evangelist")  # contact triggers whose target comes from the primary company
OBJECT_TYPES = ("companies", "contacts")

Endpoint = tuple[str, str]  # (phase, "METHOD /path")


def search(object_type: str) -> str:
    return f"POST /crm/v3/objects/{object_type}/search"


def batch(object_type: str, verb: str) -> str:
    return f"POST /crm/v3/objects/{object_type}/batch/{verb}"


def association_read(from_type: str, to_type: str) -> str:
    return f"POST /crm/v4/associations/{from_type}/{to_type}/batch/read"


@dataclass
class PortalMinimum:
    """The batched minimum per (phase, endpoint) and the counts it comes from."""

    calls: dict[Endpoint, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def phase_total(self, phase: str) -> int:
        return sum(n for (of, _), n in self.calls.items() if of == phase)

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": [{"phase": p, "endpoint": e, "minimum": n} for (p, e), n in self.calls.items()],
            "counts": self.counts,
            "total": self.total,
        }


def _moves(portal: Portal, object_type: str, expected: dict[tuple[str, str], str]) -> tuple[list[str], Counter[str]]:
    """The dirty records of a type (ids) and how many move forward / backward."""
    rank = {option.value: position for position, option in enumerate(portal.lifecycle_stages(object_type))}
    dirty: list[str] = []
    moves: Counter[str] = Counter()
    for record_id, properties in portal.records(object_type):
        stage = properties.get("lifecyclestage") or ""
        if stage and stage not in DISALLOWED:
            continue
        dirty.append(record_id)
        target = expected[(object_type, record_id)]
        backward = bool(stage) and (stage not in rank or rank[target] < rank[stage])
        moves["backward" if backward else "forward"] += 1
    return dirty, moves


def _association_calls(link_counts: list[int]) -> int:
    """Association batch reads for these inputs: each input takes one slot per page of its links."""
    return ceil(sum(max(1, ceil(n / ASSOCIATION_PAGE)) for n in link_counts) / ASSOCIATION_INPUTS)


def portal_minimum(portal: Portal) -> PortalMinimum:
    expected = expected_stages(portal)
    result = PortalMinimum()
    dirty: dict[str, list[str]] = {}
    for object_type in OBJECT_TYPES:
        dirty[object_type], moves = _moves(portal, object_type, expected)
        forward, backward = moves["forward"], moves["backward"]
        result.counts |= {
            f"{object_type}_dirty": len(dirty[object_type]),
            f"{object_type}_forward": forward,
            f"{object_type}_backward": backward,
        }
        result.calls[("plan", search(object_type))] = max(1, ceil(len(dirty[object_type]) / SEARCH_PAGE))
        result.calls[("fix", batch(object_type, "update"))] = ceil((forward + 2 * backward) / BATCH)
        result.calls[("fix", batch(object_type, "read"))] = ceil((forward + backward) / BATCH)

    planned_companies = set(dirty["companies"])
    deal_links = [portal.associations("companies", company, "deals") for company in dirty["companies"]]
    deals = {link.to_id for links in deal_links for link in links}
    result.calls[("plan", association_read("companies", "deals"))] = _association_calls([len(x) for x in deal_links])
    result.calls[("plan", batch("deals", "read"))] = ceil(len(deals) / BATCH)

    stages = {record_id: properties.get("lifecyclestage") or "" for record_id, properties in portal.records("contacts")}
    needing = [contact for contact in dirty["contacts"] if stages[contact] in CONTEXT_TRIGGERS]
    company_links = [portal.associations("contacts", contact, "companies") for contact in needing]
    primaries = {link.to_id for links in company_links for link in links if PRIMARY in link.type_ids}
    to_read = primaries - planned_companies
    result.calls[("plan", association_read("contacts", "companies"))] = _association_calls(
        [len(x) for x in company_links]
    )
    result.calls[("plan", batch("companies", "read"))] = ceil(len(to_read) / BATCH)
    result.counts |= {
        "companies_needing_deals": len(dirty["companies"]),
        "deals_of_dirty_companies": len(deals),
        "contacts_needing_company": len(needing),
        "primary_companies_not_planned": len(to_read),
    }
    return result


def fixed_overhead(stage_count: int) -> dict[str, int]:
    """The per-run calls outside planning and fixing (see the module docstring), per endpoint, on a portal
    without the prevention flows; ``stage_count`` = the portal's lifecycle stages (9 on generated portals)."""
    calls: Counter[str] = Counter()
    for object_type in OBJECT_TYPES:
        calls[f"GET /crm/v3/properties/{object_type}/lifecyclestage"] += 1
        # audit before and after: total, missing, one per stage; verification: missing, disallowed, stray probes,
        # probes gone from search
        calls[search(object_type)] += 2 * (2 + stage_count) + 4
        calls[f"POST /crm/v3/objects/{object_type}"] += 1  # the probe
        calls[f"GET /crm/v3/objects/{object_type}/{{id}}"] += 2  # given a stage, then given it again
        calls[f"PATCH /crm/v3/objects/{object_type}/{{id}}"] += 1  # blanked a second time
        calls[f"DELETE /crm/v3/objects/{object_type}/{{id}}"] += 1
    calls["POST /oauth/v2/private-apps/get/access-token-info"] += 1
    calls[batch("contacts", "read")] += 1  # spot check: the sampled contacts,
    calls[association_read("contacts", "companies")] += 1  # their primary companies
    calls[batch("companies", "read")] += 1  # and those companies' stages
    calls["GET /automation/v4/flows"] += 1
    calls["POST /automation/v4/flows"] += 2  # a contact and a company prevention flow
    return dict(calls)


def minimum_and_overhead(spec: PortalSpec) -> tuple[PortalMinimum, dict[str, int]]:
    """The batched minimum of the portal ``spec`` generates and the fixed overhead on it (the portal is dropped)."""
    portal = generate_portal(spec)
    minimum = portal_minimum(portal)
    fixed = fixed_overhead(len(portal.lifecycle_stages("contacts")))
    del portal
    return minimum, fixed
