"""Fixtures for the checks of the real template.yaml and state machine definition.

Tool-dependent tests use `tool(name)`: a missing tool skips the test with the reason, unless
LIFECYCLE_GUARD_REQUIRE_TOOLS=1 (set in CI), where it fails. scripts/setup-tools.sh installs the tools.
"""

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lifecycle_guard_offline.asl_substitutions import substitute
from lifecycle_guard_offline.environment import patched_environ
from lifecycle_guard_offline.harness import DEFAULT_TEMPLATE_PATH, PROJECT_ROOT
from lifecycle_guard_offline.sam_template import SamTemplate, transform

TOOLS = {
    "cfn-lint": Path(sys.executable).parent / "cfn-lint",  # in the project venv: the harness parses templates with it
    "sam": PROJECT_ROOT / ".venv-tools" / "bin" / "sam",
    "statelint": PROJECT_ROOT / ".venv-tools" / "bin" / "statelint",
    "asl-validator": PROJECT_ROOT / ".tools" / "node_modules" / ".bin" / "asl-validator",
}
STATE_MACHINE = "LifecycleGuardStateMachine"
REGION = "us-east-1"
ACCOUNT = "123456789012"
TRANSFORM_PARAMETERS = {
    "HubSpotTokenSecretArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:lifecycle-guard/hubspot-token-AbCdEf"
}


@pytest.fixture(scope="session")
def tool() -> Callable[[str], Path]:
    def find(name: str) -> Path:
        path = TOOLS[name]
        if path.exists():
            return path
        reason = f"{name} is not installed at {path}: run scripts/setup-tools.sh"
        if os.environ.get("LIFECYCLE_GUARD_REQUIRE_TOOLS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)

    return find


@pytest.fixture(scope="session")
def sam_template() -> SamTemplate:
    return SamTemplate(DEFAULT_TEMPLATE_PATH)


@pytest.fixture(scope="session")
def transformed(sam_template: SamTemplate) -> dict[str, Any]:
    """template.yaml after `sam package` (placeholder S3 URIs) and the SAM transform, as CloudFormation sees it."""
    code = [*sam_template.function_code_dirs, *sam_template.layer_content_dirs]
    packaged = sam_template.packaged(
        {logical_id: f"s3://lifecycle-guard-artifacts/{logical_id}.zip" for logical_id in code}
    )
    with patched_environ({"AWS_DEFAULT_REGION": REGION}):
        return transform(packaged, TRANSFORM_PARAMETERS)


@pytest.fixture(scope="session")
def resources(transformed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    resources: dict[str, dict[str, Any]] = transformed["Resources"]
    return resources


@pytest.fixture(scope="session")
def definition_path(sam_template: SamTemplate) -> Path:
    return sam_template.state_machines[STATE_MACHINE].definition_path


@pytest.fixture(scope="session")
def definition(definition_path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(definition_path.read_text(encoding="utf-8"))
    return loaded


def plausible_arn(substitution: str) -> str:
    """An ARN of the right kind for a DefinitionSubstitutions key, for validators that check Resource ARNs."""
    if substitution.endswith("FunctionArn"):
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:lifecycle-guard-{substitution.removesuffix('Arn')}"
    raise ValueError(f"no plausible value for the substitution {substitution}: teach plausible_arn its kind")


@pytest.fixture(scope="session")
def substituted_definition_file(
    definition_path: Path, sam_template: SamTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The ASL file with its `${...}` replaced by plausible ARNs, as CloudFormation would hand it over."""
    names = sam_template.state_machines[STATE_MACHINE].substitutions
    text = substitute(definition_path.read_text(encoding="utf-8"), {name: plausible_arn(name) for name in names})
    path = tmp_path_factory.mktemp("asl") / definition_path.name
    path.write_text(text, encoding="utf-8")
    return path
