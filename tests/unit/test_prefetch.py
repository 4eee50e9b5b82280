"""Pages fetched ahead on a thread: in order, ahead of the consumer, errors where the item would have been, and a
consumer that stops early stops the producer."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from lifecycle_guard.prefetch import prefetched


def test_items_come_in_order_fetched_ahead_of_the_consumer():
    fetched: list[int] = []

    def pages() -> Iterator[int]:
        for n in range(10):
            fetched.append(n)
            yield n

    # GIVEN a consumer that has taken the first item and is busy with it
    items = prefetched(pages(), depth=3)
    assert next(items) == 0
    time.sleep(0.3)
    # THEN the producer fetched ahead meanwhile, as far as the depth allows (and the one it holds for the queue)
    assert 3 <= len(fetched) <= 5
    # AND the rest come in order
    assert list(items) == list(range(1, 10))


def test_an_error_of_the_producer_is_raised_where_the_item_would_have_been():
    def pages() -> Iterator[int]:
        yield 1
        raise ConnectionError("search failed")

    items = prefetched(pages(), depth=3)
    assert next(items) == 1
    with pytest.raises(ConnectionError, match="search failed"):
        next(items)


def test_a_consumer_that_stops_early_stops_the_producer():
    stopped = threading.Event()

    def pages() -> Iterator[int]:
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            stopped.set()

    # GIVEN an endless producer, WHEN the consumer takes two items and closes the iterator
    items = prefetched(pages(), depth=2)
    assert [next(items), next(items)] == [0, 1]
    items.close()
    # THEN the producing thread ended instead of fetching on, and its generator was finalised
    assert not any(thread.name == "prefetch" and thread.is_alive() for thread in threading.enumerate())
    assert stopped.wait(1)
