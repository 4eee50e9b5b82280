"""HubSpot sandbox performance at scale: generation time and memory, and per-operation latency.

    .venv/bin/python bench/sandbox_perf.py [--contacts 1000000] [--companies N] [--reps 3] [--calls 30]

Operations (the shapes the lifecycle job uses): a 200-result keyset search page (``hs_object_id GT x`` AND
``lifecyclestage NOT_HAS_PROPERTY``, and the ``IN [...]`` variant), a count query (``limit=1``, read ``total``),
a 100-input batch update, an associations batch read of 1000 inputs, and a 50-input batch read with the stage's
history and the record source (what a root-cause lookup reads). Each is timed three ways:

* in-process — the Portal call alone (no HTTP, no JSON), on a portal generated in this process;
* server — the sandbox's own time for the HTTP request (``Server-Timing`` header: routing, JSON, handler);
* client — the round trip seen by hubspot-api-client 12 (adds the SDK's request building and model parsing).

The HTTP measurements go to a sandbox served by a separate process (``python -m hubspot_sandbox serve`` with the
same spec, hence the same portal), so the SDK's garbage in this process cannot pause the server. Each operation
runs ``--calls`` times per repetition after warm-up, ``--reps`` repetitions; the report gives the median and p95
over all calls and the spread (min..max) of the per-repetition medians. Results go to
``bench/results/sandbox_perf.json`` and ``bench/results/sandbox_perf.md``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import (
    RESULTS,
    Stopwatch,
    command_line,
    headline,
    machine,
    memory_mb,
    portal_spec,
    served_sandbox,
    write_results,
)
from hubspot import HubSpot

from hubspot_sandbox import Portal, Sandbox, generate_portal
from hubspot_sandbox.catalog import CONTACTS, LIFECYCLESTAGE
from hubspot_sandbox.search_query import parse_search_request

MODES = ("in_process", "server", "client")
HISTORY_READ_PROPERTIES = [LIFECYCLESTAGE, "hs_object_source", "hs_object_source_id", "hs_object_source_detail_1"]


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(share * len(ordered)), len(ordered) - 1)]


def server_ms(headers: Any) -> float:
    """The ``app;dur=`` of the sandbox's Server-Timing header."""
    return float(headers["Server-Timing"].split("dur=")[1])


@dataclass
class Operation:
    """One operation, callable in process and over HTTP; ``step`` is the call number (to vary the input)."""

    name: str
    description: str
    in_process: Callable[[int], object]
    over_http: Callable[[int], Any]  # returns the SDK's (data, status, headers)
    samples: dict[str, list[list[float]]] = field(default_factory=lambda: {mode: [] for mode in MODES})

    def measure(self, reps: int, calls: int, warmup: int = 3) -> None:
        for step in range(warmup):
            self.in_process(step)
            self.over_http(step)
        step = warmup
        for _ in range(reps):
            timings: dict[str, list[float]] = {mode: [] for mode in MODES}
            for _ in range(calls):
                started = time.perf_counter()
                self.in_process(step)
                timings["in_process"].append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                _, status, headers = self.over_http(step)
                timings["client"].append((time.perf_counter() - started) * 1000)
                timings["server"].append(server_ms(headers))
                if status >= 300:
                    raise RuntimeError(f"{self.name}: HTTP {status}")
                step += 1
            for mode in MODES:
                self.samples[mode].append(timings[mode])

    def summary(self) -> dict[str, Any]:
        result: dict[str, Any] = {"description": self.description}
        for mode in MODES:
            flat = [value for rep in self.samples[mode] for value in rep]
            medians = [statistics.median(rep) for rep in self.samples[mode]]
            result[mode] = {
                "median_ms": statistics.median(flat),
                "p95_ms": percentile(flat, 0.95),
                "rep_medians_ms": medians,
                "spread_ms": [min(medians), max(medians)],
                "calls": len(flat),
            }
        return result


