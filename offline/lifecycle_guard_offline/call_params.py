"""Each AWS call's parameters, kept in the call's botocore context for the hooks that run after they are built.

botocore hands a call's parameters to ``before-parameter-build`` handlers only: ``before-call`` sees the serialised
request, ``after-call`` the response. One hook on every client (registered in ``BUILTIN_HANDLERS``, as moto
registers its own) keeps a copy in the call's context, where IAM enforcement (``iam_enforcement``, which derives
resources and condition keys from them) and the SQS pollers' wake-up (``sqs_event_source``: which queue changed)
read it.
"""

from collections.abc import Mapping
from typing import Any

from botocore.handlers import BUILTIN_HANDLERS

_KEY = "lifecycle_guard_offline.params"


def params_of(context: Mapping[str, Any]) -> Mapping[str, Any]:
    """The parameters of the call whose context this is ({} for a call made before the hook was registered)."""
    params: Mapping[str, Any] = context.get(_KEY, {})
    return params


def _keep(params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
    context[_KEY] = dict(params)


BUILTIN_HANDLERS.append(("before-parameter-build", _keep))
