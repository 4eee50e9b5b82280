"""Root cause: which source gave each record its bad stage, how the plan carries it, and how the report counts it."""

from __future__ import annotations

from support.memory_crm import InMemoryCrm

from lifecycle_guard.changes import ChangedRecord
from lifecycle_guard.config import GuardConfig
from lifecycle_guard.crm import HISTORY_BATCH_SIZE
from lifecycle_guard.jobs import FixJob, JobId, JobSink, PlannedChange
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.offenders import SourceTally, source_link, summary_line
from lifecycle_guard.pending import marker_body, read_marker
from lifecycle_guard.planning import ContextCache, PlanCursor, Planner
from lifecycle_guard.sources import UNKNOWN, StageValue, ValueSource, record_creator, source_of_value

CONTACTS = ObjectType.CONTACTS
LEADSYNC = ValueSource(source_type="INTEGRATION", source_id="2190533")
CHURN_FLOW = ValueSource(source_type="AUTOMATION_PLATFORM", source_id="1487203390")
FORM = ValueSource(source_type="FORM", source_id="5f3c0a52", label="Newsletter signup")
USER = ValueSource(source_type="CRM_UI", source_id="userId:48211001", user_id="48211001")


def history(*entries: tuple[str, ValueSource]) -> list[StageValue]:
    return [StageValue(value=value, source=source) for value, source in entries]


def test_a_disallowed_stage_is_blamed_on_what_set_it_not_on_what_created_the_record():
    set_by_flow = history(("other", CHURN_FLOW), ("lead", FORM))  # newest first
    assert source_of_value("other", set_by_flow, creator=FORM) == CHURN_FLOW


def test_a_blank_is_blamed_on_what_cleared_it_or_on_the_creator_when_it_never_had_a_stage():
    cleared = history(("", USER), ("lead", FORM))
    assert source_of_value("", cleared, creator=FORM) == USER
    assert source_of_value("", [], creator=LEADSYNC) == LEADSYNC
    assert source_of_value("", [], creator=None) == UNKNOWN


def test_the_record_source_properties_name_the_creator():
    properties = {
        "hs_object_source": "IMPORT",
        "hs_object_source_id": "31405503",
        "hs_object_source_detail_1": "Purchased list 2023-04.csv",
        "hs_object_source_user_id": None,
    }
    creator = record_creator(properties)
    assert creator == ValueSource(source_type="IMPORT", source_id="31405503", label="Purchased list 2023-04.csv")
    assert creator.describe() == 'import "Purchased list 2023-04.csv"'
    assert record_creator({"hs_object_source": None}) is None


def test_history_entries_read_hubspots_value_with_timestamp():
    entry = {"value": "", "timestamp": "2024-01-01T00:00:00Z", "sourceType": "CRM_UI", "sourceId": "userId:7"}
    assert ValueSource.from_history({**entry, "updatedByUserId": 7}) == ValueSource(
        source_type="CRM_UI", source_id="userId:7", user_id="7"
    )
    assert ValueSource.from_history({"value": "x"}).source_type == "UNKNOWN"


def plan_contacts(crm: InMemoryCrm) -> list[PlannedChange]:
    config = GuardConfig()
    catalogs = {t: crm.stage_catalog(t) for t in ObjectType}
    jobs: list[PlannedChange] = []
    sink = JobSink(catalogs, config.fix.job_size, config.fix.batch_size, lambda _id, changes: jobs.extend(changes))
    cursor = Planner(crm, config, sink, ContextCache()).plan(PlanCursor(), float("inf"))
    assert cursor.done
    return jobs


def test_the_planner_reads_every_changed_records_history_in_batches_of_50_and_plans_its_source():
    crm = InMemoryCrm()
    blank_ids = [str(i) for i in range(1, 121)]
    for record_id in blank_ids:
        crm.add("contacts", record_id, hs_object_source="INTEGRATION", hs_object_source_id="2190533")
    crm.add("contacts", "500", "other")
    crm.set_history("contacts", "500", ("other", CHURN_FLOW), ("lead", FORM))
    crm.add("contacts", "501", "lead")  # clean: neither planned nor read
    changes = {c.object_id: c for c in plan_contacts(crm)}
    assert changes["1"].source == LEADSYNC
    assert changes["500"].source == CHURN_FLOW
    assert "501" not in changes
    history_reads = [call.ids for call in crm.calls if call.method == "stage_history"]
    assert [len(ids) for ids in history_reads] == [50, 50, 21]  # 121 records, HubSpot's 50 a request
    assert HISTORY_BATCH_SIZE == 50
    assert "501" not in {i for ids in history_reads for i in ids}


def test_the_source_travels_in_fix_jobs_and_pending_markers():
    change = PlannedChange(CONTACTS, "7", "other", "lead", "other:fixed", "Ann <a@x.test>", CHURN_FLOW)
    job = FixJob("run-1", JobId(3, CONTACTS, "backward"), [change])
    assert FixJob.from_json(job.to_json()).changes == [change]
    marker = read_marker("work/pending/run-1/000003-contacts-backward-0000.json", marker_body("run-1", "j", [change]))
    assert marker.changes == [change]
    # a job written before sources existed still reads, without one
    old = PlannedChange.from_row(CONTACTS, ["7", "other", "lead", "other:fixed", "Ann"])
    assert old.source is None


def row(object_id: str, before: str, source: ValueSource | None, outcome: str = "applied") -> ChangedRecord:
    return ChangedRecord(
        object_type=CONTACTS,
        object_id=object_id,
        label="",
        before=before,
        after="lead",
        target="lead",
        rule="r",
        outcome=outcome,
        source=source,
    )


def test_fixed_records_are_counted_by_source_worst_first_and_only_when_fixed():
    tally = SourceTally()
    for i in range(3):
        tally.add(row(f"b{i}", "", LEADSYNC))
    tally.add(row("o1", "other", CHURN_FLOW))
    tally.add(row("o2", "other", CHURN_FLOW))
    tally.add(row("o3", "", CHURN_FLOW))
    tally.add(row("f1", "other", FORM, outcome="failed"))  # not fixed: not counted
    tally.add(row("n1", "", None))
    tally.add(row("b3", "", LEADSYNC.model_copy(update={"label": "LeadSync"})))  # the same app, labelled
    ranked = tally.ranked()
    assert [(c.source.key, c.missing, c.disallowed) for c in ranked] == [
        ("INTEGRATION:2190533", 4, 0),
        ("AUTOMATION_PLATFORM:1487203390", 1, 2),
        ("UNKNOWN", 1, 0),
    ]
    assert ranked[0].source.label == "LeadSync"  # the label HubSpot gave somewhere is kept
    assert ranked[0].sample == ["b0", "b1", "b2", "b3"]
    assert ranked[1].key == "contacts AUTOMATION_PLATFORM:1487203390"
    assert summary_line(ranked) == (
        '8 records fixed; 100% from: integration app "LeadSync" 4 contacts, workflow 1487203390 3 contacts, unknown '
        "source 1 contacts"
    )
    assert summary_line([]) == "no records fixed"


def test_sources_link_into_the_portal_only_when_its_id_is_known():
    assert source_link(42, CHURN_FLOW) == "https://app.hubspot.com/workflows/42/platform/flow/1487203390/edit"
    assert source_link(None, CHURN_FLOW) == ""
    assert source_link(42, ValueSource(source_type="MIGRATION")) == ""
