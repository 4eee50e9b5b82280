"""Planning against the in-memory CRM: companies before contacts, each rule's target, bulk context, resumption."""

from __future__ import annotations

from support.memory_crm import PRIMARY, InMemoryCrm

from lifecycle_guard.config import GuardConfig
from lifecycle_guard.jobs import JobId, JobSink, PlannedChange
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.planning import ContextCache, PlanCursor, Planner

COMPANIES, CONTACTS, DEALS = ObjectType.COMPANIES.value, ObjectType.CONTACTS.value, "deals"


def portal() -> InMemoryCrm:
    crm = InMemoryCrm()
    # companies: 1 has a won deal, 2 an open one, 3 only a lost one; all without a stage; 4 is a customer already
    for company in ("1", "2", "3"):
        crm.add(COMPANIES, company)
    crm.add(COMPANIES, "4", "customer")
    for deal, (won, closed) in {"11": ("true", "true"), "12": ("false", "false"), "13": ("false", "true")}.items():
        crm.add(DEALS, deal, hs_is_closed_won=won, hs_is_closed=closed)
    for company, deal in (("1", "11"), ("2", "12"), ("3", "13")):
        crm.link(COMPANIES, company, DEALS, deal)
    # contacts: blank ones inherit from their primary company's *planned* stage; a secondary link never counts
    crm.add(CONTACTS, "101")
    crm.link(CONTACTS, "101", COMPANIES, "1", PRIMARY)
    crm.add(CONTACTS, "102")
    crm.link(CONTACTS, "102", COMPANIES, "2", PRIMARY)
    crm.add(CONTACTS, "103")
    crm.link(CONTACTS, "103", COMPANIES, "3", PRIMARY)
    crm.add(CONTACTS, "104")
    crm.link(CONTACTS, "104", COMPANIES, "4")  # unlabeled: no primary company
    crm.add(CONTACTS, "105", "subscriber")
    crm.add(CONTACTS, "106", "evangelist")
    crm.link(CONTACTS, "106", COMPANIES, "4", PRIMARY)
    crm.add(CONTACTS, "107", "evangelist")
    crm.link(CONTACTS, "107", COMPANIES, "2", PRIMARY)
    crm.add(CONTACTS, "108", "salesqualifiedlead")  # fine as it is
    return crm


def plan(
    crm: InMemoryCrm,
    *,
    deadline: float = float("inf"),
    cursor: PlanCursor | None = None,
    jobs=None,
    pending=(),
    prefetch: bool = False,
):
    """One planning invocation; its cursor, the jobs so far and the changes it left pending (for the next)."""
    jobs = {} if jobs is None else jobs
    config = GuardConfig()
    catalogs = {t: crm.stage_catalog(t) for t in ObjectType}

    def store(job_id: JobId, changes: list[PlannedChange]) -> None:
        jobs[str(job_id)] = changes

    cursor = cursor or PlanCursor()
    sink = JobSink(
        catalogs, config.fix.job_size, config.fix.batch_size, store, next_job=cursor.next_job, pending=pending
    )
    cache = ContextCache.planned_before([*(c for changes in jobs.values() for c in changes), *pending])
    planner = Planner(crm, config, sink, cache, search_crm=crm if prefetch else None)
    return planner.plan(cursor, deadline), jobs, sink.pending()


def targets(jobs: dict[str, list[PlannedChange]]) -> dict[tuple[str, str], tuple[str, str]]:
    return {(c.object_type.value, c.object_id): (c.target, c.rule) for changes in jobs.values() for c in changes}


def test_each_rule_decides_its_target_and_contacts_inherit_the_planned_company_stage():
    cursor, jobs, pending = plan(portal())
    assert cursor.done
    assert pending == []
    assert targets(jobs) == {
        (COMPANIES, "1"): ("customer", "missing:closed_won_deal"),
        (COMPANIES, "2"): ("opportunity", "missing:open_deal"),
        (COMPANIES, "3"): ("lead", "missing:no_open_deal"),
        (CONTACTS, "101"): ("customer", "missing:primary_company"),  # company 1 is planned customer
        (CONTACTS, "102"): ("opportunity", "missing:primary_company"),
        (CONTACTS, "103"): ("lead", "missing:no_qualifying_company"),  # lead is not inherited
        (CONTACTS, "104"): ("lead", "missing:no_qualifying_company"),  # an unlabeled link is not a primary
        (CONTACTS, "105"): ("lead", "subscriber:fixed"),
        (CONTACTS, "106"): ("customer", "evangelist:primary_company"),
        (CONTACTS, "107"): ("lead", "evangelist:no_qualifying_company"),  # opportunity is not inherited here
    }
    # companies come first in the job sequence; moves are cut by kind (evangelist -> lead is backward)
    assert sorted(jobs) == ["000000-companies-forward", "000001-contacts-mixed"]


def test_context_is_read_in_bulk_not_per_record():
    crm = portal()
    plan(crm)
    kinds = [(call.method, call.object_type) for call in crm.calls]
    # one association read per object type, one batch read of the deals, no read of companies already planned
    assert kinds.count(("associations", "companies->deals")) == 1
    assert kinds.count(("associations", "contacts->companies")) == 1
    assert kinds.count(("read", DEALS)) == 1
    company_reads = [call.ids for call in crm.calls if call.method == "read" and call.object_type == COMPANIES]
    assert company_reads == [("4",)]  # only the one company not planned in this run


def test_a_plan_stopped_at_its_deadline_resumes_to_the_same_plan():
    whole = targets(plan(portal())[1])
    crm = portal()
    # every invocation still decides what it gathered; what it did not cut into a job yet goes on to the next
    cursor, jobs, pending = plan(crm, deadline=0.0)
    rounds = 1
    while not cursor.done:
        cursor, jobs, pending = plan(crm, deadline=0.0, cursor=cursor, jobs=jobs, pending=pending)
        rounds += 1
    assert rounds > 1
    assert targets(jobs) == whole


def test_searches_fetched_ahead_on_their_own_thread_plan_the_same():
    assert targets(plan(portal(), prefetch=True)[1]) == targets(plan(portal())[1])
