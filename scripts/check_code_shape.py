"""Fail when a function in the domain package is too complex or a module too long to read in one sitting.

Cyclomatic complexity as radon counts it (branches, boolean operators and comprehension conditions included);
run by ``make lint`` on ``shared/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from radon.complexity import cc_visit

MAX_COMPLEXITY = 15
MAX_MODULE_LINES = 350


def problems(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        lines = source.count("\n")
        if lines > MAX_MODULE_LINES:
            found.append(f"{path}: {lines} lines (at most {MAX_MODULE_LINES})")
        for block in cc_visit(source):
            if block.complexity > MAX_COMPLEXITY:
                found.append(f"{path}:{block.lineno} {block.fullname}: complexity {block.complexity} (at most 15)")
    return found


def main(roots: list[str]) -> int:
    found = [problem for root in roots for problem in problems(Path(root))]
    print(
        "\n".join(found)
        or f"code shape: every function at most {MAX_COMPLEXITY}, every module at most {MAX_MODULE_LINES} lines"
    )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
