"""SIGINT and SIGTERM for the CLI: a request to stop cleanly, not an exception wherever the main thread happens to be.

Before a run has started there is nothing to stop cleanly: a signal raises ``Interrupted`` and the with-blocks unwind
(the sandbox stops, the lock is released). Once ``defer()`` is called - at the start of the execution, for the rest
of the process - a signal only records the request; the run loop stops the execution, lets the writes in flight
finish their batch, and mirrors what the run wrote, and the CLI removes the run's probe records. A second signal says
"stop waiting" (``hurried``): the writes in flight are abandoned, their pending markers left for the next run. A
third one gets the signal's default action, so a process stuck in a network call can still be ended at once.

The exit status of an interrupted command is 128 + the signal's number, as a shell reports a process a signal
ended: 130 for SIGINT (Ctrl-C), 143 for SIGTERM.
"""

from __future__ import annotations

import signal
from types import FrameType, TracebackType
from typing import Self

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """A stop signal arrived before the run started (a BaseException, as KeyboardInterrupt: no `except Exception`
    on the way may swallow it)."""

    def __init__(self, received: signal.Signals) -> None:
        super().__init__(received.name)
        self.received = received


def exit_status(received: signal.Signals) -> int:
    return 128 + int(received)


class StopSignals:
    """Installs handlers for SIGINT and SIGTERM while entered (main thread only, as Python's signal handlers)."""

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._count = 0
        self._deferring = False
        self._previous: dict[signal.Signals, object] = {}

    @property
    def requested(self) -> bool:
        return self.received is not None

    @property
    def hurried(self) -> bool:
        """A second signal: stop waiting for the writes in flight."""
        return self._count >= 2

    def __enter__(self) -> Self:
        for each in STOP_SIGNALS:
            self._previous[each] = signal.signal(each, self._handle)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        for each, previous in self._previous.items():
            signal.signal(each, previous)  # type: ignore[arg-type]  # what signal.signal returned before

    def defer(self) -> None:
        """From now on, signals are requests the caller answers (``requested``, ``hurried``), not exceptions."""
        self._deferring = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:  # noqa: ARG002 - the handler's signature
        received = signal.Signals(signum)
        self._count += 1
        if self.received is None:
            self.received = received
        if self._count >= 2:
            signal.signal(received, signal.SIG_DFL)  # the next one ends the process at once
        if not self._deferring and self._count == 1:
            raise Interrupted(received)
