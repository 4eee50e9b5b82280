"""The use cases, one per state of the state machine, in a run's order: begin -> plan -> dispatch -> poll (the
fix worker settles each job) -> prevent -> start the probe -> verify -> report; or begin -> undo -> report.
The Lambda handlers parse their event (``contracts``) and call these."""

from lifecycle_guard.steps.begin import begin
from lifecycle_guard.steps.context import load_run
from lifecycle_guard.steps.fix import dispatch, fix_job, poll, poll_wait_seconds
from lifecycle_guard.steps.plan import plan
from lifecycle_guard.steps.report import report
from lifecycle_guard.steps.undo import undo
from lifecycle_guard.steps.verify import prevent, start_probe, verify

__all__ = [
    "begin",
    "dispatch",
    "fix_job",
    "load_run",
    "plan",
    "poll",
    "poll_wait_seconds",
    "prevent",
    "report",
    "start_probe",
    "undo",
    "verify",
]
