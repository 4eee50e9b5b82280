"""OUT's lock: a second holder is refused with who holds it; a holder that dies, however it dies, frees it."""

import os
import signal
import subprocess
import sys

import pytest

from lifecycle_guard_offline.run_lock import RunBusyError, RunLock

HOLD = """
import sys, time
from pathlib import Path
from lifecycle_guard_offline.run_lock import RunLock
with RunLock(Path(sys.argv[1]), "held-elsewhere"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_run_is_refused_naming_the_first_and_may_go_once_it_ends(tmp_path):
    with RunLock(tmp_path, "first"):
        with pytest.raises(RunBusyError) as refused, RunLock(tmp_path, "second"):
            pass
        assert f"run first (pid {os.getpid()} on " in str(refused.value)
    with RunLock(tmp_path, "second"):
        assert '"run_id": "second"' in (tmp_path / ".lock").read_text()
    assert (tmp_path / ".lock").read_text() == ""


def test_a_holder_killed_outright_leaves_the_lock_free(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(RunBusyError, match=f"run held-elsewhere \\(pid {holder.pid} "), RunLock(tmp_path, "mine"):
        pass
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    assert str(holder.pid) in (tmp_path / ".lock").read_text()  # the dead holder's name is still in the file ...
    with RunLock(tmp_path, "mine"):  # ... but the lock went with it
        pass
