"""Object stores for tests that count what the code reads."""

from __future__ import annotations

from lifecycle_guard.storage import MemoryStore


class CountingStore(MemoryStore):
    """A MemoryStore that records every key read, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    def get(self, key: str) -> bytes | None:
        self.reads.append(key)
        return super().get(key)
