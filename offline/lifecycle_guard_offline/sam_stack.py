"""Deploy a SAM application into moto, the way `sam deploy` would into AWS (written against moto 5.2.5).

Steps and the moto-specific workarounds in them:

1. Placeholder code. moto's Lambda (CreateFunction/PublishLayerVersion, also through CloudFormation) needs the
   code's S3 object to exist, so every function and layer gets a tiny placeholder zip in an artifacts bucket. That
   code never runs: `lambda_dispatch` runs the real handler from the source folder in-process.
2. The SAM transform (`sam_template.transform`); moto's CloudFormation skips `AWS::Serverless::*` types.
3. State machines are taken out of the CloudFormation template. moto's CloudFormation ignores
   `DefinitionSubstitutions` and writes to the Step Functions backend that does not execute, so the harness creates
   each state machine itself through the Step Functions API after the stack exists, with its ASL file's `${...}`
   resolved, under the template's Name (`StateMachineName` after the transform; `<stack>-<logical id>` if it has
   none). References to it elsewhere in the template (alarms, the schedule and its role, outputs) are replaced by
   expressions for the ARN and name it will have, which moto evaluates with the rest of the stack.
4. Expressions the harness needs but CloudFormation does not hand out (the substitution values, the state
   machine's role, the schedules' inputs) are resolved by moto itself through hidden outputs (`cfn_resolver`).
5. moto's CloudFormation skips types it does not implement, with a warning each: AWS::S3::BucketPolicy,
   AWS::SNS::TopicPolicy, AWS::CloudWatch::Alarm and AWS::Scheduler::Schedule here. They are checked statically by
   tests/template; the schedule is "fired" by starting an execution with its input (`DeployedStack.schedule_inputs`).
6. moto's CloudFormation creates an AWS::IAM::Role's inline policies but drops its `ManagedPolicyArns`; they are
   attached afterwards through IAM, as CloudFormation does, so the roles in moto's IAM are the roles AWS would have
   (`iam_enforcement` reads them). AWS managed policies exist in moto only with its config
   `{"iam": {"load_aws_managed_policies": True}}`.
"""

import io
import json
import warnings
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from lifecycle_guard_offline.asl_substitutions import substitute
from lifecycle_guard_offline.cfn_resolver import ResolverOutputs
from lifecycle_guard_offline.sam_template import SamTemplate, transform

STATE_MACHINE_TYPE = "AWS::StepFunctions::StateMachine"
ROLE_TYPE = "AWS::IAM::Role"
SCHEDULE_TYPE = "AWS::Scheduler::Schedule"

# What CreateStateMachine takes besides the name and the definition (which comes from the ASL file).
_USED_STATE_MACHINE_PROPERTIES = (
    "RoleArn",
    "StateMachineType",
    "DefinitionSubstitutions",
    "LoggingConfiguration",
    "TracingConfiguration",
)
_PLACEHOLDER_README = (
    "Placeholder uploaded by lifecycle_guard_offline: moto needs a code object to exist. Offline, invocations\n"
    "run the function's source folder in-process (lifecycle_guard_offline.lambda_dispatch).\n"
)


@dataclass(frozen=True)
class DeployedStack:
    stack_name: str
    outputs: Mapping[str, str]
    physical_ids: Mapping[str, str]  # logical id -> physical id, state machines included
    resource_types: Mapping[str, str]  # logical id -> CloudFormation type after the SAM transform
    schedule_inputs: Mapping[str, Any]  # AWS::Scheduler::Schedule logical id -> its target input, parsed

    def physical_ids_of_type(self, resource_type: str) -> dict[str, str]:
        return {
            logical_id: self.physical_ids[logical_id]
            for logical_id, type_ in self.resource_types.items()
            if type_ == resource_type and logical_id in self.physical_ids
        }

    def only_physical_id_of_type(self, resource_type: str) -> str:
        """The physical id of the stack's one resource of this type (an error if there are none or several)."""
        ids = self.physical_ids_of_type(resource_type)
        if len(ids) != 1:
            raise LookupError(f"expected exactly one {resource_type} in stack {self.stack_name}, found {sorted(ids)}")
        return next(iter(ids.values()))

    @property
    def state_machine_arn(self) -> str:
        return self.only_physical_id_of_type(STATE_MACHINE_TYPE)


@dataclass(frozen=True)
class _DeferredStateMachine:
    logical_id: str
    definition_path: Path
    # The CreateStateMachine inputs as CloudFormation properties (plus "Arn"), expressions deferred to moto.
    properties: Any


