"""Pages fetched ahead on a thread of their own.

Planning alternates two kinds of work that HubSpot limits separately: finding records (search, five requests a
second, outside the ten-second budget) and deciding them (association, batch and history reads, inside it). Done
one after the other, the ten-second budget idles while search gathers records and search idles while they are
decided. Keyset paging needs nothing but the last page's last id, so the next pages can be fetched while the
current ones are decided: the search limit and the burst budget are then both busy.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator

_END = object()
_PUT_TIMEOUT_SECONDS = 0.2  # how often a producer blocked on a full queue looks whether it should stop
# How long a consumer that stops waits for the fetch in flight; the thread is a daemon, and a stalled request
# ends at the transport's own deadline anyway.
_JOIN_TIMEOUT_SECONDS = 30.0


def prefetched[T](items: Iterator[T], depth: int) -> Generator[T]:
    """``items``, produced up to ``depth`` ahead of the consumer by a thread. An exception of the producer is raised
    to the consumer where the item would have been; closing the iterator (or leaving it early) stops the thread
    after the item it is fetching."""
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _put(ready, item, stop):
                    return
            _put(ready, _END, stop)
        except BaseException as exc:  # handed to the consumer, which raises it
            _put(ready, exc, stop)

    producer = threading.Thread(target=produce, name="prefetch", daemon=True)
    producer.start()
    try:
        while (item := ready.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]  # the queue holds the producer's T, _END or its exception
    finally:
        stop.set()
        producer.join(timeout=_JOIN_TIMEOUT_SECONDS)


def _put(ready: queue.Queue[object], item: object, stop: threading.Event) -> bool:
    """Put ``item`` when there is room; False if the consumer stopped meanwhile."""
    while not stop.is_set():
        try:
            ready.put(item, timeout=_PUT_TIMEOUT_SECONDS)
        except queue.Full:
            continue
        return True
    return False
