"""The pure template rewrites the deployment relies on."""

import pytest

from lifecycle_guard_offline.asl_substitutions import placeholder_names, substitute
from lifecycle_guard_offline.cfn_resolver import ResolverOutputs
from lifecycle_guard_offline.sam_stack import _replace_references

DEFINITION = '{"Resource": "${StepArn}", "Comment": "costs $5 {not a placeholder}"}'


def test_substitute_replaces_placeholders_only() -> None:
    assert placeholder_names(DEFINITION) == {"StepArn"}
    assert substitute(DEFINITION, {"StepArn": "arn:step"}) == DEFINITION.replace("${StepArn}", "arn:step")


def test_substitute_refuses_a_placeholder_without_value() -> None:
    with pytest.raises(KeyError, match="StepArn"):
        substitute(DEFINITION, {"OtherArn": "arn:other"})


def test_references_to_a_removed_resource_become_its_attribute_expressions() -> None:
    arn, name = {"Fn::Sub": "arn:aws:states:${AWS::Region}:stateMachine:m"}, {"Ref": "MachineName"}
    template = {
        "Resources": {
            "Alarm": {
                "Type": "AWS::CloudWatch::Alarm",
                "DependsOn": ["Machine", "Topic"],
                "Properties": {
                    "Dimensions": [{"Value": {"Ref": "Machine"}}],
                    "Label": {"Fn::GetAtt": "Machine.Name"},
                    "Description": {"Fn::Sub": "watches ${Machine.Name} (${Machine}) in ${AWS::Region}"},
                    "Other": {"Fn::Sub": ["${Machine.Arn}/${Suffix}", {"Suffix": {"Fn::GetAtt": ["Machine", "Name"]}}]},
                    "Untouched": {"Fn::Sub": "${Topic}"},
                },
            }
        }
    }
    replaced = _replace_references(template, "Machine", {"Arn": arn, "Name": name})

    alarm = replaced["Resources"]["Alarm"]
    assert alarm["DependsOn"] == ["Topic"]
    assert alarm["Properties"] == {
        "Dimensions": [{"Value": arn}],
        "Label": name,
        "Description": {
            "Fn::Sub": [
                "watches ${OfflineHarnessMachineName} (${OfflineHarnessMachineArn}) in ${AWS::Region}",
                {"OfflineHarnessMachineArn": arn, "OfflineHarnessMachineName": name},
            ]
        },
        "Other": {
            "Fn::Sub": ["${OfflineHarnessMachineArn}/${Suffix}", {"Suffix": name, "OfflineHarnessMachineArn": arn}]
        },
        "Untouched": {"Fn::Sub": "${Topic}"},
    }


def test_deferred_expressions_come_back_resolved() -> None:
    resolver = ResolverOutputs()
    deferred = resolver.defer({"RoleArn": {"Fn::GetAtt": ["Role", "Arn"]}, "Type": "STANDARD", "List": [{"Ref": "P"}]})
    template: dict = {"Outputs": {"Own": {"Value": "x"}}}
    resolver.attach_to(template)
    stack_outputs = {key: f"value of {output['Value']}" for key, output in template["Outputs"].items()}

    own, resolved = ResolverOutputs.split(stack_outputs)
    assert own == {"Own": "value of x"}
    assert ResolverOutputs.resolve(deferred, resolved) == {
        "RoleArn": "value of {'Fn::GetAtt': ['Role', 'Arn']}",
        "Type": "STANDARD",
        "List": ["value of {'Ref': 'P'}"],
    }