def deploy_sam_app(template: SamTemplate, *, stack_name: str, parameters: Mapping[str, str]) -> DeployedStack:
    """Transforms and deploys `template` into the active moto mock, in the default boto3 session's region (so
    AWS_DEFAULT_REGION); returns what the stack created."""
    session = boto3.session.Session()

    artifact_uris = _upload_placeholder_code(
        session, f"{stack_name.lower()}-artifacts", [*template.function_code_dirs, *template.layer_content_dirs]
    )
    cfn_template = transform(template.packaged(artifact_uris), parameters)
    resource_types = {logical_id: r["Type"] for logical_id, r in cfn_template["Resources"].items()}

    resolver = ResolverOutputs()
    machines = _take_out_state_machines(cfn_template, template, resolver, stack_name)
    deferred_schedule_inputs = {
        logical_id: resolver.defer(resource["Properties"]["Target"]["Input"])
        for logical_id, resource in cfn_template["Resources"].items()
        if resource["Type"] == SCHEDULE_TYPE and "Input" in resource["Properties"]["Target"]
    }
    deferred_managed_policies = {
        logical_id: resolver.defer(resource["Properties"]["ManagedPolicyArns"])
        for logical_id, resource in cfn_template["Resources"].items()
        if resource["Type"] == ROLE_TYPE and resource["Properties"].get("ManagedPolicyArns")
    }
    resolver.attach_to(cfn_template)

    stack_outputs, physical_ids = _create_stack(session, stack_name, cfn_template, parameters)
    outputs, resolved = ResolverOutputs.split(stack_outputs)
    iam = session.client("iam")
    for logical_id, deferred in deferred_managed_policies.items():
        for policy_arn in ResolverOutputs.resolve(deferred, resolved):
            iam.attach_role_policy(RoleName=physical_ids[logical_id], PolicyArn=policy_arn)
    sfn = session.client("stepfunctions")
    for machine in machines:
        physical_ids[machine.logical_id] = _create_state_machine(
            sfn, machine, ResolverOutputs.resolve(machine.properties, resolved)
        )

    return DeployedStack(
        stack_name=stack_name,
        outputs=outputs,
        physical_ids=physical_ids,
        resource_types=resource_types,
        schedule_inputs={
            logical_id: json.loads(ResolverOutputs.resolve(deferred, resolved))
            for logical_id, deferred in deferred_schedule_inputs.items()
        },
    )


def _upload_placeholder_code(session: boto3.session.Session, bucket: str, logical_ids: Iterable[str]) -> dict[str, str]:
    s3 = session.client("s3")
    if session.region_name == "us-east-1":  # S3 rejects a LocationConstraint naming us-east-1
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": session.region_name})
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as placeholder:
        placeholder.writestr("README.txt", _PLACEHOLDER_README)
    uris = {}
    for logical_id in logical_ids:
        key = f"{logical_id}.zip"
        s3.put_object(Bucket=bucket, Key=key, Body=archive.getvalue())
        uris[logical_id] = f"s3://{bucket}/{key}"
    return uris


def _take_out_state_machines(
    cfn_template: dict[str, Any], template: SamTemplate, resolver: ResolverOutputs, stack_name: str
) -> list[_DeferredStateMachine]:
    """Removes the state machines from `cfn_template` (see step 3 of the module docstring)."""
    resources = cfn_template["Resources"]
    machines = []
    for logical_id in [lid for lid, r in resources.items() if r["Type"] == STATE_MACHINE_TYPE]:
        if logical_id not in template.state_machines:
            raise ValueError(f"{logical_id}: only AWS::Serverless::StateMachine with a DefinitionUri is supported")
        properties = resources.pop(logical_id)["Properties"]
        name = properties.get("StateMachineName", f"{stack_name}-{logical_id}")
        arn = {
            "Fn::Sub": [
                "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${Name}",
                {"Name": name},
            ]
        }
        used = {key: properties[key] for key in _USED_STATE_MACHINE_PROPERTIES if key in properties}
        machines.append(
            _DeferredStateMachine(
                logical_id=logical_id,
                definition_path=template.state_machines[logical_id].definition_path,
                properties=resolver.defer({**used, "StateMachineName": name, "Arn": arn}),
            )
        )
        cfn_template.update(_replace_references(cfn_template, logical_id, {"Arn": arn, "Name": name}))
    return machines