class Workload:
    """The job's request shapes against a generated portal, with inputs that move on each call."""

    def __init__(self, portal: Portal, client: HubSpot, contacts: int) -> None:
        self.portal = portal
        self.client = client
        self.contact_ids = [CONTACTS.first_id + offset for offset in range(contacts)]
        self.cursor = {"missing": 0, "disallowed": 0}

    def keyset_body(self, kind: str, step: int) -> dict[str, Any]:
        # Walk forward through the id space, 200 matches at a time, like the job's keyset loop.
        lower = self.contact_ids[(step * 4_999) % len(self.contact_ids)]
        stage_filter = (
            {"propertyName": "lifecyclestage", "operator": "NOT_HAS_PROPERTY"}
            if kind == "missing"
            else {"propertyName": "lifecyclestage", "operator": "IN", "values": ["subscriber", "other", "evangelist"]}
        )
        return {
            "filterGroups": [
                {"filters": [{"propertyName": "hs_object_id", "operator": "GT", "value": str(lower)}, stage_filter]}
            ],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": ["lifecyclestage"],
            "limit": 200,
        }

    @staticmethod
    def count_body(operator: str) -> dict[str, Any]:
        stage_filter: dict[str, Any] = {"propertyName": "lifecyclestage", "operator": operator}
        if operator == "EQ":
            stage_filter["value"] = "lead"
        return {"filterGroups": [{"filters": [stage_filter]}], "limit": 1, "properties": ["lifecyclestage"]}

    def update_inputs(self, step: int) -> list[dict[str, Any]]:
        start = (step * 100 * 37) % (len(self.contact_ids) - 100)
        return [
            {"id": str(record_id), "properties": {"firstname": f"bench-{step}", "lifecyclestage": "customer"}}
            for record_id in self.contact_ids[start : start + 100]
        ]

    def history_ids(self, step: int) -> list[str]:
        start = (step * 50 * 13) % (len(self.contact_ids) - 50)
        return [str(record_id) for record_id in self.contact_ids[start : start + 50]]

    def association_inputs(self, step: int) -> list[str]:
        start = (step * 1000 * 7) % (len(self.contact_ids) - 1000)
        return [str(record_id) for record_id in self.contact_ids[start : start + 1000]]

    def search_in_process(self, body: dict[str, Any]) -> object:
        return self.portal.search("contacts", parse_search_request(body, CONTACTS))

    def search_over_http(self, body: dict[str, Any]) -> Any:
        return self.client.crm.contacts.search_api.do_search_with_http_info(public_object_search_request=body)

    def operations(self) -> list[Operation]:
        contacts = self.client.crm.contacts.batch_api
        associations = self.client.crm.associations.v4.batch_api
        return [
            Operation(
                "keyset_page_missing",
                "200-result keyset page: hs_object_id GT x AND NOT_HAS_PROPERTY",
                lambda step: self.search_in_process(self.keyset_body("missing", step)),
                lambda step: self.search_over_http(self.keyset_body("missing", step)),
            ),
            Operation(
                "keyset_page_in",
                "200-result keyset page: hs_object_id GT x AND lifecyclestage IN [3 stages]",
                lambda step: self.search_in_process(self.keyset_body("disallowed", step)),
                lambda step: self.search_over_http(self.keyset_body("disallowed", step)),
            ),
            Operation(
                "count_eq",
                "count query: lifecyclestage EQ lead, limit 1",
                lambda _step: self.search_in_process(self.count_body("EQ")),
                lambda _step: self.search_over_http(self.count_body("EQ")),
            ),
            Operation(
                "count_missing",
                "count query: lifecyclestage NOT_HAS_PROPERTY, limit 1",
                lambda _step: self.search_in_process(self.count_body("NOT_HAS_PROPERTY")),
                lambda _step: self.search_over_http(self.count_body("NOT_HAS_PROPERTY")),
            ),
            Operation(
                "batch_update_100",
                "batch update of 100 contacts (firstname + lifecyclestage)",
                lambda step: self.portal.update_records(
                    "contacts", [(item["id"], item["properties"]) for item in self.update_inputs(step)]
                ),
                lambda step: contacts.update_with_http_info(
                    batch_input_simple_public_object_batch_input={"inputs": self.update_inputs(step + 10_000)}
                ),
            ),
            Operation(
                "association_read_1000",
                "associations v4 batch read, 1000 contacts -> companies",
                lambda step: self.portal.association_pages(
                    "contacts", "companies", [(i, None) for i in self.association_inputs(step)], 500
                ),
                lambda step: associations.get_page_with_http_info(
                    "contacts",
                    "companies",
                    batch_input_public_fetch_associations_batch_request={
                        "inputs": [{"id": i} for i in self.association_inputs(step)]
                    },
                ),
            ),
            Operation(
                "history_read_50",
                "batch read of 50 contacts with lifecyclestage history and record source",
                lambda step: self.portal.read_records(
                    "contacts", self.history_ids(step), HISTORY_READ_PROPERTIES, [LIFECYCLESTAGE]
                ),
                lambda step: contacts.read_with_http_info(
                    batch_read_input_simple_public_object_id={
                        "inputs": [{"id": i} for i in self.history_ids(step)],
                        "properties": HISTORY_READ_PROPERTIES,
                        "propertiesWithHistory": [LIFECYCLESTAGE],
                    }
                ),
            ),
        ]


