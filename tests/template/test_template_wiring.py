"""How the transformed template wires its parts: SQS fan-out, schedule, alarms, the HubSpot token."""

import json
import re
from typing import Any

from lifecycle_guard_offline.cli import API_TIERS
from lifecycle_guard_offline.sam_template import SamTemplate

Resources = dict[str, dict[str, Any]]
TIER_WORKERS = {"Fn::FindInMap": ["ApiTiers", {"Ref": "HubSpotApiTier"}, "FixWorkers"]}


def test_worker_mapping_reports_item_failures_with_tier_concurrency(resources: Resources, transformed) -> None:
    (mapping,) = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert mapping["FunctionName"] == {"Ref": "FixWorkerFunction"}
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["FixJobQueue", "Arn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"]["MaximumConcurrency"] == TIER_WORKERS
    # Lambda accepts MaximumConcurrency from 2 to 1000.
    assert all(2 <= tier["FixWorkers"] <= 1000 for tier in transformed["Mappings"]["ApiTiers"].values())


def test_the_clis_api_tiers_are_the_templates(transformed) -> None:
    assert list(API_TIERS) == transformed["Parameters"]["HubSpotApiTier"]["AllowedValues"]
    assert set(API_TIERS) == set(transformed["Mappings"]["ApiTiers"])


def test_job_queue_redrives_to_the_dead_letter_queue(resources: Resources) -> None:
    queue = resources["FixJobQueue"]["Properties"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["FixJobDeadLetterQueue", "Arn"]},
        "maxReceiveCount": {"Ref": "FixJobMaxAttempts"},
    }
    # Lambda's advice for SQS event sources: visibility timeout at least six times the function timeout.
    assert queue["VisibilityTimeout"] >= 6 * resources["FixWorkerFunction"]["Properties"]["Timeout"]


def test_schedule_starts_the_state_machine_with_mode_and_config(resources: Resources) -> None:
    (schedule,) = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Scheduler::Schedule"]
    assert schedule["ScheduleExpression"] == {"Ref": "ScheduleExpression"}
    assert schedule["State"] == {"Fn::If": ["ScheduleIsEnabled", "ENABLED", "DISABLED"]}
    target = schedule["Target"]
    assert target["Arn"] == {"Ref": "LifecycleGuardStateMachine"}
    assert target["RoleArn"] == {"Fn::GetAtt": [f"{target['Arn']['Ref']}NightlyRole", "Arn"]}
    scheduled_input = json.loads(target["Input"]["Fn::Sub"].replace("${ScheduleMode}", "dry-run"))
    assert scheduled_input == {"action": "run", "mode": "dry-run", "source": "schedule"}
    # The config is not in the input: every run, scheduled or not, gets the deployed one from AuditPlan's environment.
    audit_plan = resources["AuditPlanFunction"]["Properties"]["Environment"]["Variables"]
    assert audit_plan["GUARD_CONFIG"] == {"Ref": "GuardConfig"}


def test_alarms_notify_the_alarm_topic(resources: Resources) -> None:
    dead_letters = resources["DeadLetterAlarm"]["Properties"]
    assert dead_letters["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["FixJobDeadLetterQueue", "QueueName"]}}
    ]
    assert (dead_letters["ComparisonOperator"], dead_letters["Threshold"]) == ("GreaterThanThreshold", 0)
    failed_runs = resources["FailedRunAlarm"]["Properties"]
    watched = {
        metric["MetricStat"]["Metric"]["MetricName"]: metric["MetricStat"]["Metric"]["Dimensions"]
        for metric in failed_runs["Metrics"]
        if "MetricStat" in metric
    }
    assert set(watched) == {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"}
    state_machine = [{"Name": "StateMachineArn", "Value": {"Ref": "LifecycleGuardStateMachine"}}]
    assert all(dimensions == state_machine for dimensions in watched.values())
    for alarm in (dead_letters, failed_runs):
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    topic_policy = resources["AlarmTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert {"Service": "cloudwatch.amazonaws.com"} in [s["Principal"] for s in topic_policy if s["Effect"] == "Allow"]


def test_the_drift_alarm_watches_the_metric_the_report_function_publishes(
    sam_template: SamTemplate, resources: Resources
) -> None:
    # GIVEN the namespace and service dimension Powertools publishes the Report function's metrics under
    environment = resources["ReportFunction"]["Properties"]["Environment"]["Variables"]
    namespace, service = environment["POWERTOOLS_METRICS_NAMESPACE"], environment["POWERTOOLS_SERVICE_NAME"]
    # THEN the drift alarm watches DriftRecords there (functions/report/app.py), the day's largest rise, above the
    # DriftAlarmRecords parameter, and tells the alarm topic
    drift = resources["DriftAlarm"]["Properties"]
    assert (
        (drift["Namespace"], drift["MetricName"]) == (namespace, "DriftRecords") == ("LifecycleGuard", "DriftRecords")
    )
    assert drift["Dimensions"] == [{"Name": "service", "Value": service}]
    assert (drift["Statistic"], drift["Period"], drift["EvaluationPeriods"]) == ("Maximum", 86400, 1)
    assert (drift["ComparisonOperator"], drift["Threshold"]) == ("GreaterThanThreshold", {"Ref": "DriftAlarmRecords"})
    assert drift["TreatMissingData"] == "notBreaching"  # no run that day is no drift
    assert drift["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    # ... and by default a rise of a few records - day-to-day noise - does not page anyone
    threshold = sam_template.body["Parameters"]["DriftAlarmRecords"]
    assert (threshold["Default"], threshold["MinValue"]) == (100, 0)


def test_hubspot_token_is_only_referenced_by_secret_arn(sam_template: SamTemplate, resources: Resources) -> None:
    parameters = sam_template.body["Parameters"]
    assert [name for name in parameters if "token" in name.lower()] == ["HubSpotTokenSecretArn"]
    assert parameters["HubSpotTokenSecretArn"]["AllowedPattern"].startswith("^arn:aws")
    for logical_id, function in resources.items():
        if function["Type"] != "AWS::Lambda::Function":
            continue
        for name, value in function["Properties"]["Environment"]["Variables"].items():
            if re.search("TOKEN|SECRET|PASSWORD|KEY", name):
                assert (name, value) == ("HUBSPOT_TOKEN_SECRET_ARN", {"Ref": "HubSpotTokenSecretArn"}), logical_id


def test_execution_permissions_name_the_state_machine(resources: Resources) -> None:
    """A role that reads executions by ARN pattern must spell the state machine's Name as the template sets it."""
    name = resources["LifecycleGuardStateMachine"]["Properties"]["StateMachineName"]["Fn::Sub"]
    patterns = [
        statement["Resource"]["Fn::Sub"]
        for role in resources.values()
        if role["Type"] == "AWS::IAM::Role"
        for policy in role["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
        if "states:DescribeExecution" in statement["Action"] and "Fn::Sub" in statement["Resource"]
    ]
    assert patterns
    assert all(pattern.endswith(f":execution:{name}:*") for pattern in patterns)
