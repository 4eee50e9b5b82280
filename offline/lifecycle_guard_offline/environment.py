"""os.environ for the offline harness: process-wide changes, and changes only the calling thread sees.

Lambda gives each concurrent invocation a container of its own, with its own environment. Offline, concurrent
invocations are threads of one process, whose os.environ is shared: `thread_scoped_environ` replaces os.environ
(and so os.getenv, which reads it) with a mapping in which a thread's `patched_environ` layers sit on top of the
process environment, so two functions running at once each read their own variables. The layers are Python-level
only: a child process inherits the process environment (`os.putenv`), which handlers never rely on.
"""

import os
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

# The layers of the running context (innermost last): a context variable, so a thread a handler hands work to with
# its context (``contextvars.copy_context``) sees the handler's variables too.
_layers: ContextVar[tuple[dict[str, str | None], ...]] = ContextVar("environ_layers", default=())


class ThreadScopedEnviron(MutableMapping[str, str]):
    """The process environment, overlaid by the calling thread's layers (innermost last)."""

    def __init__(self, process: MutableMapping[str, str]) -> None:
        self.process = process

    @property
    def _layers(self) -> tuple[dict[str, str | None], ...]:
        return _layers.get()

    @contextmanager
    def layer(self, changes: Mapping[str, str | None]) -> Iterator[None]:
        """``changes`` seen by this context only, until the block ends (nests)."""
        token = _layers.set((*_layers.get(), dict(changes)))
        try:
            yield
        finally:
            _layers.reset(token)

    def __getitem__(self, name: str) -> str:
        for layer in reversed(self._layers):
            if name in layer:
                value = layer[name]
                if value is None:  # unset by the layer
                    raise KeyError(name)
                return value
        return self.process[name]

    def __setitem__(self, name: str, value: str) -> None:
        layers = self._layers
        if layers:
            layers[-1][name] = value
        else:
            self.process[name] = value

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise KeyError(name)
        layers = self._layers
        if layers:
            layers[-1][name] = None
        else:
            del self.process[name]

    def __iter__(self) -> Iterator[str]:
        names = dict.fromkeys(self.process)
        for layer in self._layers:
            for name, value in layer.items():
                if value is None:
                    names.pop(name, None)
                else:
                    names[name] = None
        return iter(list(names))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict[str, str]:
        """As ``os.environ.copy()``: a plain dict (some libraries call it)."""
        return dict(self)


@contextmanager
def thread_scoped_environ() -> Iterator[ThreadScopedEnviron]:
    """os.environ replaced by a `ThreadScopedEnviron` over it until the block ends."""
    if isinstance(os.environ, ThreadScopedEnviron):
        raise RuntimeError("os.environ is thread-scoped already")
    process = os.environ
    scoped = ThreadScopedEnviron(process)
    os.environ = scoped  # type: ignore[assignment]  # noqa: B003 - replaced, not cleared: a view over the same one
    try:
        yield scoped
    finally:
        os.environ = process  # noqa: B003 - the original object back


@contextmanager
def patched_environ(changes: Mapping[str, str | None]) -> Iterator[None]:
    """Sets each variable to its value (None unsets it) and restores the previous state afterwards: for the
    calling thread only while `thread_scoped_environ` is in force, else for the whole process."""
    environ: Any = os.environ
    if isinstance(environ, ThreadScopedEnviron):
        with environ.layer(changes):
            yield
        return
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
