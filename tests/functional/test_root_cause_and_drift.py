"""Root cause and drift end to end against the sandbox (real SDK over HTTP) and moto: the generated offenders come
out on top with the manifest's counts, and runs after new bad records arrive show the trend."""

from __future__ import annotations

import json
from typing import Any

from support.pipeline import run_pipeline

from hubspot_sandbox import ChangeSource, PortalSpec, generate_portal
from hubspot_sandbox.origins import CHURN_WORKFLOW
from lifecycle_guard.journal import JournalEntry, Write

BUCKET = "lifecycle-guard-test-reports"
APPLY = {"action": "run", "mode": "apply", "config": {"verification": {"live_test": False}}}
SPEC = PortalSpec(contacts=1500, companies=150, seed=21)
TRADE_SHOW_IMPORT = ChangeSource("IMPORT", "31405599", "Trade show 2026.csv")
OBJECT_TYPE_IDS = {"contacts": "0-1", "companies": "0-2"}  # HubSpot's ids of the object types, in record links
Key = tuple[str, str, str]  # object type, source type, source id


def read_json(aws, key: str) -> Any:
    return json.loads(aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def by_source(report: dict[str, Any]) -> dict[Key, tuple[int, int]]:
    return {
        (c["object_type"], c["source"]["source_type"], c["source"]["source_id"]): (c["missing"], c["disallowed"])
        for c in report["sources"]
    }


def test_the_generated_offenders_come_out_on_top_with_their_counts_and_the_trend_follows_new_bad_records(
    aws, start_sandbox, make_services
):
    # GIVEN a generated dirty portal, whose manifest says which sources left how many records dirty
    portal = generate_portal(SPEC)
    assert portal.generation is not None
    sandbox = start_sandbox(portal)
    services = make_services(sandbox)
    # WHEN a first run fixes it
    first = run_pipeline(services, APPLY, name="trend-1")
    assert first["outcome"] == "succeeded", first
    report = read_json(aws, first["files"]["report_json"])
    # THEN every record fixed is counted under the source the manifest blames, with the manifest's counts
    expected = {
        (object_type, o.source.source_type, o.source.source_id or ""): (o.missing, o.disallowed)
        for object_type in ("contacts", "companies")
        for o in portal.generation.offenders(object_type)
    }
    assert by_source(report) == expected
    assert sum(m + d for m, d in expected.values()) == first["changes_applied"]
    # ... worst first: the top offender of each object type leads its rows
    for object_type in ("contacts", "companies"):
        rows = [c for c in report["sources"] if c["object_type"] == object_type]
        top = portal.generation.offenders(object_type)[0]
        assert (rows[0]["source"]["source_type"], rows[0]["source"]["source_id"]) == (
            top.source.source_type,
            top.source.source_id or "",
        )
    # ... linked into the portal the token belongs to, for machines too, and named in the summary's one line
    portal_id = report["portal_id"]
    assert portal_id is not None
    top = report["sources"][0]
    assert top["record_links"] == {
        i: f"https://app.hubspot.com/contacts/{portal_id}/record/{OBJECT_TYPE_IDS[top['object_type']]}/{i}"
        for i in top["sample"]
    }
    assert top["link"].startswith("https://app.hubspot.com/")
    assert first["where_from"].startswith(f"{first['changes_applied']:,} records fixed; ")
    # ... and the plan and the journal carry each record's source
    plan = [
        json.loads(line) for line in aws.s3.get_object(Bucket=BUCKET, Key=first["files"]["plan"])["Body"].iter_lines()
    ]
    assert all(row["source"]["source_type"] for row in plan)
    journal_body = aws.s3.get_object(Bucket=BUCKET, Key=first["files"]["journal"])["Body"].read()
    sets = [e for e in map(JournalEntry.model_validate_json, journal_body.splitlines()) if e.write is Write.SET]
    assert sets
    assert all(e.source is not None for e in sets)
    assert report["drift"]["fixed_change"] is None  # the first run in the look-back

    # GIVEN new bad records: the churn workflow sets 30 more contacts to "other", a new import brings 12 subscribers
    churn = CHURN_WORKFLOW.source
    portal.set_dirty_stages("contacts", 30, churn, "other")
    portal.add_dirty_records("contacts", 12, TRADE_SHOW_IMPORT, stage="subscriber", source_name="Trade show 2026.csv")
    # WHEN the second run goes through
    second = run_pipeline(services, APPLY, name="trend-2")
    assert second["outcome"] == "succeeded", second
    report = read_json(aws, second["files"]["report_json"])
    # THEN it blames exactly them, names the import as new since the last run, and shows both runs
    assert by_source(report) == {
        ("contacts", "AUTOMATION_PLATFORM", "1487203390"): (0, 30),
        ("contacts", "IMPORT", "31405599"): (0, 12),
    }
    drift = report["drift"]
    assert drift["new_sources"] == ["contacts IMPORT:31405599"]
    assert [run["run_id"] for run in drift["runs"]] == ["trend-1", "trend-2"]
    assert [run["fixed"] for run in drift["runs"]] == [first["changes_applied"], 42]
    assert second["fixed_change"] == 42 - first["changes_applied"]
    # ... the before-counts over time: the first run saw the generated portal's blanks, the second none; and
    # the second saw exactly the 42 new contacts at a disallowed stage
    befores = [run["before"]["contacts"]["missing"] for run in drift["runs"]]
    assert befores[0] > 0
    assert befores[1] == 0
    assert [run["before_disallowed"]["contacts"] for run in drift["runs"]][1] == 42

    # GIVEN five more from the workflow, WHEN a third run goes through, THEN the trend has three runs, falling
    portal.set_dirty_stages("contacts", 5, churn, "other")
    third = run_pipeline(services, APPLY, name="trend-3")
    assert third["outcome"] == "succeeded", third
    drift = read_json(aws, third["files"]["report_json"])["drift"]
    assert [run["fixed"] for run in drift["runs"]] == [first["changes_applied"], 42, 5]
    assert [run["by_source"] for run in drift["runs"]][1:] == [
        {"contacts AUTOMATION_PLATFORM:1487203390": 30, "contacts IMPORT:31405599": 12},
        {"contacts AUTOMATION_PLATFORM:1487203390": 5},
    ]
    assert drift["new_sources"] == []
    assert third["fixed_change"] == -37
    page = aws.s3.get_object(Bucket=BUCKET, Key=third["files"]["report_html"])["Body"].read().decode()
    assert "<h2>Across runs</h2>" in page
    assert "5 records fixed this run, 37 fewer than trend-2, the last apply run before it that succeeded" in page
    # ... linking its one source, the churn workflow, and the records it left, into the portal
    assert f'href="https://app.hubspot.com/workflows/{portal_id}/platform/flow/1487203390/edit"' in page
    (workflow,) = read_json(aws, third["files"]["report_json"])["sources"]
    for record_id in workflow["sample"]:
        assert f'href="https://app.hubspot.com/contacts/{portal_id}/record/0-1/{record_id}"' in page
    assert len(workflow["sample"]) == 5
