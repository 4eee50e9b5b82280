"""Workflows a customer's portal may hold beside lifecycle-guard's."""

from __future__ import annotations

from typing import Any

from lifecycle_guard.config import load_config
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.workflows import desired_flows
from support.memory_crm import InMemoryCrm


def customers_lead_flow() -> dict[str, Any]:
    """The customer's own workflow (not ours: no marker) giving every contact without a stage "lead", as our
    contact prevention flow does."""
    catalogs = {t: InMemoryCrm().stage_catalog(t) for t in ObjectType}  # the default stages
    return {
        **desired_flows(load_config({}), catalogs)[0],
        "name": "Marketing: new contacts are leads",
        "description": "the customer's own",
        "customProperties": {},
        "isEnabled": True,
    }
