"""Where a run keeps its files in the report bucket: every S3 key lifecycle-guard uses is made here.

``<run>`` is the run id (the execution name), ``<day>`` is ``YYYY/MM/DD`` of its start:

- ``runs/<day>/<run>/report.json|report.html|changes.csv|journal.jsonl|plan.jsonl`` - what users read; kept for
  the bucket's run retention, and ``latest/`` holds a copy of the newest report;
- ``runs/<day>/<run>/journal/<job>-<batch>.jsonl`` - journal segments written as batches finish, and
  ``<job>.job.jsonl``, the same entries again as one segment once every batch of the job attempt finished (the
  report reads it instead of the batches'); compacted into ``journal.jsonl`` by the report step;
- ``runs/index/<run>.json`` - the run's prefix by run id, for undo;
- ``runs/summaries/<started>-<run>.json`` - each run's counts for the drift across runs (``drift``), named by start time
  (``YYYYMMDDTHHMMSS``) so a listing from a date on is the look-back, oldest first;
- ``work/<run>/`` - the run's working files: its context (``run.json``), the plan cut into fix jobs
  (``jobs/<job>.json``), where planning stands and which jobs it handed to the workers (``plan-checkpoint.json``),
  their results (``results/<job>.json``) and the plan's counts (``plan-counts.json``);
- ``work/paused-flows/<run>/paused-flows.json`` - the prevention flows an undo switched off, and whether they are
  back on (``flow_pause.PauseRecord``); one folder for all undos, so a later undo lists the ones left open (the
  repeated name keeps the key inside the Prevention function's ``work/*/paused-flows.json`` write grant);
- ``work/pending/<run>/<job>-<batch>.json`` - a marker per write batch in flight (see ``fixing``);
- ``work/quarantine/<run>/<job>-<batch>.json`` - a marker recovery could not finish (unreadable, naming another run
  than its key, or its replay refused by HubSpot), moved aside with the reason so no later run trips on it, and
  listed by every report until someone deletes it (see ``pending``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

PENDING_PREFIX = "work/pending/"
PAUSED_FLOWS_PREFIX = "work/paused-flows/"
QUARANTINE_PREFIX = "work/quarantine/"
INDEX_PREFIX = "runs/index/"
LATEST_REPORT_JSON = "latest/report.json"
LATEST_REPORT_HTML = "latest/report.html"
SUMMARY_PREFIX = "runs/summaries/"


def summary_key(run_id: str, started_at: datetime) -> str:
    return f"{SUMMARY_PREFIX}{started_at:%Y%m%dT%H%M%S}-{run_id}.json"


def summaries_since(moment: datetime) -> str:
    """The ``start_after`` bound of a listing of the summaries of runs started from ``moment`` on."""
    return f"{SUMMARY_PREFIX}{moment:%Y%m%dT%H%M%S}"


def index_key(run_id: str) -> str:
    return f"{INDEX_PREFIX}{run_id}.json"


def quarantine_key(marker_key: str) -> str:
    """Where a pending marker goes when recovery gives up on it: the same name under ``work/quarantine/``."""
    if not marker_key.startswith(PENDING_PREFIX):
        raise ValueError(f"not a pending-write marker: {marker_key!r}")
    return QUARANTINE_PREFIX + marker_key.removeprefix(PENDING_PREFIX)


UNDONE_SUFFIX = ".undone.json"
JOB_SEGMENT_SUFFIX = ".job.jsonl"


def undone_key(run_id: str) -> str:
    """Written when an undo of ``run_id`` finished: a second undo of it needs ``force``."""
    return f"{INDEX_PREFIX}{run_id}{UNDONE_SUFFIX}"


def paused_flows_key(run_id: str) -> str:
    return f"{PAUSED_FLOWS_PREFIX}{run_id}/paused-flows.json"


def key_name(key: str) -> str:
    """The last part of a key without its ``.json``: a job's id under ``jobs/``, a marker's ``<job>-<batch>``."""
    return key.rsplit("/", 1)[-1].removesuffix(".json")


def context_key(run_id: str) -> str:
    """Where ``Begin`` stores the run's context; a fix worker knows only the run id."""
    return f"work/{run_id}/run.json"


@dataclass(frozen=True)
class RunLayout:
    run_id: str
    prefix: str  # runs/<day>/<run>/

    @classmethod
    def for_run(cls, run_id: str, started_at: datetime) -> RunLayout:
        return cls(run_id, f"runs/{started_at:%Y/%m/%d}/{run_id}/")

    # ---- what users read ----
    @classmethod
    def of_report(cls, run_id: str, report_key: str) -> RunLayout:
        """The layout of the run whose ``report.json`` is at ``report_key``."""
        if not report_key.endswith(f"/{run_id}/report.json"):
            raise ValueError(f"not the report of run {run_id!r}: {report_key!r}")
        return cls(run_id, report_key.removesuffix("report.json"))

    @property
    def report_json(self) -> str:
        return f"{self.prefix}report.json"

    @property
    def report_html(self) -> str:
        return f"{self.prefix}report.html"

    @property
    def journal(self) -> str:
        return f"{self.prefix}journal.jsonl"

    @property
    def journal_segments(self) -> str:
        return f"{self.prefix}journal/"

    def journal_segment(self, job_id: str, batch: int) -> str:
        return f"{self.journal_segments}{job_id}-{batch:04d}.jsonl"

    def job_journal_segment(self, job_id: str) -> str:
        """Every batch segment of ``job_id`` (a job attempt) in one (``journal.segment_keys``)."""
        return f"{self.journal_segments}{job_id}{JOB_SEGMENT_SUFFIX}"

    @property
    def plan(self) -> str:
        return f"{self.prefix}plan.jsonl"

    @property
    def changes_csv(self) -> str:
        return f"{self.prefix}changes.csv"

    @property
    def index(self) -> str:
        return index_key(self.run_id)

    # ---- working files ----
    @property
    def work(self) -> str:
        return f"work/{self.run_id}/"

    @property
    def context(self) -> str:
        return context_key(self.run_id)

    @property
    def jobs(self) -> str:
        return f"{self.work}jobs/"

    def job(self, job_id: str) -> str:
        return f"{self.jobs}{job_id}.json"

    @property
    def results(self) -> str:
        return f"{self.work}results/"

    def result(self, job_id: str) -> str:
        return f"{self.results}{job_id}.json"

    @property
    def plan_counts(self) -> str:
        return f"{self.work}plan-counts.json"

    @property
    def plan_checkpoint(self) -> str:
        return f"{self.work}plan-checkpoint.json"

    @property
    def paused_flows(self) -> str:
        """The prevention flows an undo switched off, to switch back on whatever happens."""
        return paused_flows_key(self.run_id)

    @property
    def pending(self) -> str:
        return f"{PENDING_PREFIX}{self.run_id}/"

    def pending_marker(self, job_id: str, batch: int) -> str:
        return f"{self.pending}{job_id}-{batch:04d}.json"
