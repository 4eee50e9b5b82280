"""Object storage for plans, journals, reports and pending-write markers (S3 in AWS, moto offline); the keys
are made by ``layout``."""

from __future__ import annotations

import contextvars
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

MULTIPART_PART_BYTES = 8 * 1024 * 1024  # S3 parts must be >= 5 MiB except the last
# Objects read at once by ``read_in_order``: a report reads a run's journal segments and jobs (thousands at a
# million records), and one GET after another is bound by S3's latency, not its throughput.
PARALLEL_READS = 16


class ObjectStore(Protocol):
    def put(self, key: str, body: bytes, content_type: str = "application/json") -> None: ...

    def put_chunks(self, key: str, chunks: Iterable[bytes], content_type: str = "application/json") -> None: ...

    def get(self, key: str) -> bytes | None: ...

    def keys(self, prefix: str, start_after: str = "") -> Iterator[str]:
        """Keys under ``prefix`` in order, only those after ``start_after`` if given (S3's ``StartAfter``)."""
        ...

    def delete(self, key: str) -> None: ...


def read_in_order(store: ObjectStore, keys: Iterable[str], workers: int = PARALLEL_READS) -> Iterator[bytes]:
    """The objects at ``keys``, in that order (a missing one as b""), read ``workers`` at a time (boto3's clients
    are thread-safe), at most ``2 * workers`` ahead of the consumer. Each read runs in the caller's context
    (``contextvars``), as the caller's own would."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="s3-read") as pool:
        ahead: deque[Future[bytes | None]] = deque()
        for key in keys:
            ahead.append(pool.submit(contextvars.copy_context().run, store.get, key))
            if len(ahead) >= 2 * workers:
                yield ahead.popleft().result() or b""
        while ahead:
            yield ahead.popleft().result() or b""


class S3Store:
    """``ObjectStore`` on one S3 bucket."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._s3 = client
        self.bucket = bucket

    def put(self, key: str, body: bytes, content_type: str = "application/json") -> None:
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    def put_chunks(self, key: str, chunks: Iterable[bytes], content_type: str = "application/json") -> None:
        """Stream a large object in multipart parts without holding it in memory; small ones go in one put."""
        buffer = bytearray()
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            for chunk in chunks:
                buffer += chunk
                if len(buffer) >= MULTIPART_PART_BYTES:
                    if upload_id is None:
                        upload_id = self._s3.create_multipart_upload(
                            Bucket=self.bucket, Key=key, ContentType=content_type
                        )["UploadId"]
                    parts.append(self._upload_part(key, upload_id, len(parts) + 1, bytes(buffer)))
                    buffer.clear()
            if upload_id is None:
                self.put(key, bytes(buffer), content_type)
                return
            if buffer:
                parts.append(self._upload_part(key, upload_id, len(parts) + 1, bytes(buffer)))
            self._s3.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            if upload_id is not None:
                self._s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise

    def _upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> dict[str, Any]:
        reply = self._s3.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body)
        return {"PartNumber": number, "ETag": reply["ETag"]}

    def get(self, key: str) -> bytes | None:
        try:
            body: bytes = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self._s3.exceptions.NoSuchKey:
            return None
        return body

    def keys(self, prefix: str, start_after: str = "") -> Iterator[str]:
        paginator = self._s3.get_paginator("list_objects_v2")
        bounds = {"StartAfter": start_after} if start_after else {}
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, **bounds):
            for item in page.get("Contents", []):
                yield item["Key"]

    def delete(self, key: str) -> None:
        self._s3.delete_object(Bucket=self.bucket, Key=key)


class MemoryStore:
    """``ObjectStore`` in a dict: for benchmarks (what a plan and a journal weigh, without S3) and unit tests."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, body: bytes, content_type: str = "application/json") -> None:  # noqa: ARG002
        self.objects[key] = body

    def put_chunks(
        self,
        key: str,
        chunks: Iterable[bytes],
        content_type: str = "application/json",  # noqa: ARG002 - the protocol's signature
    ) -> None:
        self.objects[key] = b"".join(chunks)

    def get(self, key: str) -> bytes | None:
        return self.objects.get(key)

    def keys(self, prefix: str, start_after: str = "") -> Iterator[str]:
        return iter(sorted(key for key in self.objects if key.startswith(prefix) and key > start_after))

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    def size(self, prefix: str) -> tuple[int, int]:
        """(objects, bytes) under ``prefix``."""
        sizes = [len(body) for key, body in self.objects.items() if key.startswith(prefix)]
        return len(sizes), sum(sizes)
