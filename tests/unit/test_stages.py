"""Stage order comes from the portal's options; it decides which moves need clear-then-set."""

from lifecycle_guard.objects import ObjectType
from lifecycle_guard.stages import StageCatalog


def catalog(options):
    return StageCatalog.from_property(ObjectType.CONTACTS, {"options": options})


def test_order_is_display_order_with_minus_one_last():
    stages = catalog(
        [
            {"value": "other", "label": "Other", "displayOrder": -1},
            {"value": "customer", "label": "Customer", "displayOrder": 5},
            {"value": "lead", "label": "Lead", "displayOrder": 1},
            {"value": "8001", "label": "Nurture", "displayOrder": 2},
        ]
    )
    assert stages.values == ("lead", "8001", "customer", "other")
    assert stages.label("8001") == "Nurture"


def test_backward_moves_need_a_clear_first():
    stages = catalog(
        [{"value": v, "displayOrder": i, "label": v} for i, v in enumerate(["lead", "8001", "customer", "other"])]
    )
    assert stages.needs_clear_first("other", "lead")
    assert stages.needs_clear_first("customer", "8001")
    assert not stages.needs_clear_first("lead", "customer")
    assert not stages.needs_clear_first("", "lead")
    assert not stages.needs_clear_first("lead", "lead")


def test_a_value_the_portal_no_longer_lists_is_cleared_first():
    stages = catalog([{"value": "lead", "displayOrder": 0, "label": "Lead"}])
    assert stages.needs_clear_first("deleted-custom-stage", "lead")
