"""A function's real handler module, for test doubles that wrap it (e.g. a sabotaged fix worker)."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from lifecycle_guard_offline import DEFAULT_TEMPLATE_PATH


def import_function(function_dir: str, module_name: str) -> ModuleType:
    """``functions/<function_dir>/app.py`` imported as ``module_name``. Call it inside an invocation, as the
    runtime does, so the module's Powertools objects see the function's environment. ``sys.modules.pop``
    of ``module_name`` forgets it."""
    source = DEFAULT_TEMPLATE_PATH.parent / "functions" / function_dir / "app.py"
    spec = importlib.util.spec_from_file_location(module_name, source)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # registered before running it, as import does (dataclasses need it)
    spec.loader.exec_module(module)
    return module
