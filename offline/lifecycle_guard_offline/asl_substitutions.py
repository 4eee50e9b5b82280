"""`${Name}` placeholders of an ASL definition file and their replacement.

CloudFormation replaces each `${Name}` of a state machine definition with the value of `DefinitionSubstitutions`
before Step Functions sees it. Offline the harness does that itself (moto's CloudFormation ignores
`DefinitionSubstitutions`), and the template tests do it with plausible ARNs to feed the ASL validators.
"""

import re
from collections.abc import Mapping

# CloudFormation's substitution keys are alphanumeric (plus "_"); "$" followed by "{" has no other meaning in ASL.
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def placeholder_names(definition: str) -> set[str]:
    """Names of the `${...}` placeholders in a definition's text."""
    return set(_PLACEHOLDER.findall(definition))


def substitute(definition: str, values: Mapping[str, str]) -> str:
    """The definition with every placeholder replaced; a placeholder without a value is an error, as in CFN."""
    missing = placeholder_names(definition) - values.keys()
    if missing:
        raise KeyError(f"definition placeholders without a substitution: {sorted(missing)}")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], definition)
