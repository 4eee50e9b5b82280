"""Holding the stack's AWS calls for good, when a stop gives up waiting for the handler in flight.

The CLI ends its process with that handler still running (``os._exit``: taking moto down under it would send its
calls to AWS itself). Between the bucket's last mirror and the exit, the handler would go on: delete the marker of
the batch it finished, store the next batch's marker and begin writing it, none of which the mirror would hold, so
the next run could neither finish nor undo that batch. ``hold_other_threads()`` stops that: from then on every AWS
call made outside the caller's context waits forever, before it is sent (a botocore ``before-call`` hook,
registered in ``BUILTIN_HANDLERS`` as moto registers its own, so every client has it). A batch whose marker was
stored is in the mirror and its writes finish in HubSpot or not at all, which recovery settles either way.

The caller is known by a context variable, not by its thread: what it hands to a thread pool with its context
(``storage.read_in_order`` reading the journal for the interrupted run's last words) is the caller's own work and
must go through; the handlers' threads never run the caller's context.

Nothing releases a hold: the threads it holds are daemon threads of a process about to end. A later
``OfflineApp`` (tests run several in one process) starts with ``release_for_new_app()``, which lets new calls
through and leaves the held ones held.
"""

import threading
from contextvars import ContextVar
from typing import Any

from botocore.handlers import BUILTIN_HANDLERS

# The hold in force (whom it exempts, and the event nobody sets), and the hold the running context is exempt from.
_hold: tuple[object, threading.Event] | None = None
_exempt_from: ContextVar[object | None] = ContextVar("exempt_from_hold", default=None)


def hold_other_threads() -> None:
    """Every AWS call from now on, but those made in the calling context, waits for good."""
    global _hold  # noqa: PLW0603 - botocore's handler list is process-global
    holder = object()
    _exempt_from.set(holder)
    _hold = (holder, threading.Event())


def release_for_new_app() -> None:
    global _hold  # noqa: PLW0603
    _hold = None


def _wait_if_held(**_: Any) -> None:
    hold = _hold
    if hold is not None and _exempt_from.get() is not hold[0]:
        hold[1].wait()  # never set


BUILTIN_HANDLERS.append(("before-call", _wait_if_held))
