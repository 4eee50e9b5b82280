"""``OUT/.bucket``: the run's S3 bucket on disk, kept current while the run goes.

moto's bucket lives only as long as the process; the mirror is what a later run, an undo or crash recovery finds in
S3 (journals, pending-write markers, run contexts, reports). It is put into the bucket before the execution starts,
then synced while it runs and once more on the way out, so a process killed outright (kill -9) loses at most the
last interval's objects - the journal segments of the batches that finished in those seconds.

A sync writes only the objects whose ETag changed, each to a temporary file renamed into place, so a kill never
leaves half an object; and it deletes the files of keys gone from the bucket: a pending marker whose batch finished
must not come back in the next run's bucket as a batch to recover.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lifecycle_guard.layout import INDEX_PREFIX, UNDONE_SUFFIX, index_key, undone_key

MIRROR = ".bucket"
INCOMING = ".bucket-incoming"  # next to the mirror, not in it: a half-written file is never taken for an object


class BucketMirror:
    def __init__(self, out: Path) -> None:
        self.root = out / MIRROR
        self._incoming = out / INCOMING
        self._held: dict[str, str] = {}  # key -> ETag of the object the mirror's file holds

    def files(self) -> Iterator[tuple[str, Path]]:
        """Every mirrored object as (key, file)."""
        if self.root.is_dir():
            for path in self.root.rglob("*"):
                if path.is_file():
                    yield path.relative_to(self.root).as_posix(), path

    # ---- what earlier runs left ----

    def run_ids(self) -> list[str]:
        """Every run the mirrored bucket knows (``runs/index/``)."""
        paths = (self.root / INDEX_PREFIX).glob("*.json")
        return [path.stem for path in paths if not path.name.endswith(UNDONE_SUFFIX)]

    def has_run(self, run_id: str) -> bool:
        return (self.root / index_key(run_id)).is_file()

    def finished_undo_of(self, run_id: str) -> str | None:
        """The id of the applied undo of ``run_id`` that finished, if any: the marker its report wrote, which the
        engine's Begin also refuses a second undo by (``runs/index/<run>.undone.json``)."""
        marker = self.root / undone_key(run_id)
        if not marker.is_file():
            return None
        return str(json.loads(marker.read_bytes()).get("undone_by", "an earlier undo"))

    # ---- keeping it current ----

    def restore(self, s3: Any, bucket: str) -> None:
        """Put every mirrored object into the (empty) bucket of a run about to start."""
        shutil.rmtree(self._incoming, ignore_errors=True)  # what a killed sync was writing
        for key, path in self.files():
            reply = s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
            self._held[key] = reply["ETag"]

    def sync(self, s3: Any, bucket: str) -> None:
        """Make the mirror what the bucket holds now."""
        listed: dict[str, str] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                listed[item["Key"]] = item["ETag"]
        for key, etag in listed.items():
            if self._held.get(key) != etag:
                try:
                    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                except s3.exceptions.NoSuchKey:  # deleted since the listing (a batch's marker): gone next time
                    continue
                self._write(key, body)
                self._held[key] = etag
        for key in self._held.keys() - listed.keys():
            (self.root / key).unlink(missing_ok=True)
            del self._held[key]
        shutil.rmtree(self._incoming, ignore_errors=True)

    def _write(self, key: str, body: bytes) -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        self._incoming.mkdir(parents=True, exist_ok=True)
        partial = self._incoming / "object"  # one at a time: syncs run on the CLI's main thread only
        partial.write_bytes(body)
        os.replace(partial, target)
