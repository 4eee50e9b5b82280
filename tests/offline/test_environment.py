"""os.environ as the harness makes it while handlers run concurrently: each thread's changes are its own."""

import os
import threading

from lifecycle_guard_offline.environment import patched_environ, thread_scoped_environ


def test_a_threads_changes_are_seen_by_that_thread_only_and_undone_after():
    os.environ.pop("LG_TEST_VARIABLE", None)
    seen: dict[str, str | None] = {}
    inside = threading.Event()
    release = threading.Event()

    def other_thread() -> None:
        with patched_environ({"LG_TEST_VARIABLE": "other", "HOME": None}):
            inside.set()
            release.wait(5)
            seen["other"] = os.environ.get("LG_TEST_VARIABLE")
            seen["other_home"] = os.getenv("HOME")  # os.getenv reads the replaced os.environ too

    with thread_scoped_environ():
        # GIVEN another thread that set a variable and unset HOME for itself
        thread = threading.Thread(target=other_thread)
        thread.start()
        assert inside.wait(5)
        # WHEN this thread sets the same variable
        with patched_environ({"LG_TEST_VARIABLE": "mine"}):
            seen["mine"] = os.environ["LG_TEST_VARIABLE"]
            seen["my_home"] = os.environ.get("HOME")
            release.set()
            thread.join(5)
        # THEN each saw its own value, and the process environment was never touched
        seen["after"] = os.environ.get("LG_TEST_VARIABLE")
        assert "LG_TEST_VARIABLE" not in os.environ.copy()
    assert seen == {
        "other": "other",
        "other_home": None,
        "mine": "mine",
        "my_home": os.environ.get("HOME"),
        "after": None,
    }
    assert isinstance(os.environ, os._Environ)  # the real one is back
