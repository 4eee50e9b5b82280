"""The use cases, one per state of the state machine, in a run's order: begin -> plan (handing fix jobs over as
it cuts them) -> dispatch -> poll (the fix worker settles each job) -> prevent -> start the probe -> check it
(until the flows acted) -> verify -> report; or begin -> pause prevention -> undo (handing restore jobs over as it
cuts them) -> dispatch -> poll (the fix worker settles each restore job) -> resume prevention -> check the restores
-> report (on a failure with restore jobs handed over: stop them and wait for the ones in flight, then resume
prevention).
The Lambda handlers parse their event (``contracts``) and call these."""

from lifecycle_guard.steps.begin import begin
from lifecycle_guard.steps.context import load_run
from lifecycle_guard.steps.fix import dispatch, fix_job, poll, poll_wait_seconds, stop
from lifecycle_guard.steps.plan import plan
from lifecycle_guard.steps.prevention import pause_prevention, prevent, resume_prevention
from lifecycle_guard.steps.report import report
from lifecycle_guard.steps.undo import check_restores, undo
from lifecycle_guard.steps.verify import check_probe, start_probe, verify

__all__ = [
    "begin",
    "check_probe",
    "check_restores",
    "dispatch",
    "fix_job",
    "load_run",
    "pause_prevention",
    "plan",
    "poll",
    "poll_wait_seconds",
    "prevent",
    "report",
    "resume_prevention",
    "start_probe",
    "stop",
    "undo",
    "verify",
]
