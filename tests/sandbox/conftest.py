from __future__ import annotations

from collections.abc import Iterator

import pytest
from hubspot import HubSpot
from sandbox_helpers import sdk_client

from hubspot_sandbox import Portal, PortalSpec, Sandbox, SandboxSettings, generate_portal

SMALL_SPEC = PortalSpec(contacts=300, companies=40, seed=11)
# More than 10,000 contacts, so an unfiltered search reaches HubSpot's 10k cap.
LARGE_SPEC = PortalSpec(contacts=10_500, companies=300, seed=3)


@pytest.fixture
def portal() -> Portal:
    return generate_portal(SMALL_SPEC)


@pytest.fixture
def sandbox(portal: Portal) -> Iterator[Sandbox]:
    with Sandbox(portal, SandboxSettings(workflow_delay_seconds=0.2)) as started:
        yield started


@pytest.fixture
def client(sandbox: Sandbox) -> HubSpot:
    return sdk_client(sandbox)


@pytest.fixture(scope="module")
def large_sandbox() -> Iterator[Sandbox]:
    """Shared by read-only tests of a module; don't write to it."""
    with Sandbox(generate_portal(LARGE_SPEC), snapshot=False) as started:
        yield started
