"""Config: shape errors are clear, overrides merge, and every stage is checked against the portal."""

import json

import pytest

from lifecycle_guard.config import (
    ConfigError,
    FromDeals,
    FromPrimaryCompany,
    GuardConfig,
    load_config,
    resolve_stage_labels,
    validate_for_portal,
)
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.stages import StageCatalog

DEFAULT_OPTIONS = [
    {"value": v, "label": v.title(), "displayOrder": i}
    for i, v in enumerate(
        [
            "subscriber",
            "lead",
            "marketingqualifiedlead",
            "salesqualifiedlead",
            "opportunity",
            "customer",
            "evangelist",
            "other",
        ]
    )
]


def catalogs(options=DEFAULT_OPTIONS):
    return {t: StageCatalog.from_property(t, {"options": options}) for t in ObjectType}


def test_defaults_are_the_seed_rules():
    config = GuardConfig()
    assert config.disallowed(ObjectType.CONTACTS) == ("subscriber", "other", "evangelist")
    assert config.contacts.disallowed["subscriber"] == "lead"
    assert config.companies.missing == FromDeals(closed_won="customer", open="opportunity", otherwise="lead")
    validate_for_portal(config, catalogs())


def test_file_and_overrides_merge_but_a_disallowed_map_is_replaced_whole(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"caps": {"max_changes": 10}, "contacts": {"disallowed": {"other": "lead"}}}))
    config = load_config(path, {"caps": {"max_percent": 5}})
    assert (config.caps.max_changes, config.caps.max_percent) == (10, 5)
    assert config.disallowed(ObjectType.CONTACTS) == ("other",)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"caps": {"max_percnt": 5}}, "caps.max_percnt: Extra inputs are not permitted"),
        ({"contacts": {"disallowed": {"subscriber": "other", "other": "lead"}}}, "is itself disallowed"),
        ({"fix": {"job_size": 150}}, "multiple of fix.batch_size"),
        ({"budget": {"search_requests_per_second": 9}}, "budget.search_requests_per_second"),
    ],
)
def test_malformed_config_is_a_clear_error(data, fragment):
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.")):
        load_config(data)


def test_unreadable_config_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config("{not json")


def test_unknown_stage_names_the_valid_values():
    config = load_config({"contacts": {"disallowed": {"subscriber": "leed"}}})
    with pytest.raises(ConfigError) as error:
        validate_for_portal(config, catalogs())
    message = str(error.value)
    assert "'leed' is not a lifecycle stage" in message
    assert 'valid values are: "subscriber" (Subscriber), "lead" (Lead), "marketingqualifiedlead"' in message


def test_portal_without_lead_fails_the_default_config():
    without_lead = [o for o in DEFAULT_OPTIONS if o["value"] != "lead"]
    with pytest.raises(ConfigError, match="'lead' is not a lifecycle stage"):
        validate_for_portal(GuardConfig(), catalogs(without_lead))


def test_custom_stage_targets_validate_against_the_portal():
    custom = [*DEFAULT_OPTIONS, {"value": "7001", "label": "Nurture", "displayOrder": 2}]
    config = load_config({"contacts": {"disallowed": {"subscriber": "7001", "other": "lead", "evangelist": "lead"}}})
    validate_for_portal(config, catalogs(custom))
    with pytest.raises(ConfigError, match="'7001'"):
        validate_for_portal(config, catalogs())


PQL = {"value": "7001", "label": "Product Qualified Lead", "displayOrder": 3}


def test_stages_named_by_their_labels_resolve_to_the_portal_values_whatever_the_case():
    # GIVEN a config naming stages as HubSpot shows them, a custom one included
    config = load_config(
        {
            "contacts": {
                "missing": {
                    "derive": "primary_company",
                    "inherit": ["Customer"],
                    "otherwise": "product qualified LEAD",
                },
                "disallowed": {"Subscriber": "Lead", "other": "lead"},
            },
            "companies": {"missing": {"derive": "deals", "closed_won": "CUSTOMER"}},
            "prevention": {"default_stage": "Lead"},
        }
    )
    # WHEN the labels are resolved against the portal
    resolved = resolve_stage_labels(config, catalogs([*DEFAULT_OPTIONS, PQL]))
    # THEN every stage is the portal's value, values stay as they were, and the result fits the portal
    assert resolved.contacts.missing == FromPrimaryCompany(inherit=("customer",), otherwise="7001")
    assert resolved.contacts.disallowed == {"subscriber": "lead", "other": "lead"}
    assert resolved.companies.missing == FromDeals(closed_won="customer")
    assert resolved.prevention.default_stage == "lead"
    validate_for_portal(resolved, catalogs([*DEFAULT_OPTIONS, PQL]))


def test_a_label_two_stages_share_is_refused_naming_both_with_their_values():
    twin = {"value": "7002", "label": "product qualified lead", "displayOrder": 4}
    config = load_config({"contacts": {"disallowed": {"subscriber": "Product Qualified Lead"}}})
    with pytest.raises(ConfigError) as error:
        resolve_stage_labels(config, catalogs([*DEFAULT_OPTIONS, PQL, twin]))
    assert (
        "contacts: 'Product Qualified Lead' is the label of \"7001\" (Product Qualified Lead), "
        '"7002" (product qualified lead); name the stage by its value'
    ) in str(error.value)


def test_a_label_naming_a_disallowed_stage_as_a_target_is_refused_once_resolved():
    # "Subscriber" passes the shape check (it is not the value "subscriber"), but it is that stage
    config = load_config({"contacts": {"disallowed": {"subscriber": "lead", "other": "Subscriber"}}})
    with pytest.raises(ConfigError, match="target stage 'subscriber' is itself disallowed"):
        resolve_stage_labels(config, catalogs())


def test_unknown_names_are_left_for_the_portal_check_which_shows_labels_with_values():
    config = load_config({"contacts": {"disallowed": {"subscriber": "Leed"}}})
    resolved = resolve_stage_labels(config, catalogs([*DEFAULT_OPTIONS, PQL]))
    with pytest.raises(ConfigError) as error:
        validate_for_portal(resolved, catalogs([*DEFAULT_OPTIONS, PQL]))
    assert "'Leed' is not a lifecycle stage of this portal's contacts" in str(error.value)
    assert '"7001" (Product Qualified Lead)' in str(error.value)
