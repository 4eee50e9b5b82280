"""The fault suite uses the shared fixtures of ``support.fixtures`` (AWS on moto, the sandbox, Services).

Most fault tests drive the steps in-process (``support.pipeline.run_pipeline``), which lets a test reach into a
worker; the ones about the AWS machinery itself (SQS redelivery, the dead-letter queue, Lambda errors and
timeouts) run the real state machine on moto (``OfflineApp``) in their own modules.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _quiet_offline_noise() -> Iterator[None]:
    # Powertools warns when a failing invocation published no metric; that is not what these tests look at. (moto's
    # CloudFormation parser is quieted for every suite by support.fixtures' _quiet_moto_parsing.)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
        yield