def _replace_references(tree: Any, logical_id: str, attributes: Mapping[str, Any]) -> Any:
    """`tree` with Ref/GetAtt/Sub/DependsOn references to a resource taken out of the template replaced by
    `attributes`: expressions for the resource's "Arn" (also what `Ref` returns for a state machine) and others.
    """
    if isinstance(tree, list):
        return [_replace_references(value, logical_id, attributes) for value in tree]
    if not isinstance(tree, dict):
        return tree
    if tree == {"Ref": logical_id}:
        return attributes["Arn"]
    if len(tree) == 1 and "Fn::GetAtt" in tree:
        get_att = tree["Fn::GetAtt"]
        target, attribute = get_att.split(".", 1) if isinstance(get_att, str) else get_att
        if target == logical_id:
            if attribute not in attributes:
                raise ValueError(f"Fn::GetAtt {logical_id}.{attribute} is not supported offline")
            return attributes[attribute]
    if len(tree) == 1 and "Fn::Sub" in tree:
        return _replace_sub_references(tree["Fn::Sub"], logical_id, attributes)
    replaced = {key: _replace_references(value, logical_id, attributes) for key, value in tree.items()}
    depends_on = replaced.get("DependsOn")
    if depends_on == logical_id:
        del replaced["DependsOn"]
    elif isinstance(depends_on, list):
        replaced["DependsOn"] = [d for d in depends_on if d != logical_id]
    return replaced


def _replace_sub_references(sub: Any, logical_id: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
    """An Fn::Sub whose `${X}`/`${X.Attribute}` of the removed resource X become variables bound to `attributes`."""
    text, variables = (
        (sub, {}) if isinstance(sub, str) else (sub[0], _replace_references(sub[1], logical_id, attributes))
    )
    for attribute, expression in attributes.items():
        variable = f"OfflineHarness{logical_id}{attribute}"
        placeholders = [f"{logical_id}.{attribute}"] + ([logical_id] if attribute == "Arn" else [])
        for placeholder in placeholders:
            if f"${{{placeholder}}}" in text:
                text = text.replace(f"${{{placeholder}}}", f"${{{variable}}}")
                variables[variable] = expression
    return {"Fn::Sub": [text, variables] if variables else text}


def _create_stack(
    session: boto3.session.Session, stack_name: str, cfn_template: dict[str, Any], parameters: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Creates the stack; returns (its outputs, logical id -> physical id of what moto created)."""
    cfn = session.client("cloudformation")
    with warnings.catch_warnings():
        # One warning per resource type moto's CloudFormation skips (the module docstring lists them); moto
        # parses resources again when describing the stack, so the filter covers the reads as well.
        warnings.filterwarnings("ignore", message="Tried to parse .* not supported by moto", category=UserWarning)
        cfn.create_stack(
            StackName=stack_name,
            TemplateBody=json.dumps(cfn_template),
            Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        # moto creates the stack synchronously inside CreateStack; the status is final here.
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        if stack["StackStatus"] != "CREATE_COMPLETE":
            raise RuntimeError(f"stack {stack_name}: {stack['StackStatus']} {stack.get('StackStatusReason', '')}")
        outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
        physical_ids = {
            resource["LogicalResourceId"]: resource["PhysicalResourceId"]
            for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_name)
            for resource in page["StackResourceSummaries"]
            if resource.get("PhysicalResourceId")  # empty for the types moto skips
        }
    return outputs, physical_ids


def _create_state_machine(sfn: Any, machine: _DeferredStateMachine, properties: Mapping[str, Any]) -> str:
    """Creates the state machine from its resolved properties; returns its ARN."""
    definition = substitute(
        machine.definition_path.read_text(encoding="utf-8"), properties.get("DefinitionSubstitutions", {})
    )
    arguments: dict[str, Any] = {
        "name": properties["StateMachineName"],
        "definition": definition,
        "roleArn": properties["RoleArn"],
        "type": properties.get("StateMachineType", "STANDARD"),
    }
    if "LoggingConfiguration" in properties:
        logging = properties["LoggingConfiguration"]
        arguments["loggingConfiguration"] = {
            "level": logging.get("Level", "OFF"),
            "includeExecutionData": logging.get("IncludeExecutionData", False),
            "destinations": [
                {"cloudWatchLogsLogGroup": {"logGroupArn": d["CloudWatchLogsLogGroup"]["LogGroupArn"]}}
                for d in logging.get("Destinations", [])
            ],
        }
    if "TracingConfiguration" in properties:
        arguments["tracingConfiguration"] = {"enabled": properties["TracingConfiguration"].get("Enabled", False)}
    arn: str = sfn.create_state_machine(**arguments)["stateMachineArn"]
    if arn != properties["Arn"]:  # the stack's references to it were resolved to this ARN
        raise RuntimeError(f"{machine.logical_id}: created as {arn}, the stack expected {properties['Arn']}")
    return arn