def markdown(report: dict[str, Any]) -> str:
    gen = report["generation"]
    lines = [
        "# HubSpot sandbox performance",
        "",
        f"Machine: {report['machine']['cpus']} CPUs, Python {report['machine']['python']}, "
        f"{report['machine']['platform']}. Run: {report['run']['reps']} repetitions x {report['run']['calls']} calls "
        f"per operation after warm-up. Command: `{report['run']['command']}`.",
        "",
        "## Generation and memory",
        "",
        "| contacts | companies | deals | contacts without a stage | generation (s) | RSS after generation (MB) "
        "| RSS + reset snapshot (MB) | peak RSS while generating (MB) | serving process RSS / peak (MB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {gen['contacts']:,} | {gen['companies']:,} | {gen['deals']:,} | {gen['contacts_without_stage']:,} "
        f"| {gen['seconds']:.1f} | {gen['rss_after_generation_mb']:.0f} | {gen['rss_with_reset_snapshot_mb']:.0f} "
        f"| {gen['peak_rss_mb']:.0f} | {gen['server_process_rss_mb']:.0f} / {gen['server_process_peak_rss_mb']:.0f} |",
        "",
        "## Latency (ms): median / p95, spread = min..max of per-repetition medians",
        "",
        "| operation | in-process | server (HTTP, Server-Timing) | server spread | client round trip (SDK) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, result in report["operations"].items():
        cells = [f"{result[mode]['median_ms']:.2f} / {result[mode]['p95_ms']:.2f}" for mode in MODES]
        spread = result["server"]["spread_ms"]
        lines.append(
            f"| {name}: {result['description']} | {cells[0]} | {cells[1]} "
            f"| {spread[0]:.2f}..{spread[1]:.2f} | {cells[2]} |"
        )
    lines += [
        "",
        "In-process = the Portal call alone; server = the sandbox's time for the HTTP request (routing, "
        "JSON parse/encode, handler); client = what hubspot-api-client sees, including its model parsing.",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--companies", type=int, help="default: contacts / 10")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reps", "--repeat", type=int, default=3)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    spec = portal_spec(args)

    clock = Stopwatch()
    started = time.perf_counter()
    portal = generate_portal(spec)
    seconds = time.perf_counter() - started
    after_generation = memory_mb()["rss_mb"]
    with_snapshot = Sandbox(portal)  # not started: only to weigh the reset snapshot a served portal keeps
    serving = memory_mb()["rss_mb"]
    del with_snapshot
    missing, _ = portal.search("contacts", parse_search_request(Workload.count_body("NOT_HAS_PROPERTY"), CONTACTS))
    with served_sandbox(spec) as served:
        client = HubSpot(access_token=served.token, host=served.url, base_url=served.url)
        operations = Workload(portal, client, spec.contacts).operations()
        for operation in operations:
            print(f"measuring {operation.name} ...", file=sys.stderr, flush=True)
            operation.measure(args.reps, args.calls)
        server_memory = served.memory_mb()
    operation_results = {operation.name: operation.summary() for operation in operations}
    report = {
        "machine": machine(),
        "run": {
            "reps": args.reps,
            "calls": args.calls,
            "seed": args.seed,
            "command": command_line(),
            "seconds": clock.seconds,
        },
        "generation": {
            "contacts": spec.contacts,
            "companies": spec.companies,
            "deals": portal.count("deals"),
            "contacts_without_stage": missing.total,
            "seconds": seconds,
            "rss_after_generation_mb": after_generation,
            "rss_with_reset_snapshot_mb": serving,
            "peak_rss_mb": memory_mb()["peak_rss_mb"],
            "server_process_rss_mb": server_memory["rss_mb"],
            "server_process_peak_rss_mb": server_memory["peak_rss_mb"],
        },
        "operations": operation_results,
        "headline": [
            headline(
                f"sandbox, {spec.contacts:,} contacts: generation s / serving RSS MB",
                f"{seconds:.1f} / {server_memory['rss_mb']:,.0f}",
            ),
            headline(
                "sandbox server time per request, median ms: 200-result keyset page / 100-record batch update / "
                "1000-input association read / 50-record history read",
                " / ".join(
                    f"{operation_results[name]['server']['median_ms']:.2f}"
                    for name in ("keyset_page_missing", "batch_update_100", "association_read_1000", "history_read_50")
                ),
            ),
        ],
    }
    write_results("sandbox_perf", report, markdown(report), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
