"""The external validators on the real template and state machine: sam validate --lint, cfn-lint (on the SAM
template and on its transform), asl-validator and statelint."""

import json
import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lifecycle_guard_offline.harness import DEFAULT_TEMPLATE_PATH

ToolFinder = Callable[[str], Path]


def run(command: Sequence[str | Path], env: dict[str, str] | None = None) -> None:
    completed = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, timeout=300, env=env, check=False
    )
    assert completed.returncode == 0, (
        f"{command[0]} exited {completed.returncode}:\n{completed.stdout}\n{completed.stderr}"
    )


def test_sam_validate_lint(tool: ToolFinder) -> None:
    # Offline and without credentials, as `sam validate` works: only a region is needed.
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"}
    }
    env |= {"AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0"}
    run([tool("sam"), "validate", "--lint", "--template-file", DEFAULT_TEMPLATE_PATH], env=env)


def test_cfn_lint_on_the_sam_template(tool: ToolFinder) -> None:
    run([tool("cfn-lint"), DEFAULT_TEMPLATE_PATH])


def joined_definitions(template: dict[str, Any]) -> dict[str, Any]:
    """The transform inlines a definition as an Fn::Join of its lines, which cfn-lint 1.x resolves one recursion
    level per line (a definition of ~800 lines overflows its stack); a join of literal strings is, to
    CloudFormation, the joined string, so that is what cfn-lint is given."""
    joined = json.loads(json.dumps(template))
    for resource in joined["Resources"].values():
        definition = resource.get("Properties", {}).get("DefinitionString")
        if isinstance(definition, dict) and "Fn::Join" in definition:
            separator, parts = definition["Fn::Join"]
            if all(isinstance(part, str) for part in parts):
                resource["Properties"]["DefinitionString"] = separator.join(parts)
    return joined


def test_cfn_lint_on_the_transformed_template(tool: ToolFinder, transformed: dict[str, Any], tmp_path: Path) -> None:
    """cfn-lint on a SAM template does not lint what the transform generates (runtimes, event sources, the state
    machine's definition behind DefinitionUri); on the transformed template it does."""
    path = tmp_path / "transformed.json"
    path.write_text(json.dumps(joined_definitions(transformed)), encoding="utf-8")
    # W3037: SAM's SQSPollerPolicy lists sqs:ChangeMessageVisibilityBatch and sqs:DeleteMessageBatch, API names
    # that IAM authorises through the non-batch actions; cfn-lint knows only IAM action names.
    run([tool("cfn-lint"), "--ignore-checks", "W3037", "--", path])


def test_asl_validator(tool: ToolFinder, substituted_definition_file: Path) -> None:
    run([tool("asl-validator"), "--json-path", substituted_definition_file])


def test_statelint(tool: ToolFinder, substituted_definition_file: Path) -> None:
    # FLOAT: statelint takes BackoffRate 2 (an integer) for a type error.
    run([tool("statelint"), "--ignore=FLOAT", substituted_definition_file])
