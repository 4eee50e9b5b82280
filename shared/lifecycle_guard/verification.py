"""Verification: prove the portal is in the state the run promised, with numbers, check by check.

- after counts per object type; 0 records missing a stage and 0 at a disallowed stage. Search totals can lag
  writes by seconds, so a non-zero total is polled until it settles, then its candidates are batch-read: only
  records HubSpot really holds blank (or disallowed) count against the check;
- every fix job finished and nothing was left off target;
- spot checks: a seeded sample of this run's contacts whose target came from their primary company is re-read
  with a fresh association lookup - the contact must be at its target and the company at a consistent stage;
- the live prevention test: a contact (and a company) created with no stage must have been given the default
  stage by the prevention workflow after the wait; then each is blanked again and must get the stage again - a
  workflow without a re-enrollment trigger enrolls a record once only (``flow_bodies``); the probes are deleted
  either way.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

from pydantic import BaseModel

from lifecycle_guard.audit import AuditSnapshot, audit
from lifecycle_guard.config import FromPrimaryCompany, GuardConfig
from lifecycle_guard.crm import Crm, HubSpotError, SearchFilter, iter_pages
from lifecycle_guard.filters import StageFilter
from lifecycle_guard.jobs import PlannedChange
from lifecycle_guard.live_test import Probe, ProbeState, probe_filters, stage_of
from lifecycle_guard.objects import LIFECYCLE_STAGE, NO_STAGE, ObjectType
from lifecycle_guard.planning import primary_companies
from lifecycle_guard.rules import contact_target
from lifecycle_guard.stages import StageCatalog
from lifecycle_guard.waits import Wait
from lifecycle_guard.workflows import PreventionOutcome

CONFIRM_SAMPLE = 1000  # candidates batch-read to tell a real violation from search lag
SEARCH_LAG = "HubSpot's search to catch up with the run's writes and deletes (its index lags by seconds)"
SETTLE_POLL_SECONDS = 5.0
PROBE_GONE_POLL_SECONDS = 1.0
REENROLL_POLL_SECONDS = 1.0
# The second blank is awaited inside the Verify Lambda (15 minutes at most), unlike the first (the state machine's
# check loop, ``live_test``).
REENROLL_MAX_WAIT_SECONDS = 300


class Check(BaseModel):
    name: str
    status: Literal["PASS", "FAIL", "SKIPPED"]
    expected: str = ""
    observed: str = ""
    detail: str = ""


class Verification(BaseModel):
    after: AuditSnapshot | None = None
    checks: list[Check] = []
    waits: list[Wait] = []  # what the checks waited for (search catching up, the workflows re-enrolling a probe)


class Verifier:
    def __init__(
        self,
        crm: Crm,
        config: GuardConfig,
        catalogs: Mapping[ObjectType, StageCatalog],
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._crm = crm
        self._config = config
        self._catalogs = catalogs
        self._sleep = sleep
        self._clock = clock
        self._waited: dict[str, float] = {}

    def _wait(self, seconds: float, why: str) -> None:
        self._sleep(seconds)
        self._waited[why] = self._waited.get(why, 0.0) + seconds

    def verify(
        self,
        *,
        probe: ProbeState,
        contact_changes: Sequence[PlannedChange],
        jobs_failed: int,
        residue: int,
        run_id: str,
    ) -> Verification:
        self._delete_stray_probes(probe, run_id)
        probe_ids = {p.object_id for p in probe.probes}
        # Waiting for search to catch up only helps when every write went through; after failed jobs, records
        # really are left to fix and the checks fail at once.
        settle = 0 if jobs_failed or residue else self._config.verification.settle_seconds
        checks: list[Check] = []
        for object_type in ObjectType:
            checks.append(
                self._none_matching(object_type, "missing a stage", StageFilter.no_stage(), probe_ids, settle)
            )
            disallowed = self._config.disallowed(object_type)
            if disallowed:
                where = StageFilter(stages=disallowed)
                checks.append(self._none_matching(object_type, "at a disallowed stage", where, probe_ids, settle))
        checks.append(
            Check(
                name="every fix job finished on target",
                status="PASS" if jobs_failed == 0 and residue == 0 else "FAIL",
                expected="0 failed jobs, 0 records off target",
                observed=f"{jobs_failed} failed jobs, {residue} records off target",
            )
        )
        checks.append(self._spot_check(contact_changes, run_id))
        checks.extend(self._probe_checks(probe))
        if probe.probes:
            self._await_probes_gone(run_id)
        after = audit(self._crm, self._catalogs)
        waits = [Wait(phase="verify", seconds=seconds, why=why) for why, seconds in self._waited.items()]
        return Verification(after=after, checks=checks, waits=waits)

    def _none_matching(
        self, object_type: ObjectType, what: str, where: SearchFilter, excluded: set[str], settle: int
    ) -> Check:
        name = f"no {object_type.value} {what}"
        deadline = self._clock() + settle
        total = self._crm.count(object_type, where)
        while total > len(excluded) and self._clock() < deadline:
            self._wait(SETTLE_POLL_SECONDS, SEARCH_LAG)
            total = self._crm.count(object_type, where)
        if total == 0:
            return Check(name=name, status="PASS", expected="0", observed="0")
        candidates = self._first_matching(object_type, where, CONFIRM_SAMPLE + len(excluded))
        candidates = [c for c in candidates if c not in excluded]
        current = self._crm.read(object_type, candidates, [LIFECYCLE_STAGE])
        confirmed = [object_id for object_id, record in current.items() if where.matches(record.properties)]
        if not confirmed and total - len(excluded) <= len(candidates):
            return Check(
                name=name,
                status="PASS",
                expected="0",
                observed="0",
                detail=f"search still listed {total} (index lag); reading them showed none",
            )
        return Check(
            name=name,
            status="FAIL",
            expected="0",
            observed=str(max(len(confirmed), total - len(excluded))),
            detail=f"e.g. ids {', '.join(confirmed[:10])}"
            if confirmed
            else "search lists them; not confirmed by reads",
        )

    def _await_probes_gone(self, run_id: str) -> None:
        """Search lists the probes deleted a moment ago until its index catches up: the after-counts must not."""
        deadline = self._clock() + self._config.verification.settle_seconds
        for object_type, where in probe_filters(run_id).items():
            while self._crm.count(object_type, where) and self._clock() < deadline:
                self._wait(PROBE_GONE_POLL_SECONDS, SEARCH_LAG)

    def _delete_stray_probes(self, probe: ProbeState, run_id: str) -> None:
        """Probes created by a create whose response was lost (so not in ``probe``): found by marker, deleted."""
        known = {p.object_id for p in probe.probes}
        for object_type, where in probe_filters(run_id).items():
            for page in iter_pages(self._crm, object_type, where, [where.name]):
                for record in page:
                    if record.id not in known:
                        self._crm.archive(object_type, record.id)

    def _first_matching(self, object_type: ObjectType, where: SearchFilter, limit: int) -> list[str]:
        ids: list[str] = []
        for page in iter_pages(self._crm, object_type, where, [LIFECYCLE_STAGE]):
            ids.extend(record.id for record in page)
            if len(ids) >= limit:
                break
        return ids[:limit]

    def _spot_check(self, contact_changes: Sequence[PlannedChange], seed: str) -> Check:
        name = "spot check: contacts agree with their primary company"
        size = self._config.verification.spot_check_size
        eligible = [c for c in contact_changes if c.rule.endswith((":primary_company", ":no_qualifying_company"))]
        if size == 0 or not eligible:
            return Check(name=name, status="SKIPPED", detail="no contact in this run took its stage from a company")
        sample = random.Random(seed).sample(eligible, min(size, len(eligible)))  # noqa: S311 - sampling, not security
        ids = [c.object_id for c in sample]
        contacts = self._crm.read(ObjectType.CONTACTS, ids, [LIFECYCLE_STAGE])
        primary = primary_companies(self._crm.associations(ObjectType.CONTACTS, ObjectType.COMPANIES, ids))
        companies = self._crm.read(ObjectType.COMPANIES, sorted(set(primary.values())), [LIFECYCLE_STAGE])
        wrong = []
        for change in sample:
            contact = contacts.get(change.object_id)
            company = companies.get(primary.get(change.object_id, ""))
            company_stage = company.stage if company else None
            target = contact_target(self._config, change.rule.split(":", 1)[0])
            inherit = target.inherit if isinstance(target, FromPrimaryCompany) else ()
            if change.rule.endswith(":primary_company"):
                consistent = company_stage == change.target
            else:
                consistent = company_stage not in inherit
            if contact is None or contact.stage != change.target or not consistent:
                now = contact.stage if contact else "(deleted)"
                wrong.append(
                    f"{change.object_id}: contact {now!r}, company {company_stage!r}, planned {change.target!r}"
                )
        return Check(
            name=name,
            status="PASS" if not wrong else "FAIL",
            expected=f"{len(sample)} sampled contacts at their planned stage, inherited ones equal to their company",
            observed=f"{len(sample) - len(wrong)} of {len(sample)} consistent",
            detail="; ".join(wrong[:10]),
        )

    def _probe_checks(self, probe: ProbeState) -> list[Check]:
        name = "live prevention test"
        try:
            if not probe.started:
                return [Check(name=name, status="FAIL" if probe.failed else "SKIPPED", detail=probe.reason)]
            expected = self._config.prevention.default_stage
            checks = []
            for item in probe.probes:
                observed = stage_of(self._crm, item)
                checks.append(
                    Check(
                        name=f"{name}: new {item.object_type.value} get a stage",
                        status="PASS" if observed == expected else "FAIL",
                        expected=expected,
                        observed=observed or "(no stage)",
                        detail=f"probe {item.object_id} created with no stage, read after {probe.waited_seconds:g} s "
                        f"(at most {probe.wait_seconds} s)",
                    )
                )
            enrolled = [item for item, check in zip(probe.probes, checks, strict=True) if check.status == "PASS"]
            return checks + self._re_enrollment_checks(enrolled, expected)
        finally:
            for item in probe.probes:
                self._crm.archive(item.object_type, item.object_id)

    def _re_enrollment_checks(self, probes: Sequence[Probe], expected: str) -> list[Check]:
        """Blank the probes the workflow gave a stage, and poll until it gives them one again (or time is up)."""
        observed: dict[str, str] = {}
        for item in probes:
            try:
                self._crm.update_record(item.object_type, item.object_id, {LIFECYCLE_STAGE: NO_STAGE})
            except HubSpotError as exc:
                observed[item.object_id] = f"(could not clear the probe: {exc})"
        wait = min(self._config.verification.live_test_wait_seconds, REENROLL_MAX_WAIT_SECONDS)
        deadline = self._clock() + wait
        waiting = [item for item in probes if item.object_id not in observed]
        while waiting:
            for item in list(waiting):
                observed[item.object_id] = stage_of(self._crm, item)
                if observed[item.object_id] == expected:
                    waiting.remove(item)
            if not waiting or self._clock() >= deadline:
                break
            self._wait(REENROLL_POLL_SECONDS, "the prevention workflows to set a stage again on a probe blanked again")
        return [
            Check(
                name=f"live prevention test: {item.object_type.value} blanked again get a stage again",
                status="PASS" if observed[item.object_id] == expected else "FAIL",
                expected=expected,
                observed=observed[item.object_id] or "(no stage)",
                detail=f"probe {item.object_id} cleared after the workflow had set it, read for up to {wait}s",
            )
            for item in probes
        ]


def prevention_check(prevention: PreventionOutcome) -> Check:
    name = "prevention workflows in place"
    if prevention.status == "skipped":
        return Check(name=name, status="SKIPPED", detail=prevention.error or "")
    if prevention.status == "failed":
        return Check(
            name=name, status="FAIL", expected="flows present", observed="error", detail=prevention.error or ""
        )
    summary = ", ".join(f"{flow.name}: {flow.action}" for flow in prevention.flows)
    foreign = [flow for flow in prevention.flows if flow.action == "not_managed"]
    if foreign:
        detail = "; ".join(f"{flow.name}: {flow.detail}" for flow in foreign)
        return Check(name=name, status="FAIL", expected="flows present", observed=summary, detail=detail)
    if any(flow.action in ("would_create", "would_update") for flow in prevention.flows):
        return Check(name=name, status="SKIPPED", observed=summary, detail="dry run: the flows were not written")
    return Check(name=name, status="PASS", expected="flows present", observed=summary)
