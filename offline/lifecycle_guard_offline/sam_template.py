"""A SAM template as written, and the two steps that turn it into plain CloudFormation without the SAM CLI.

`SamTemplate.packaged()` is what `sam package` does: local `CodeUri`/`ContentUri` folders become `s3://` URIs and a
state machine's `DefinitionUri` file is inlined as `Definition`. `transform()` then runs the SAM transform
(aws-sam-translator) the way CloudFormation would, with the managed-policy map that ships with the translator, so
no IAM call is made.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from cfnlint.decode import decode
from samtranslator.internal.managed_policies import get_bundled_managed_policy_map
from samtranslator.translator.transform import transform as sam_transform

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
SERVERLESS_LAYER = "AWS::Serverless::LayerVersion"
SERVERLESS_STATE_MACHINE = "AWS::Serverless::StateMachine"


@dataclass(frozen=True)
class StateMachineSource:
    """A state machine's ASL file and the `${...}` values CloudFormation substitutes into it."""

    logical_id: str
    definition_path: Path
    substitutions: Mapping[str, Any]  # name -> CloudFormation expression (e.g. {"Fn::GetAtt": [...]})


class SamTemplate:
    """template.yaml parsed with its intrinsic tags (`!Ref`, `!Sub`, ...) as CloudFormation JSON."""

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        decoded, problems = decode(str(self.path))
        if decoded is None:
            raise ValueError(f"cannot parse {self.path}: {'; '.join(str(p) for p in problems)}")
        # cfn-lint decodes into its own dict/str subclasses; a JSON round trip leaves plain values.
        self.body: dict[str, Any] = json.loads(json.dumps(decoded))

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.body["Resources"]
        return resources

    @property
    def parameter_names(self) -> set[str]:
        return set(self.body.get("Parameters", {}))

    @cached_property
    def function_code_dirs(self) -> dict[str, Path]:
        """Logical id of each AWS::Serverless::Function -> its local code folder (CodeUri, or Globals' CodeUri)."""
        global_code_uri = self.body.get("Globals", {}).get("Function", {}).get("CodeUri")
        return {
            logical_id: self._local_path(resource["Properties"].get("CodeUri", global_code_uri), logical_id)
            for logical_id, resource in self._resources_of_type(SERVERLESS_FUNCTION)
        }

    @cached_property
    def layer_content_dirs(self) -> dict[str, Path]:
        return {
            logical_id: self._local_path(resource["Properties"].get("ContentUri"), logical_id)
            for logical_id, resource in self._resources_of_type(SERVERLESS_LAYER)
        }

    @cached_property
    def state_machines(self) -> dict[str, StateMachineSource]:
        machines = {}
        for logical_id, resource in self._resources_of_type(SERVERLESS_STATE_MACHINE):
            properties = resource["Properties"]
            if "DefinitionUri" not in properties:
                raise ValueError(f"{logical_id}: only state machines with a local DefinitionUri file are supported")
            machines[logical_id] = StateMachineSource(
                logical_id=logical_id,
                definition_path=self._local_path(properties["DefinitionUri"], logical_id),
                substitutions=properties.get("DefinitionSubstitutions", {}),
            )
        return machines

    def packaged(self, artifact_uris: Mapping[str, str]) -> dict[str, Any]:
        """A copy ready for the SAM transform, like `sam package` output.

        `artifact_uris` maps the logical id of every function and layer to the `s3://bucket/key` of its code.
        """
        packaged: dict[str, Any] = json.loads(json.dumps(self.body))
        resources = packaged["Resources"]
        for logical_id in self.function_code_dirs:
            resources[logical_id]["Properties"]["CodeUri"] = artifact_uris[logical_id]
        for logical_id in self.layer_content_dirs:
            resources[logical_id]["Properties"]["ContentUri"] = artifact_uris[logical_id]
        for logical_id, machine in self.state_machines.items():
            properties = resources[logical_id]["Properties"]
            del properties["DefinitionUri"]
            properties["Definition"] = json.loads(machine.definition_path.read_text(encoding="utf-8"))
        return packaged

    def _resources_of_type(self, resource_type: str) -> list[tuple[str, dict[str, Any]]]:
        return [(logical_id, r) for logical_id, r in self.resources.items() if r["Type"] == resource_type]

    def _local_path(self, uri: Any, logical_id: str) -> Path:
        # Not checked for existence: the harness deploys before the functions' code is written, and loads a
        # handler only when it is first invoked.
        if not isinstance(uri, str) or uri.startswith("s3://"):
            raise ValueError(f"{logical_id}: expected a local path, got {uri!r}")
        return (self.path.parent / uri).resolve()


class _BundledManagedPolicyLoader:
    """Stands in for samtranslator's ManagedPolicyLoader, which lists AWS managed policies through IAM. The
    translator looks names up in the map bundled with it first and asks the loader only for names missing there;
    offline there is nothing better to answer with than that same map (unknown names pass through unchanged)."""

    def load(self) -> dict[str, str]:
        bundled: dict[str, str] | None = get_bundled_managed_policy_map("aws")
        return bundled or {}


def transform(packaged_template: Mapping[str, Any], parameters: Mapping[str, str]) -> dict[str, Any]:
    """Runs the SAM transform on a packaged template (see `SamTemplate.packaged`).

    The translator reads the region (for ARNs and the partition) from boto3's default session, so
    AWS_DEFAULT_REGION must be set; it caches the first region it sees for the rest of the process.
    """
    transformed: dict[str, Any] = sam_transform(
        json.loads(json.dumps(packaged_template)), dict(parameters), _BundledManagedPolicyLoader()
    )
    return transformed
