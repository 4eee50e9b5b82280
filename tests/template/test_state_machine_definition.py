"""Structure of statemachine/lifecycle_guard.asl.json that the validators do not check."""

import json
from typing import Any

from lifecycle_guard.steps.fix import FIX_WORKER_TIMEOUT_SECONDS
from lifecycle_guard_offline.asl_substitutions import placeholder_names
from lifecycle_guard_offline.sam_template import SamTemplate

Definition = dict[str, Any]
REPORT = "${ReportFunctionArn}"
FAILURE_REPORTER = "ReportFailure"
# The undo's tasks that run while the prevention flows are off: deciding the restores, the fix workers' restore
# jobs being handed over and waited for, and after a failure the wait for those still in flight.
UNDO_WITH_FLOWS_OFF = ("PausePrevention", "Undo", "DispatchRestores", "CheckRestoreProgress", "StopRestores")
RESTORE_JOBS_OUT = ("Undo", "DispatchRestores", "CheckRestoreProgress")  # restore jobs may be with the workers
LAMBDA_SERVICE_ERRORS = {"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException"}


def tasks(definition: Definition) -> dict[str, dict[str, Any]]:
    return {name: state for name, state in definition["States"].items() if state["Type"] == "Task"}


def successors(state: dict[str, Any]) -> set[str]:
    """The states a state can go to next, Catch targets excluded."""
    following = {state["Next"]} if "Next" in state else set()
    following |= {choice["Next"] for choice in state.get("Choices", [])}
    return following | ({state["Default"]} if "Default" in state else set())


def paths_to_the_end(definition: Definition, start: str) -> list[list[str]]:
    """Every loop-free path of state names from `start` to a state without successors."""
    paths, pending = [], [[start]]
    while pending:
        path = pending.pop()
        following = successors(definition["States"][path[-1]]) - set(path)
        if not following:
            paths.append(path)
        pending.extend([*path, name] for name in following)
    return paths


def test_every_task_retries_and_catches(definition: Definition) -> None:
    for name, task in tasks(definition).items():
        retried = {error for retrier in task["Retry"] for error in retrier["ErrorEquals"]}
        assert retried >= LAMBDA_SERVICE_ERRORS, name
        assert task["Catch"], name
        if name == "Begin":
            continue  # test_a_failed_begin_passes_on_only_its_failure
        if name in UNDO_WITH_FLOWS_OFF:
            continue  # test_an_undo_switches_the_prevention_flows_back_on_whatever_happens
        if name != FAILURE_REPORTER:
            assert [catcher["Next"] for catcher in task["Catch"]] == [FAILURE_REPORTER], name
            assert all(catcher["ResultPath"] != "$" for catcher in task["Catch"]), f"{name} loses the run state"


def test_an_undo_switches_the_prevention_flows_back_on_whatever_happens(definition: Definition) -> None:
    # While the flows are off nothing in the portal gets a stage by default: every path out of the undo's
    # restoring states, success or failure, goes through a resume before it ends.
    states = definition["States"]
    assert states["ChooseAction"]["Choices"][0]["Next"] == "PausePrevention"
    for name in UNDO_WITH_FLOWS_OFF:
        exits = [states[name]["Catch"][0]["Next"], *successors(states[name])]
        for start in exits:
            ends = [
                p
                for p in paths_to_the_end(definition, start)
                if states[p[-1]].get("End") or states[p[-1]]["Type"] in ("Succeed", "Fail")
            ]
            assert ends, (name, start)
            for path in ends:
                resumed = [step for step in [name, *path] if states[step].get("Parameters", {}).get("step") == "resume"]
                assert resumed, (name, path)
    (catcher,) = states["ResumeAfterFailure"]["Catch"]
    assert catcher["ResultPath"] == "$.resume_failure", "the undo's own failure would be overwritten"
    assert states["ResumeAfterFailure"]["Next"] == FAILURE_REPORTER


def test_an_undo_switches_the_flows_back_on_only_once_its_restore_jobs_have_settled(definition: Definition) -> None:
    # The fix workers write the restores: a flow switched back on while one of their jobs is queued would give each
    # blank it restores afterwards the default stage again. Every way into ResumePrevention is the restore jobs'
    # poll saying they are done (a failure goes to ResumeAfterFailure: the run ends either way).
    states = definition["States"]
    into_resume = {name for name, state in states.items() if "ResumePrevention" in successors(state)}
    assert into_resume == {"AreRestoresComplete"}
    choice = states["AreRestoresComplete"]
    assert choice["Choices"] == [{"Variable": "$.progress.done", "BooleanEquals": True, "Next": "ResumePrevention"}]
    # ... the undo's decisions all go through Dispatch (the jobs not handed over yet) before the first poll
    assert states["IsUndoComplete"]["Default"] == "DispatchRestores"
    assert states["DispatchRestores"]["Next"] == "AreRestoresComplete"
    assert states["DispatchRestores"]["Parameters"]["step"] == "dispatch"
    assert states["CheckRestoreProgress"]["Parameters"]["step"] == "poll"
    assert successors(states["WaitForRestores"]) == {"CheckRestoreProgress"}


