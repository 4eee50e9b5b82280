"""One CLI run at a time per OUT directory: ``OUT/.lock``, held with ``flock`` for the life of the process.

Two runs sharing OUT would share its bucket mirror and, offline, nothing else: each has its own moto, so the engine's
DynamoDB lock cannot see the other, and both would write (and journal the same records twice). The lock is the
kernel's: it goes with the process that holds it however that process ends (kill -9 included), so a lock whose pid is
gone is free with no stale-lock clean-up to get wrong. The file says who holds it (pid, run id, host, start time),
for the message a second run gets; it stays in place, emptied, when free (deleting it would let a run waiting on the
old file and one creating a new file both hold "the" lock).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

LOCK_FILE = ".lock"


class RunBusyError(Exception):
    """Another run holds OUT's lock."""


class RunLock:
    def __init__(self, out: Path, run_id: str) -> None:
        self.path = out / LOCK_FILE
        self._run_id = run_id
        self._fd: int | None = None

    def __enter__(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe_holder(os.read(fd, 4096))
            os.close(fd)
            raise RunBusyError(
                f"another lifecycle-guard run is using {self.path.parent}: {holder}; wait for it to end, stop it, "
                "or use another --out"
            ) from None
        mine = {
            "pid": os.getpid(),
            "run_id": self._run_id,
            "host": socket.gethostname(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(mine).encode(), 0)
        self._fd = fd
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing releases the flock
        self._fd = None


def _describe_holder(body: bytes) -> str:
    try:
        holder = json.loads(body)
        return f"run {holder['run_id']} (pid {holder['pid']} on {holder['host']}, since {holder['started_at']})"
    except (ValueError, KeyError, TypeError):
        return "a run that is just starting"  # it holds the lock but has not written its name yet
