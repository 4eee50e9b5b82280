"""The fault suite uses the shared fixtures of ``support.fixtures`` (AWS on moto, the sandbox, Services).

Most fault tests drive the steps in-process (``support.pipeline.run_pipeline``), which lets a test reach into a
worker; the ones about the AWS machinery itself (SQS redelivery, the dead-letter queue, Lambda errors and
timeouts) run the real state machine on moto (``OfflineApp``) in their own modules.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _quiet_offline_noise() -> Iterator[None]:
    # moto names each resource type its CloudFormation skips at every parse, and Powertools warns when a failing
    # invocation published no metric; neither is what these tests look at.
    logging.getLogger("moto.cloudformation.parsing").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
        yield