def test_a_failed_undo_stops_its_restore_jobs_and_waits_for_those_in_flight_before_the_flows_go_back_on(
    definition: Definition,
) -> None:
    states = definition["States"]
    # a failure once restore jobs may have gone out is kept in the state, and goes to StopRestores
    for name in RESTORE_JOBS_OUT:
        assert [(c["Next"], c["ResultPath"]) for c in states[name]["Catch"]] == [("StopRestores", "$.failure")], name
    # ... which loops (a Wait between) until no job is in flight; only then, or if it fails itself (its error
    # dropped: the undo's is the one to report), are the flows switched back on
    stop = states["StopRestores"]
    assert stop["Parameters"]["step"] == "stop"
    assert stop["Next"] == "AreRestoresStopped"
    assert [(c["Next"], c["ResultPath"]) for c in stop["Catch"]] == [("ResumeAfterFailure", None)]
    assert states["AreRestoresStopped"]["Choices"] == [
        {"Variable": "$.progress.done", "BooleanEquals": True, "Next": "ResumeAfterFailure"}
    ]
    assert successors(states["WaitForRestoresInFlight"]) == {"StopRestores"}
    into_resume = {name for name, state in states.items() if "ResumeAfterFailure" in successors(state)}
    assert into_resume == {"AreRestoresStopped"}


def test_the_wait_for_restore_jobs_in_flight_is_bounded_by_the_fix_workers_timeout(sam_template: SamTemplate) -> None:
    worker = sam_template.resources["FixWorkerFunction"]["Properties"]
    assert worker["Timeout"] == FIX_WORKER_TIMEOUT_SECONDS


def test_a_failed_begin_passes_on_only_its_failure(definition: Definition) -> None:
    # Before Begin succeeds the state is the raw execution input: untrusted (it could carry another run's
    # context), so the failure alone goes on to the report.
    states = definition["States"]
    (catcher,) = states["Begin"]["Catch"]
    assert catcher["ResultPath"] == "$"
    passed_on = states[catcher["Next"]]
    assert passed_on["Type"] == "Pass"
    assert passed_on["Parameters"] == {"failure.$": "$"}
    assert passed_on["Next"] == FAILURE_REPORTER


def test_every_catch_writes_a_report_then_fails(definition: Definition) -> None:
    states = definition["States"]
    for name, task in tasks(definition).items():
        for catcher in task["Catch"]:
            for path in paths_to_the_end(definition, catcher["Next"]):
                if successors(states[path[-1]]):
                    continue  # it only loops back (StopRestores' wait); the loop's way out is another path
                assert states[path[-1]]["Type"] == "Fail", (name, path)
                if name != FAILURE_REPORTER:  # the reporter's own failure can only end the run
                    assert any(states[step].get("Resource") == REPORT for step in path), (name, path)


def test_failure_reporter_is_the_report_function(definition: Definition) -> None:
    assert definition["States"][FAILURE_REPORTER]["Resource"] == REPORT


def test_no_jsonata_or_variables(definition: Definition) -> None:
    # moto's interpreter does not run JSONata or Assign, and the offline runs are how this is tested.
    text = json.dumps(definition)
    assert "JSONata" not in text
    assert "{%" not in text
    for name, state in definition["States"].items():
        assert not {"Assign", "Arguments", "Output", "QueryLanguage"} & state.keys(), name


def test_task_timeouts_exceed_their_function_timeouts(definition: Definition, sam_template: SamTemplate) -> None:
    """Lambda's own timeout must fire first, so the Task sees a Lambda error rather than States.Timeout."""
    resources, globals_ = sam_template.resources, sam_template.body["Globals"]["Function"]
    for name, task in tasks(definition).items():
        function = task["Resource"].removeprefix("${").removesuffix("Arn}")
        function_timeout = resources[function]["Properties"].get("Timeout", globals_["Timeout"])
        assert task["TimeoutSeconds"] > function_timeout, name


def test_substitutions_match_the_placeholders(definition_path, sam_template: SamTemplate) -> None:
    machine = sam_template.state_machines["LifecycleGuardStateMachine"]
    assert placeholder_names(definition_path.read_text(encoding="utf-8")) == set(machine.substitutions)
