"""The hold a stopping CLI puts on the stack's AWS calls: the stopping code's own reads go through, also on the
threads it hands them to; every other thread's calls wait."""

import contextvars
import threading

import boto3
from moto import mock_aws

from lifecycle_guard.storage import S3Store, read_in_order
from lifecycle_guard_offline import call_gate


def test_the_holders_pool_reads_go_through_while_another_threads_call_is_held():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="journal")
        store = S3Store(s3, "journal")
        keys = [f"segments/{n:03d}.jsonl" for n in range(40)]
        for key in keys:
            store.put(key, key.encode())
        other_done = threading.Event()

        def other_thread() -> None:  # a fix worker's thread, still running when the CLI stops
            store.get(keys[0])
            other_done.set()

        def stopping() -> list[bytes]:
            # GIVEN the stopping CLI holds every call but its own
            call_gate.hold_other_threads()
            threading.Thread(target=other_thread, daemon=True).start()
            # WHEN it reads the journal so far, sixteen objects at a time on a thread pool
            return list(read_in_order(store, keys))

        read: list[bytes] = []
        stopper = threading.Thread(target=lambda: read.extend(contextvars.copy_context().run(stopping)), daemon=True)
        try:
            stopper.start()
            stopper.join(30)
            # THEN its reads came back, in order, and the other thread's call is still held
            assert not stopper.is_alive(), "the holder's own reads were held"
            assert read == [key.encode() for key in keys]
            assert not other_done.wait(0.5)
        finally:
            call_gate.release_for_new_app()
