"""OfflineApp's lifecycle. These tests start their own OfflineApp, so this module does not use `fixture_app`."""

import gc
import os
import sys

import moto
import pytest
from moto.awslambda_simple.models import LambdaSimpleBackend

from lifecycle_guard_offline import OfflineApp, UnsupportedMotoVersionError
from lifecycle_guard_offline.lambda_dispatch import LambdaDispatcher


def test_dispatcher_refuses_another_moto_version(monkeypatch: pytest.MonkeyPatch) -> None:
    moto_invoke = LambdaSimpleBackend.invoke
    monkeypatch.setattr(moto, "__version__", "5.2.6")
    with pytest.raises(UnsupportedMotoVersionError, match=r"5\.2\.5.*5\.2\.6"), LambdaDispatcher({}).installed():
        pass
    assert LambdaSimpleBackend.invoke is moto_invoke


def test_failed_start_leaves_nothing_behind(fixture_template, monkeypatch: pytest.MonkeyPatch) -> None:
    environment_before = dict(os.environ)
    moto_invoke = LambdaSimpleBackend.invoke
    monkeypatch.setattr(moto, "__version__", "6.0.0")
    with pytest.raises(UnsupportedMotoVersionError), OfflineApp(template_path=fixture_template):
        pass
    assert dict(os.environ) == environment_before  # fake credentials and region gone again
    assert LambdaSimpleBackend.invoke is moto_invoke

    monkeypatch.undo()
    with OfflineApp(template_path=fixture_template) as app:  # the failed one does not block the next
        assert app.run({"hello": "again"}).status == "SUCCEEDED"
        assert "lg_function_step_app_0" in sys.modules  # the first container of the function
    # Handler modules are dropped, so the next app imports them afresh (module-level clients in its own mock).
    assert "lg_function_step_app_0" not in sys.modules


def test_undeclared_parameters_are_refused(fixture_template) -> None:
    with (
        pytest.raises(ValueError, match="NoSuchParameter"),
        OfflineApp(template_path=fixture_template, parameters={"NoSuchParameter": "x"}),
    ):
        pass


def test_one_app_at_a_time(fixture_template) -> None:
    with OfflineApp(template_path=fixture_template), pytest.raises(RuntimeError, match="another OfflineApp"):
        OfflineApp(template_path=fixture_template).__enter__()


def test_unknown_handler_override_is_refused(fixture_template) -> None:
    with (
        pytest.raises(ValueError, match="NoSuchFunction"),
        OfflineApp(template_path=fixture_template, handler_overrides={"NoSuchFunction": lambda event, context: None}),
    ):
        pass


def test_iam_is_enforced_by_default_and_only_the_harness_may_switch_it_off(fixture_template) -> None:
    with OfflineApp(template_path=fixture_template) as app:
        assert app.run({"hello": "iam"}).status == "SUCCEEDED"
        assert {call.principal for call in app.iam.calls} >= {"StateMachine", "StepFunction"}
    with OfflineApp(template_path=fixture_template, enforce_iam=False) as app:
        assert app.run({"hello": "unchecked"}).status == "SUCCEEDED"
        with pytest.raises(RuntimeError, match="IAM is not enforced"):
            _ = app.iam


def test_the_long_lived_heap_is_out_of_the_collectors_sight_only_while_the_app_runs(fixture_template) -> None:
    # GIVEN an app deployed and run once (its deployment and the handler's cold start frozen: `heap`)
    with OfflineApp(template_path=fixture_template) as app:
        assert app.run({"hello": "heap"}).status == "SUCCEEDED"
        frozen = gc.get_freeze_count()
        # THEN the collector passes over them while it runs
        assert frozen > 10_000
    # AND WHEN it closes, nothing stays frozen: the next app's (or test's) garbage is collectable again
    assert gc.get_freeze_count() == 0
