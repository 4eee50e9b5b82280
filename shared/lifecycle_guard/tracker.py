"""A run's progress in DynamoDB: the one-run-at-a-time lock, the run's counters and each fix job's status.

One table holds, by ``id``: ``lock#lifecycle-guard`` (one run at a time per deployment), ``run#<run>`` (status
and counters every Lambda of the run adds to atomically) and ``job#<run>#<job>`` (each fix job's status and
attempts). Powertools idempotency records share the table; every item expires through the ``expiration`` TTL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel

from lifecycle_guard.usage import ApiTotals, ApiUsage

LOCK_ID = "lock#lifecycle-guard"
RUN_TTL_SECONDS = 400 * 86400
BATCH_GET_KEYS = 100  # DynamoDB's BatchGetItem limit


class RunInProgressError(RuntimeError):
    """Another run holds the lock; two runs fixing the same portal at once would fight each other."""


class FixCounts(BaseModel):
    """What the fix workers of a run did, summed over its jobs."""

    jobs_total: int = 0
    jobs_done: int = 0
    jobs_failed: int = 0
    applied: int = 0
    failed: int = 0
    ignored: int = 0
    skipped: int = 0
    recovered: int = 0
    isolating_calls: int = 0  # extra batch updates spent finding the records HubSpot refused (``rejections``)
    failed_jobs: list[str] = []


class RunState(FixCounts):
    """The ``run#<run>`` item."""

    status: str = "unknown"
    last_progress: float = 0.0
    dispatched_at: float = 0.0
    abort_reason: str | None = None
    aborted_at: float = 0.0
    halt_reason: str | None = None
    usage: ApiTotals = ApiTotals()

    @property
    def jobs_unfinished(self) -> int:
        return self.jobs_total - self.jobs_done - self.jobs_failed


class JobAttempt(BaseModel):
    """An attempt at a fix job, as counted on its ``job#<run>#<job>`` item."""

    attempt: int
    previous_status: str  # "started" (a first or a retried attempt), "done" or "failed" (settled before)

    @property
    def settled(self) -> bool:
        return self.previous_status in ("done", "failed")


def _number(value: float) -> dict[str, str]:
    return {"N": str(Decimal(str(round(value, 3))))}


