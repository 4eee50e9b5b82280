"""The garbage collector kept to the heap a deployed Lambda would have.

In AWS every Lambda container is a process of its own, with its own small heap. Offline one process holds moto's
state, the deployed stack and every container's module state (each container's boto3 session loads its own
service models: hundreds of thousands of objects). CPython's cyclic collector walks all of them in one pass that
stops every thread: on a 100k-contact run, 6.3 s of collection in all and pauses up to 0.95 s
(bench/pipeline_cost.py, 2026-12-07). Such a pause delays every handler at once, which no deployment sees: requests
the shared rate gate admitted before it reach HubSpot together after it, more of them in one 10 s window than the
budget allows (a busiest window of 96 against a share of 95 in bench/pipelined.py).

So what is made once and lives for the app's life - the deployment, and each container's cold start - is moved
out of the collector's sight (``gc.freeze``: "move them to a permanent generation and ignore them in all the
future collections", Python docs, ``gc`` module), as servers that fork workers do. Objects frozen are still freed
by reference counting; only cycles among them wait until ``thaw`` puts them back when the app closes.
"""

import gc


def settle_long_lived() -> None:
    """After the deployment: collect what it left over, then freeze the rest."""
    gc.collect()
    gc.freeze()


def freeze_cold_start() -> None:
    """After a container's cold start (its module imported, its clients made). No collection first: that would be
    the very pause this avoids; the little garbage frozen with it is thawed with the app."""
    gc.freeze()


def thaw() -> None:
    """Everything frozen back in the collector's sight, for the next app or the rest of the process."""
    gc.unfreeze()
