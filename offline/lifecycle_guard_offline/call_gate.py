"""Holding the stack's AWS calls for good, when a stop gives up waiting for the handler in flight.

The CLI ends its process with that handler still running (``os._exit``: taking moto down under it would send its
calls to AWS itself). Between the bucket's last mirror and the exit, the handler would go on: delete the marker of
the batch it finished, store the next batch's marker and begin writing it, none of which the mirror would hold, so
the next run could neither finish nor undo that batch. ``hold_other_threads()`` stops that: from then on every AWS
call made on any thread but the caller's waits forever, before it is sent (a botocore ``before-call`` hook,
registered in ``BUILTIN_HANDLERS`` as moto registers its own, so every client has it). A batch whose marker was
stored is in the mirror and its writes finish in HubSpot or not at all, which recovery settles either way.

Nothing releases a hold: the threads it holds are daemon threads of a process about to end. A later
``OfflineApp`` (tests run several in one process) starts with ``release_for_new_app()``, which lets new calls
through and leaves the held ones held.
"""

import threading
from typing import Any

from botocore.handlers import BUILTIN_HANDLERS

_hold: tuple[threading.Thread, threading.Event] | None = None


def hold_other_threads() -> None:
    """Every AWS call from now on, but those of the calling thread, waits for good."""
    global _hold  # noqa: PLW0603 - botocore's handler list is process-global
    _hold = (threading.current_thread(), threading.Event())


def release_for_new_app() -> None:
    global _hold  # noqa: PLW0603
    _hold = None


def _wait_if_held(**_: Any) -> None:
    hold = _hold
    if hold is not None and threading.current_thread() is not hold[0]:
        hold[1].wait()  # never set


BUILTIN_HANDLERS.append(("before-call", _wait_if_held))
