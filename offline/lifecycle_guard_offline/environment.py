"""Temporary changes to os.environ (process-global: callers serialise concurrent use)."""

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


@contextmanager
def patched_environ(changes: Mapping[str, str | None]) -> Iterator[None]:
    """Sets each variable to its value (None unsets it) and restores the previous state afterwards."""
    saved = {name: os.environ.get(name) for name in changes}
    _apply(changes)
    try:
        yield
    finally:
        _apply(saved)


def _apply(values: Mapping[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
