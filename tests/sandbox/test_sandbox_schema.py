"""Properties and pipelines through the real SDK."""

from __future__ import annotations

from hubspot import HubSpot

from hubspot_sandbox import Pipeline, PipelineStage, Sandbox


def test_lifecyclestage_property_has_ordered_options(client: HubSpot, sandbox: Sandbox) -> None:
    prop = client.crm.properties.core_api.get_by_name("contacts", "lifecyclestage")
    assert (prop.name, prop.type, prop.field_type) == ("lifecyclestage", "enumeration", "radio")
    values = [option.value for option in sorted(prop.options, key=lambda option: option.display_order)]
    assert values == [stage.value for stage in sandbox.portal.lifecycle_stages("contacts")]
    assert values[:4] == ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead"]
    assert "52137490" in values  # the generator's numeric custom stage
    companies = client.crm.properties.core_api.get_by_name("companies", "lifecyclestage")
    assert [option.value for option in companies.options] == [option.value for option in prop.options]


def test_deal_pipelines_with_metadata(client: HubSpot) -> None:
    pipelines = client.crm.pipelines.pipelines_api.get_all("deals").results
    assert pipelines[0].id == "default"
    default_stages = {stage.id: stage.metadata for stage in pipelines[0].stages}
    assert default_stages["closedwon"] == {"isClosed": "true", "probability": "1.0"}
    assert default_stages["closedlost"]["isClosed"] == "true"
    assert default_stages["appointmentscheduled"]["isClosed"] == "false"
    custom = pipelines[1:]
    assert len(custom) >= 2
    assert all(stage.id.isdigit() for pipeline in custom for stage in pipeline.stages)
    single = client.crm.pipelines.pipelines_api.get_by_id("deals", custom[0].id)
    assert single.label == custom[0].label


def test_dealstage_and_pipeline_properties(client: HubSpot) -> None:
    pipeline = client.crm.properties.core_api.get_by_name("deals", "pipeline")
    assert "default" in [option.value for option in pipeline.options]
    flags = client.crm.properties.core_api.get_by_name("deals", "hs_is_closed_won")
    assert flags.type == "bool"
    assert flags.modification_metadata.read_only_value is True


def test_added_pipeline_is_served_and_usable(client: HubSpot, sandbox: Sandbox) -> None:
    stages = (PipelineStage("901", "Open", 0, 0.5, False), PipelineStage("902", "Won", 1, 1.0, True))
    sandbox.portal.add_deal_pipeline(Pipeline("900", "Renewals", 9, stages))
    assert client.crm.pipelines.pipelines_api.get_by_id("deals", "900").stages[1].metadata["probability"] == "1.0"
    deal = client.crm.deals.basic_api.create(
        simple_public_object_input_for_create={"properties": {"pipeline": "900", "dealstage": "902"}}
    )
    assert sandbox.portal.get_property("deals", deal.id, "hs_is_closed_won") == "true"
