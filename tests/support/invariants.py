"""The invariants a fault test proves after a run, read from the sandbox's own state, never from lifecycle-guard's.

- the portal is exactly what the oracle expected before the run: 0 wrong, 0 blank (``portal_problems``) - except the
  records HubSpot refused a write of, which hold exactly the stage they had;
- the journal holds every applied write: per record, the lifecycle-stage values HubSpot's history shows as written
  by the API during the runs equal, in order, the values the journals record as applied sets and clears; and each
  record's first journaled write starts from the value the record held before the runs, so an undo restores
  exactly that (``journal_problems``; a prevention flow that fills a blank of ours with the value we set next is
  the one other writer counted, as our set then changes nothing);
- what a run's report says it spent on the API equals what the sandbox counted (``api_mismatches``).

Journal entries are compared after collapsing repeats: a retried job re-reads its batch and confirms a write an
earlier attempt already journaled ("confirmed after restart"); that is not a second write, and HubSpot's history
shows none.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from hubspot_sandbox import Portal
from hubspot_sandbox.history import HistoryEntry
from lifecycle_guard.journal import JournalEntry, Write, WriteOutcome, read_journal
from lifecycle_guard.layout import RunLayout, index_key
from lifecycle_guard.storage import ObjectStore
from support.oracle import actual_stages, differences

Key = tuple[str, str]
STAGE = "lifecyclestage"
OBJECT_TYPES = ("companies", "contacts")


def now_ms() -> int:
    return int(time.time() * 1000)


# ---------------------------------------------------------------- the portal


def portal_problems(
    expected: Mapping[Key, str], portal: Portal, *, refused: Mapping[Key, str] | None = None
) -> list[str]:
    """Every record that is not at the oracle's stage, and every record left without a stage. Records HubSpot refused
    a write of (``refused``: their stage before the runs) must hold exactly that stage instead - blank only if they
    were blank before."""
    refused = refused or {}
    actual = actual_stages(portal)
    blank = [
        f"{object_type} {record_id}: blank"
        for (object_type, record_id), stage in actual.items()
        if not stage and refused.get((object_type, record_id)) != ""
    ]
    return differences({**expected, **refused}, actual) + blank


def refused_records(report: Mapping[str, Any]) -> dict[str, set[Key]]:
    """The records a report lists as refused by HubSpot, by reason."""
    return {
        group["reason"]: {(record["object_type"], record["object_id"]) for record in group["records"]}
        for group in report["rejected"]
    }


# ---------------------------------------------------------------- the journal


def run_layout(store: ObjectStore, run_id: str) -> RunLayout:
    body = store.get(index_key(run_id))
    assert body is not None, f"run {run_id} never started"
    return RunLayout(run_id, str(json.loads(body)["prefix"]))


def journal_of(store: ObjectStore, *run_ids: str) -> list[JournalEntry]:
    """The runs' journal entries in run order: the compacted journal of a finished run, the segments of one that
    died before its report."""
    return [entry for run_id in run_ids for entry in read_journal(store, run_layout(store, run_id))]


def api_stage_writes(portal: Portal, since_ms: int) -> dict[Key, list[HistoryEntry]]:
    """Per record, the stage history since ``since_ms``, oldest first ("" is a clear), from the API's first write on
    (what other sources did later is needed to read the API's writes right: ``_journaled_as_hubspot_saw``)."""
    writes: dict[Key, list[HistoryEntry]] = {}
    for object_type in OBJECT_TYPES:
        for record_id, _ in portal.records(object_type):
            history = portal.property_history(object_type, record_id, STAGE)
            recent = [e for e in reversed(history) if e.timestamp_ms >= since_ms]
            first_api = next((i for i, e in enumerate(recent) if e.source_type == "API"), None)
            if first_api is not None:
                writes[(object_type, record_id)] = recent[first_api:]
    return writes


def _applied_by_the_api(history: list[HistoryEntry], journaled: list[str]) -> list[str]:
    """The values the API applied, in order, counting a workflow's fill of a blank the API had just made as the
    API's when the journal's next write is that same value.

    That is the race of a backward move against the prevention workflows: our clear enrolls the record, the flow
    sets its default stage before our set arrives, and our set of that same value then changes nothing - HubSpot
    keeps no history entry for a write that leaves a value as it was (the sandbox's reading, ``writes.py``:
    UNCONFIRMED for HubSpot). The record is where the journal says, by the journal's write or the flow's.
    """
    applied: list[str] = []
    for entry in history:
        after_our_clear = bool(applied) and applied[-1] == ""
        journaled_next = journaled[len(applied)] if len(applied) < len(journaled) else None
        if entry.source_type == "API" or (after_our_clear and journaled_next == entry.value):
            applied.append(entry.value)
    return applied


def journaled_stage_writes(entries: Iterable[JournalEntry]) -> dict[Key, list[JournalEntry]]:
    """Per record, the applied sets and clears of the journal, repeats of the same value collapsed."""
    writes: dict[Key, list[JournalEntry]] = defaultdict(list)
    for entry in entries:
        if entry.outcome is not WriteOutcome.APPLIED or entry.write is Write.NONE:
            continue
        key = (entry.object_type.value, entry.object_id)
        if not writes[key] or writes[key][-1].after != entry.after:
            writes[key].append(entry)
    return dict(writes)


def journal_problems(
    portal: Portal, entries: Iterable[JournalEntry], *, before: Mapping[Key, str], since_ms: int
) -> list[str]:
    """Differences between what HubSpot applied since ``since_ms`` and what the journals say was applied."""
    applied = api_stage_writes(portal, since_ms)
    journaled = journaled_stage_writes(sorted(entries, key=lambda entry: entry.at))
    problems = []
    for key in sorted(applied.keys() | journaled.keys()):
        in_journal = [entry.after for entry in journaled.get(key, [])]
        in_hubspot = _applied_by_the_api(applied.get(key, []), in_journal)
        if in_hubspot != in_journal:
            problems.append(f"{key[0]} {key[1]}: HubSpot applied {in_hubspot}, the journal says {in_journal}")
        elif key in journaled and journaled[key][0].before != before.get(key):
            first = journaled[key][0]
            problems.append(
                f"{key[0]} {key[1]}: journaled from {first.before!r} ({first.rule}), but it held "
                f"{before.get(key)!r} before the run: an undo would restore the wrong value"
            )
    return problems


# ---------------------------------------------------------------- reports and the sandbox's counters


def report_of(store: ObjectStore, summary: Mapping[str, Any]) -> dict[str, Any]:
    body = store.get(summary["files"]["report_json"])
    assert body is not None, summary
    report: dict[str, Any] = json.loads(body)
    return report


def checks_of(report: Mapping[str, Any]) -> dict[str, str]:
    return {check["name"]: check["status"] for check in report["checks"]}


def batch_updates(stats: Mapping[str, Any]) -> int:
    """Batch update requests the sandbox received (applied or not)."""
    return sum(n for call, n in stats["calls"].items() if call.endswith("/batch/update"))


READ_CALLS = ("/search", "/batch/read", "/get/access-token-info")


def write_calls(stats: Mapping[str, Any]) -> dict[str, int]:
    """Calls the sandbox received on any endpoint that is not a read, whether or not the write was applied (its
    own ``write_requests`` counts applied writes only)."""
    return {
        call: n for call, n in stats["calls"].items() if not call.startswith("GET ") and not call.endswith(READ_CALLS)
    }


def flow_writes(stats: Mapping[str, Any]) -> int:
    """Workflow creations, replacements and deletions the sandbox received."""
    return sum(
        n for call, n in stats["calls"].items() if "/automation/v4/flows" in call and not call.startswith("GET ")
    )


def api_mismatches(report: Mapping[str, Any], stats: Mapping[str, Any]) -> list[str]:
    """Where the report's API accounting differs from what the sandbox saw (the run being its only client)."""
    api = report["api"]
    problems = []
    if api["total_calls"] != sum(stats["calls"].values()):
        problems.append(f"report counts {api['total_calls']} calls, the sandbox {sum(stats['calls'].values())}")
    if api["statuses"] != stats["statuses"]:
        problems.append(f"report statuses {api['statuses']}, the sandbox's {stats['statuses']}")
    if api["throttled"] != stats["rate_limited"]:
        problems.append(f"report throttled {api['throttled']}, the sandbox rate limited {stats['rate_limited']}")
    return problems
