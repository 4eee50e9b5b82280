"""Flow comparison and ownership: semantic (order and HubSpot's own fields do not matter, behaviour does)."""

from __future__ import annotations

import copy

import pytest

from lifecycle_guard.config import load_config
from lifecycle_guard.flow_bodies import behaves_as, is_managed
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.stages import StageCatalog
from lifecycle_guard.workflows import desired_flows

STAGES = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer", "other"]
CATALOGS = {
    t: StageCatalog.from_property(
        t, {"options": [{"value": v, "label": v, "displayOrder": i} for i, v in enumerate(STAGES)]}
    )
    for t in ObjectType
}
CONTACT_FLOW = desired_flows(load_config({}), CATALOGS)[0]


def stored(**changes) -> dict:
    """The contact flow as HubSpot might return it: with ids of its own, then ``changes`` applied."""
    flow = copy.deepcopy(CONTACT_FLOW) | {"id": "600000001", "revisionId": "3", "createdAt": "2026-11-25T05:00:00Z"}
    flow.update(changes)
    return flow


def test_the_flow_as_sent_behaves_as_wanted():
    assert behaves_as(stored(), CONTACT_FLOW)


def test_labels_and_bookkeeping_do_not_count_but_behaviour_does():
    assert behaves_as(stored(description="edited", customProperties={}, nextAvailableActionId="7"), CONTACT_FLOW)
    assert not behaves_as(stored(isEnabled=False), CONTACT_FLOW)
    drifted = stored()
    drifted["actions"][0]["fields"]["value"]["staticValue"] = "subscriber"
    assert not behaves_as(drifted, CONTACT_FLOW)


def test_a_missing_trigger_or_an_extra_filter_is_drift():
    untriggered = stored()
    untriggered["enrollmentCriteria"]["reEnrollmentTriggersFilterBranches"] = []
    assert not behaves_as(untriggered, CONTACT_FLOW)
    widened = stored()
    filters = widened["enrollmentCriteria"]["listFilterBranch"]["filterBranches"][0]["filters"]
    filters.append({"filterType": "PROPERTY", "property": "email", "operation": {"operator": "IS_KNOWN"}})
    assert not behaves_as(widened, CONTACT_FLOW)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("actions", 0, "actionTypeVersion"), "0"),  # a number spelled as a string
        (("enrollmentCriteria", "listFilterBranch", "filters"), None),  # an empty list left out
        (("enrollmentCriteria", "listFilterBranch", "filterBranchOperator"), "OR"),  # unchanged
    ],
)
def test_hubspots_spellings_of_the_same_value_hold(path, value):
    flow = stored()
    target = flow
    for key in path[:-1]:
        target = target[key]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    assert behaves_as(flow, CONTACT_FLOW)


def test_a_boolean_is_not_a_number():
    flow = stored()
    flow["enrollmentCriteria"]["shouldReEnroll"] = 1
    assert not behaves_as(flow, CONTACT_FLOW)


def test_a_flow_is_lifecycle_guards_by_its_custom_property_or_failing_that_its_description():
    assert is_managed(CONTACT_FLOW)
    assert is_managed(stored(customProperties={}))  # HubSpot dropped the property: the description says it
    assert is_managed(stored(description="someone's edit"))  # ... or the other way round
    assert not is_managed(stored(customProperties={"team": "sales"}, description="Sales ops: nurture"))
    assert not is_managed(stored(customProperties=None, description=None))
