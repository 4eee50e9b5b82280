import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lifecycle_guard_offline import OfflineApp

WaitUntil = Callable[..., Any]


@pytest.fixture(scope="session")
def fixture_template() -> Path:
    """tests/offline/fixture_app: a miniature SAM app with trivial handlers."""
    return Path(__file__).parent / "fixture_app" / "template.yaml"


@pytest.fixture(scope="session")
def fixture_guard_config() -> dict[str, Any]:
    return {"caps": {"max_changes": 7}}


@pytest.fixture(scope="module")
def fixture_app(fixture_template: Path, fixture_guard_config: dict[str, Any]) -> Iterator[OfflineApp]:
    """The fixture app deployed once per test module, running its real handlers. Tests that start their own
    OfflineApp live in modules that do not use this fixture (one OfflineApp at a time per process)."""
    with OfflineApp(
        template_path=fixture_template, guard_config=fixture_guard_config, sqs_retry_delay_seconds=0
    ) as app:
        yield app


@pytest.fixture
def wait_until() -> WaitUntil:
    """wait_until(condition, timeout_seconds=10): polls until `condition()` is truthy and returns that value."""

    def wait(condition: Callable[[], Any], timeout_seconds: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout_seconds
        while not (result := condition()):
            if time.monotonic() > deadline:
                pytest.fail(f"condition not met within {timeout_seconds} s")
            time.sleep(0.05)
        return result

    return wait
