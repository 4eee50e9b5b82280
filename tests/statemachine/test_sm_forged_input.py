"""An execution input that carries another run's context cannot act on that run: Begin refuses the input, its Catch
passes on only the failure, and the report trusts only what Begin stored under the execution's own name."""

from __future__ import annotations

import json
from typing import Any

import pytest
from statemachine_helpers import APPLY, RUN_TIMEOUT_SECONDS, deployed_app, fresh_portal, report_of, running_sandbox

from lifecycle_guard.layout import context_key
from lifecycle_guard.tracker import LOCK_ID

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


def item(app: Any, key: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = (
        app.client("dynamodb")
        .get_item(TableName=app.table_name, Key={"id": {"S": key}}, ConsistentRead=True)
        .get("Item")
    )
    return found


def test_a_forged_run_context_leaves_the_other_run_alone_and_the_next_run_works():
    with running_sandbox(fresh_portal()) as sandbox, deployed_app(sandbox) as app:
        # GIVEN a run that succeeded, and - as if it were still running - its lock and its status
        first = app.run(APPLY, name="first", timeout_seconds=RUN_TIMEOUT_SECONDS)
        assert first.status == "SUCCEEDED", first.output
        first_files = {key: app.read_object(key) for key in app.list_keys("runs/") if "/first/" in key}
        latest = {key: app.read_object(key) for key in app.list_keys("latest/")}
        dynamodb = app.client("dynamodb")
        lock = {"id": {"S": LOCK_ID}, "run_id": {"S": "first"}, "execution_arn": {"S": first.arn}}
        dynamodb.put_item(TableName=app.table_name, Item={**lock, "expiration": {"N": "9999999999"}})
        dynamodb.update_item(
            TableName=app.table_name,
            Key={"id": {"S": "run#first"}},
            UpdateExpression="SET #s = :running",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":running": {"S": "running"}},
        )
        # WHEN an execution starts with that run's context copied into its input
        copied = json.loads(app.read_object(context_key("first")))
        forged = app.run({**APPLY, "run": copied}, name="forged", timeout_seconds=RUN_TIMEOUT_SECONDS)
        # THEN it fails at Begin, reported under its own name, naming the key it refused
        assert forged.status == "FAILED"
        report = report_of(app, forged)
        assert report["run_id"] == "forged"
        assert any("run" in failure and "Extra inputs are not permitted" in failure for failure in report["failures"])
        # ... and the other run keeps its lock, its status and its files; latest/ and the pending markers are untouched
        assert item(app, LOCK_ID)["run_id"]["S"] == "first"
        assert item(app, "run#first")["status"]["S"] == "running"
        assert {key: app.read_object(key) for key in app.list_keys("runs/") if "/first/" in key} == first_files
        assert {key: app.read_object(key) for key in app.list_keys("latest/")} == latest
        assert app.list_keys("work/pending/") == []
        assert app.list_keys("work/forged/") == []  # Begin stored nothing for the forged execution
        # WHEN the other run's lock is gone (it ended), THEN the next apply run works
        dynamodb.delete_item(TableName=app.table_name, Key={"id": {"S": LOCK_ID}})
        following = app.run(APPLY, name="following", timeout_seconds=RUN_TIMEOUT_SECONDS)
        assert following.status == "SUCCEEDED", following.output
        assert report_of(app, following)["outcome"] == "succeeded"
