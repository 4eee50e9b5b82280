"""Scale: a 1M-contact portal enumerated past HubSpot's 10,000-result search cap, and the size and memory of the plan
and of the journal for that many changes.

    .venv/bin/python bench/scale.py [--repeat 3] [--contacts 1000000] [--companies 100000] [--seed 1]

The portal is generated and served by ``hubspot-sandbox serve`` in its own process (no rate limits). This process
calls lifecycle-guard's domain code directly over HTTP through hubspot-api-client (a ``HubSpotGateway`` whose
pacers never wait), with a dict-backed object store in place of S3:

1. **enumeration** (``--repeat`` times): the planner's own search for dirty contacts (missing a stage OR at a
   disallowed one, two ORed filter groups) counted with one search, then read with ``gateway.iter_pages``
   (keyset paging on ``hs_object_id``, 200 per page). Checked: far more than 10,000 match, every match comes back
   exactly once in ascending id order, and a plain offset request past 10,000 is refused (HTTP 400) by the
   sandbox as by HubSpot;
2. **planning** (``--repeat`` times; read-only): ``Planner.plan`` over the whole portal (companies, then contacts)
   into a ``JobSink`` storing jobs as the plan step does. Measured: seconds, calls, CPU of this process, the plan's
   size (jobs and bytes as stored), and this process's peak RSS during planning (VmHWM reset just before) and RSS
   growth;
3. **fixing** (once: it changes the portal): ``Fixer.apply`` on every job, as the fix workers do (clear-then-set,
   read-back, a journal segment per batch). Measured: seconds, calls, outcomes, the journal's size (entries and
   bytes), peak RSS; then the journal is read back entry by entry (``read_journal``, as undo does) and a
   re-count confirms no dirty contact is left.

Finally the portal's batched minimum is computed in this process (``portal_minimum.py``, after the memory readings)
to compare the planning calls with it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise
from math import ceil
from typing import Any

from common import (
    Stopwatch,
    command_line,
    headline,
    machine,
    memory_mb,
    portal_arguments,
    portal_spec,
    progress,
    reset_peak_rss,
    served_sandbox,
    show,
    spread,
    table,
    verdict,
    write_results,
)
from common import cpu_seconds as process_cpu
from hubspot import HubSpot
from hubspot.crm.contacts.exceptions import ApiException
from portal_minimum import portal_minimum

from hubspot_sandbox import generate_portal
from lifecycle_guard.config import GuardConfig
from lifecycle_guard.crm import iter_pages
from lifecycle_guard.fixing import Fixer, FixOutcome
from lifecycle_guard.gateway import HubSpotGateway
from lifecycle_guard.jobs import JobSink, move_kind
from lifecycle_guard.journal import read_journal
from lifecycle_guard.layout import RunLayout
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.plan_store import PlanStore
from lifecycle_guard.planning import ContextCache, PlanCursor, Planner, dirty_filter
from lifecycle_guard.stages import StageCatalog
from lifecycle_guard.storage import MemoryStore

NAME = "scale"
SEARCH_CAP = 10_000
LAYOUT = RunLayout("bench-scale", "runs/bench/bench-scale/")
UNPACED = 1_000_000_000


def unpaced_gateway(url: str, token: str) -> HubSpotGateway:
    return HubSpotGateway(token, base_url=url, requests_per_10s=UNPACED, search_per_second=UNPACED)


def enumerate_dirty(url: str, token: str) -> dict[str, Any]:
    gateway = unpaced_gateway(url, token)
    dirty = dirty_filter(GuardConfig(), ObjectType.CONTACTS)
    clock = Stopwatch()
    total = gateway.crm.count(ObjectType.CONTACTS, dirty)
    ids: list[int] = []
    pages = 0
    for page in iter_pages(gateway.crm, ObjectType.CONTACTS, dirty, ["lifecyclestage"]):
        pages += 1
        ids.extend(int(record.id) for record in page)
    seconds = clock.seconds
    return {
        "matching": total,
        "read": len(ids),
        "pages": pages,
        "expected_pages": ceil(total / 200),
        "unique_ascending": all(a < b for a, b in pairwise(ids)),
        "complete": len(ids) == total,
        "seconds": seconds,
        "records_per_second": len(ids) / seconds,
        "calls": gateway.usage.total_calls,
    }


def offset_past_cap_status(url: str, token: str) -> int:
    """The status of a plain offset search asking for results past 10,000 (HubSpot answers 400)."""
    client = HubSpot(access_token=token, host=url, base_url=url)
    body = {"limit": 200, "after": str(SEARCH_CAP), "properties": ["lifecyclestage"]}
    try:
        client.crm.contacts.search_api.do_search(public_object_search_request=body)
    except ApiException as error:
        return int(error.status)
    return 200


def plan(url: str, token: str, catalogs: dict[ObjectType, StageCatalog]) -> tuple[dict[str, Any], MemoryStore]:
    config = GuardConfig()
    gateway = unpaced_gateway(url, token)
    store = MemoryStore()
    plans = PlanStore(store, LAYOUT)
    sink = JobSink(catalogs, config.fix.job_size, config.fix.batch_size, plans.put)
    cache = ContextCache()
    before = memory_mb()["rss_mb"]
    reset_peak_rss()
    clock, cpu_started = Stopwatch(), process_cpu()
    cursor = Planner(gateway.crm, config, sink, cache).plan(PlanCursor(), deadline=float("inf"))
    seconds, cpu_seconds = clock.seconds, process_cpu() - cpu_started
    memory = memory_mb()
    jobs, plan_bytes = store.size(LAYOUT.jobs)
    moves = Counter(move_kind(catalogs[job.object_type], c) for job in plans.jobs() for c in job.changes)
    changes = sum(moves.values())
    return {
        "done": cursor.done,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "calls": dict(gateway.usage.calls),
        "total_calls": gateway.usage.total_calls,
        "changes": changes,
        "moves": dict(moves),
        "jobs": jobs,
        "plan_bytes": plan_bytes,
        "bytes_per_change": plan_bytes / changes,
        "context_cache": {
            "planned_company_stages": len(cache.planned_company_stages),
            "company_stages": len(cache.company_stages),
            "deal_states": len(cache.deal_states),
        },
        "rss_before_mb": before,
        "peak_rss_mb": memory["peak_rss_mb"],
        "rss_after_mb": memory["rss_mb"],
    }, store


def fix(url: str, token: str, catalogs: dict[ObjectType, StageCatalog], store: MemoryStore) -> dict[str, Any]:
    config = GuardConfig()
    gateway = unpaced_gateway(url, token)
    outcome = FixOutcome()
    before = memory_mb()["rss_mb"]
    reset_peak_rss()
    clock, cpu_started = Stopwatch(), process_cpu()
    for job in list(PlanStore(store, LAYOUT).jobs()):
        fixer = Fixer(gateway.crm, catalogs[job.object_type], store, config.fix, LAYOUT)
        outcome.add(fixer.apply(str(job.job_id), job.changes))
    seconds, cpu_seconds = clock.seconds, process_cpu() - cpu_started
    memory = memory_mb()
    segments, journal_bytes = store.size(LAYOUT.journal_segments)
    reading = Stopwatch()
    reset_peak_rss()
    writes = Counter(entry.write.value for entry in read_journal(store, LAYOUT))
    read_seconds = reading.seconds
    left = unpaced_gateway(url, token).crm.count(ObjectType.CONTACTS, dirty_filter(config, ObjectType.CONTACTS))
    entries = sum(writes.values())
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "calls": dict(gateway.usage.calls),
        "total_calls": gateway.usage.total_calls,
        "applied": outcome.applied,
        "failed": outcome.failed,
        "ignored": outcome.ignored,
        "skipped": outcome.skipped,
        "journal_segments": segments,
        "journal_entries": entries,
        "journal_writes": dict(writes),
        "journal_bytes": journal_bytes,
        "bytes_per_entry": journal_bytes / entries,
        "rss_before_mb": before,
        "peak_rss_mb": memory["peak_rss_mb"],
        "rss_after_mb": memory["rss_mb"],
        "journal_read_seconds": read_seconds,
        "journal_read_peak_rss_mb": memory_mb()["peak_rss_mb"],
        "dirty_contacts_left": left,
    }


def markdown(report: dict[str, Any]) -> str:
    spec, s, fixing, served = report["portal"], report["summary"], report["fix"], report["sandbox"]
    first = report["enumeration"][0]
    plan_run = report["planning"][0]
    minimum = report["plan_minimum"]
    lines = [
        f"# Scale: {spec['contacts']:,} contacts",
        "",
        f"Portal: {spec['contacts']:,} contacts / {spec['companies']:,} companies (seed {spec['seed']}), served in "
        f"its own process (generated and listening after {served['startup_seconds']:.1f} s; RSS "
        f"{served['rss_mb']:,.0f} MB, peak {served['peak_rss_mb']:,.0f} MB). lifecycle-guard's domain code runs "
        f"in this process over HTTP (hubspot-api-client), unpaced, with an in-memory object store. Enumeration and "
        f"planning: {report['run']['repeat']} repetitions, median (min..max); fixing: once (it changes the portal). "
        f"Command: `{report['run']['command']}`.",
        "",
        "## Enumeration past the 10,000-result cap",
        "",
        *table(
            ["measure", "value"],
            [
                ["contacts matching the planner's dirty filter (one search's `total`)", f"{first['matching']:,}"],
                ["read back with keyset paging (records / pages)", f"{first['read']:,} / {first['pages']:,}"],
                [
                    "every match exactly once, ascending ids (every repetition)",
                    "yes" if all(e["complete"] and e["unique_ascending"] for e in report["enumeration"]) else "NO",
                ],
                ["offset request past 10,000 (`after=10000`): HTTP status", str(report["offset_past_cap_status"])],
                ["seconds", show(s["enumeration_seconds"], 1)],
                ["records / second", show(s["enumeration_rate"], 0)],
            ],
        ),
        "",
        "## The plan",
        "",
        *table(
            ["measure", "value"],
            [
                ["planning seconds (all searches and context reads, unpaced)", show(s["plan_seconds"], 1)],
                ["CPU seconds of this process while planning", show(s["plan_cpu_seconds"], 1)],
                ["HubSpot calls (minimum for this portal)", f"{plan_run['total_calls']:,} ({minimum['plan']:,})"],
                [
                    "changes planned (forward / backward)",
                    f"{plan_run['changes']:,} ({plan_run['moves'].get('forward', 0):,} / "
                    f"{plan_run['moves'].get('backward', 0):,})",
                ],
                [
                    "fix jobs stored / plan size as stored (MB)",
                    f"{plan_run['jobs']:,} / {plan_run['plan_bytes'] / 2**20:,.1f}",
                ],
                ["bytes per planned change", f"{plan_run['bytes_per_change']:.1f}"],
                [
                    "context cache: planned companies / company stages / deal states",
                    " / ".join(f"{n:,}" for n in plan_run["context_cache"].values()),
                ],
                ["RSS before planning (MB)", show(s["plan_rss_before_mb"], 0)],
                ["peak RSS while planning (MB)", show(s["plan_peak_rss_mb"], 0)],
                ["RSS after planning, plan held in memory (MB)", show(s["plan_rss_after_mb"], 0)],
            ],
        ),
        "",
        "## The journal (one fix of every job)",
        "",
        *table(
            ["measure", "value"],
            [
                [
                    "fixing seconds (unpaced) / CPU seconds of this process",
                    f"{fixing['seconds']:,.1f} / {fixing['cpu_seconds']:,.1f}",
                ],
                ["HubSpot calls", f"{fixing['total_calls']:,}"],
                [
                    "applied / failed / ignored / skipped",
                    f"{fixing['applied']:,} / {fixing['failed']:,} / {fixing['ignored']:,} / {fixing['skipped']:,}",
                ],
                [
                    "journal entries (clear / set)",
                    f"{fixing['journal_entries']:,} "
                    f"({fixing['journal_writes'].get('clear', 0):,} / {fixing['journal_writes'].get('set', 0):,})",
                ],
                [
                    "journal segments / size (MB)",
                    f"{fixing['journal_segments']:,} / {fixing['journal_bytes'] / 2**20:,.1f}",
                ],
                ["bytes per journal entry", f"{fixing['bytes_per_entry']:.0f}"],
                [
                    "RSS before fixing / peak while fixing (MB)",
                    f"{fixing['rss_before_mb']:,.0f} / {fixing['peak_rss_mb']:,.0f}",
                ],
                [
                    "reading the journal back (as undo does): seconds / peak RSS (MB)",
                    f"{fixing['journal_read_seconds']:,.1f} / {fixing['journal_read_peak_rss_mb']:,.0f}",
                ],
                ["dirty contacts left after fixing", f"{fixing['dirty_contacts_left']:,}"],
            ],
        ),
        "",
        "Peak RSS is this process's VmHWM, reset just before the phase; it includes the Python runtime, "
        "hubspot-api-client and, while fixing, the plan and the journal held by the in-memory store (in AWS they "
        "are in S3; a Lambda holds one job and one batch at a time).",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    portal_arguments(parser, contacts=1_000_000, work=False)
    args = parser.parse_args(argv)
    spec = portal_spec(args)
    clock = Stopwatch()

    progress(f"{NAME}: serving {spec.contacts:,} contacts")
    started = time.perf_counter()
    with served_sandbox(spec) as sandbox:
        startup = time.perf_counter() - started
        served = {"startup_seconds": startup, **sandbox.memory_mb()}
        url, token = sandbox.url, sandbox.token
        catalogs = {t: unpaced_gateway(url, token).crm.stage_catalog(t) for t in ObjectType}
        enumeration, planning = [], []
        store = MemoryStore()
        for number in range(args.repeat):
            progress(f"{NAME}: enumeration {number + 1}/{args.repeat}")
            enumeration.append(enumerate_dirty(url, token))
        status = offset_past_cap_status(url, token)
        for number in range(args.repeat):
            progress(f"{NAME}: planning {number + 1}/{args.repeat}")
            del store
            result, store = plan(url, token, catalogs)
            planning.append(result)
        progress(f"{NAME}: fixing every job once")
        fixing = fix(url, token, catalogs, store)
    del store
    progress(f"{NAME}: the portal's minimum (for the planning calls)")
    minimum = portal_minimum(generate_portal(spec))
    summary = {
        "enumeration_seconds": spread([e["seconds"] for e in enumeration]),
        "enumeration_rate": spread([e["records_per_second"] for e in enumeration]),
        **{
            f"plan_{key}": spread([p[key] for p in planning])
            for key in ("seconds", "cpu_seconds", "rss_before_mb", "peak_rss_mb", "rss_after_mb", "total_calls")
        },
    }
    enumerated_ok = all(e["complete"] and e["unique_ascending"] and e["matching"] > SEARCH_CAP for e in enumeration)
    plan_run = planning[0]
    report = {
        "machine": machine(),
        "run": {"repeat": args.repeat, "command": command_line(), "seconds": clock.seconds},
        "portal": {"contacts": spec.contacts, "companies": spec.companies, "seed": spec.seed},
        "sandbox": served,
        "enumeration": enumeration,
        "offset_past_cap_status": status,
        "planning": planning,
        "fix": fixing,
        "plan_minimum": {"plan": minimum.phase_total("plan"), "fix": minimum.phase_total("fix")},
        "summary": summary,
        "headline": [
            headline(
                f"{spec.contacts:,} contacts: dirty contacts enumerated by keyset paging past the 10,000 cap",
                f"{enumeration[0]['read']:,} of {enumeration[0]['matching']:,}, each once, in "
                f"{show(summary['enumeration_seconds'])} s (offset past 10,000: HTTP {status})",
                "all, each once",
                verdict(enumerated_ok and status == 400),
            ),
            headline(
                f"{spec.contacts:,} contacts: plan size / peak RSS while planning",
                f"{plan_run['changes']:,} changes in {plan_run['jobs']} jobs, "
                f"{plan_run['plan_bytes'] / 2**20:.1f} MB / {show(summary['plan_peak_rss_mb'], 0)} MB",
            ),
            headline(
                f"{spec.contacts:,} contacts: journal size / peak RSS while fixing",
                f"{fixing['journal_entries']:,} entries, {fixing['journal_bytes'] / 2**20:.1f} MB / "
                f"{fixing['peak_rss_mb']:,.0f} MB",
            ),
        ],
    }
    write_results(NAME, report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