class RunTracker:
    def __init__(self, client: Any, table: str, clock: Callable[[], float] = time.time) -> None:
        self._db = client
        self._table = table
        self._clock = clock

    def _expiry(self) -> dict[str, str]:
        return {"N": str(int(self._clock()) + RUN_TTL_SECONDS)}

    # ---- the lock ----

    def acquire_lock(
        self, run_id: str, execution_arn: str, ttl_seconds: int, holder_running: Callable[[str], bool]
    ) -> None:
        """Take the one-run-at-a-time lock; a lock whose execution is no longer running is taken over."""
        now = int(self._clock())
        item = {
            "id": {"S": LOCK_ID},
            "run_id": {"S": run_id},
            "execution_arn": {"S": execution_arn},
            "expiration": {"N": str(now + ttl_seconds)},
        }
        try:
            replaced = self._db.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(id) OR expiration < :now OR run_id = :run",
                ExpressionAttributeValues={":now": {"N": str(now)}, ":run": {"S": run_id}},
                ReturnValues="ALL_OLD",
            )
            self._abandon(replaced.get("Attributes", {}).get("run_id", {}).get("S", ""), run_id)
            return
        except self._db.exceptions.ConditionalCheckFailedException:
            pass
        holder = self._db.get_item(TableName=self._table, Key={"id": {"S": LOCK_ID}}, ConsistentRead=True)
        held = holder.get("Item", {})
        other = held.get("run_id", {}).get("S", "")
        if holder_running(held.get("execution_arn", {}).get("S", "")):
            raise RunInProgressError(f"run {other} is still in progress; only one run at a time may fix a portal")
        try:
            # The holder died without releasing it (aborted, timed out): take over, unless someone else just did.
            self._db.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="run_id = :other",
                ExpressionAttributeValues={":other": {"S": other}},
            )
        except self._db.exceptions.ConditionalCheckFailedException as exc:
            raise RunInProgressError("another run took the lock at the same moment") from exc
        self._abandon(other, run_id)

    def _abandon(self, previous: str, run_id: str) -> None:
        """The run whose lock was taken over is dead; its fix jobs still in the queue must not write any more (a
        worker skips the jobs of a run that is not running). A run that finished keeps its final status."""
        if not previous or previous == run_id:
            return
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"id": {"S": f"run#{previous}"}},
                UpdateExpression="SET #s = :abandoned",
                ConditionExpression="#s = :running",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":abandoned": {"S": "abandoned"}, ":running": {"S": "running"}},
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return

    def release_lock(self, run_id: str) -> None:
        try:
            self._db.delete_item(
                TableName=self._table,
                Key={"id": {"S": LOCK_ID}},
                ConditionExpression="run_id = :run",
                ExpressionAttributeValues={":run": {"S": run_id}},
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return  # someone else's lock (or none): not ours to release

    # ---- the run ----

    def start_run(self, run_id: str, prefix: str) -> None:
        self._db.put_item(
            TableName=self._table,
            Item={
                "id": {"S": f"run#{run_id}"},
                "status": {"S": "running"},
                "prefix": {"S": prefix},
                "last_progress": _number(self._clock()),
                "expiration": self._expiry(),
            },
        )

    def add(self, run_id: str, counts: Mapping[str, float]) -> None:
        """Atomically add to the run's counters (any name: plan counts, API usage, outcomes)."""
        counts = {name: value for name, value in counts.items() if value}
        if not counts:
            return
        names = {f"#n{i}": name for i, name in enumerate(counts)}
        values = {f":v{i}": _number(value) for i, value in enumerate(counts.values())}
        values[":exp"] = self._expiry()
        self._db.update_item(
            TableName=self._table,
            Key={"id": {"S": f"run#{run_id}"}},
            UpdateExpression="ADD "
            + ", ".join(f"#n{i} :v{i}" for i in range(len(counts)))
            + " SET expiration = if_not_exists(expiration, :exp)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def add_usage(self, run_id: str, usage: ApiUsage) -> None:
        self.add(run_id, usage.to_counters())
        if usage.daily_remaining is not None:
            self._db.update_item(
                TableName=self._table,
                Key={"id": {"S": f"run#{run_id}"}},
                UpdateExpression="SET daily_remaining = :d",
                ExpressionAttributeValues={":d": {"N": str(usage.daily_remaining)}},
            )

    def set_jobs_total(self, run_id: str, total: int) -> None:
        """The jobs handed to the workers so far (set, not added: a hand-over sent again counts once); the first
        hand-over's time is when the run started waiting for them."""
        self._db.update_item(
            TableName=self._table,
            Key={"id": {"S": f"run#{run_id}"}},
            UpdateExpression=(
                "SET jobs_total = :t, last_progress = :now, dispatched_at = if_not_exists(dispatched_at, :now)"
            ),
            ExpressionAttributeValues={":t": {"N": str(total)}, ":now": _number(self._clock())},
        )

    def halt(self, run_id: str, reason: str) -> None:
        """Dispatching stopped early (a cap): the run fails once the jobs handed over have settled."""
        self._db.update_item(
            TableName=self._table,
            Key={"id": {"S": f"run#{run_id}"}},
            UpdateExpression="SET halt_reason = if_not_exists(halt_reason, :why)",
            ExpressionAttributeValues={":why": {"S": reason}},
        )

    def abort(self, run_id: str, reason: str) -> None:
        """Stop the run's remaining jobs: workers check the status before they write. The first abort's reason and
        time are kept."""
        self._db.update_item(
            TableName=self._table,
            Key={"id": {"S": f"run#{run_id}"}},
            UpdateExpression=(
                "SET #s = :aborted, abort_reason = if_not_exists(abort_reason, :why), "
                "aborted_at = if_not_exists(aborted_at, :now)"
            ),
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":aborted": {"S": "aborted"},
                ":why": {"S": reason},
                ":now": _number(self._clock()),
            },
        )

    def finish_run(self, run_id: str, status: str) -> None:
        self._db.update_item(
            TableName=self._table,
            Key={"id": {"S": f"run#{run_id}"}},
            UpdateExpression="SET #s = :status",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":status": {"S": status}},
        )

    def state(self, run_id: str) -> RunState:
        item = self._db.get_item(TableName=self._table, Key={"id": {"S": f"run#{run_id}"}}, ConsistentRead=True).get(
            "Item"
        )
        if not item:
            return RunState()
        plain = {key: _plain(value) for key, value in item.items()}
        return RunState.model_validate({**plain, "usage": ApiTotals.from_counters(plain)})

    # ---- jobs ----

    def start_job(self, run_id: str, job_id: str) -> JobAttempt:
        """Count an attempt at a job."""
        reply = self._db.update_item(
            TableName=self._table,
            Key={"id": {"S": f"job#{run_id}#{job_id}"}},
            UpdateExpression="ADD attempts :one SET expiration = :exp, #s = if_not_exists(#s, :started)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":one": {"N": "1"}, ":exp": self._expiry(), ":started": {"S": "started"}},
            ReturnValues="ALL_NEW",
        )
        attributes = reply["Attributes"]
        return JobAttempt(attempt=int(attributes["attempts"]["N"]), previous_status=attributes["status"]["S"])

    def jobs_started(self, run_id: str, job_ids: Sequence[str]) -> int:
        """How many of ``job_ids`` a worker started and has not settled: in flight, or an attempt that died."""
        started = 0
        for start in range(0, len(job_ids), BATCH_GET_KEYS):
            keys = [{"id": {"S": f"job#{run_id}#{job_id}"}} for job_id in job_ids[start : start + BATCH_GET_KEYS]]
            request: dict[str, Any] = {
                self._table: {
                    "Keys": keys,
                    "ProjectionExpression": "#s",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ConsistentRead": True,
                }
            }
            while request:
                reply = self._db.batch_get_item(RequestItems=request)
                items = reply.get("Responses", {}).get(self._table, [])
                started += sum(1 for item in items if item.get("status", {}).get("S") == "started")
                request = reply.get("UnprocessedKeys") or {}
        return started

    def settle_job(
        self, run_id: str, job_id: str, status: Literal["done", "failed"], counts: Mapping[str, int]
    ) -> bool:
        """Mark a job done or failed exactly once, adding its counts to the run; False if it was settled before."""
        counter = "jobs_done" if status == "done" else "jobs_failed"
        counts = {counter: 1, **{k: v for k, v in counts.items() if v}}
        names = {f"#n{i}": name for i, name in enumerate(counts)}
        values: dict[str, Any] = {f":v{i}": _number(value) for i, value in enumerate(counts.values())}
        values |= {":now": _number(self._clock()), ":job": {"L": [{"S": job_id}]}, ":empty": {"L": []}}
        update = "ADD " + ", ".join(f"#n{i} :v{i}" for i in range(len(counts))) + " SET last_progress = :now"
        if status == "failed":
            update += ", failed_jobs = list_append(if_not_exists(failed_jobs, :empty), :job)"
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": {"id": {"S": f"job#{run_id}#{job_id}"}},
                            "UpdateExpression": "SET #s = :status, expiration = :exp",
                            "ConditionExpression": "attribute_not_exists(#s) OR #s = :started",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": {
                                ":status": {"S": status},
                                ":started": {"S": "started"},
                                ":exp": self._expiry(),
                            },
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": {"id": {"S": f"run#{run_id}"}},
                            "UpdateExpression": update,
                            "ExpressionAttributeNames": names,
                            "ExpressionAttributeValues": values,
                        }
                    },
                ]
            )
        except self._db.exceptions.TransactionCanceledException:
            return False
        return True


def _plain(value: dict[str, Any]) -> Any:
    ((kind, inner),) = value.items()
    if kind == "N":
        number = Decimal(inner)
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "L":
        return [_plain(element) for element in inner]
    return inner
