"""The bucket mirror: a sync writes what changed and deletes what the bucket no longer holds; a restore puts it all
back, and never a half-written file."""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lifecycle_guard_offline.bucket_mirror import INCOMING, BucketMirror

BUCKET = "runs"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def keys(s3: Any) -> dict[str, bytes]:
    listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {item["Key"]: s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read() for item in listed}


def test_a_sync_mirrors_new_and_changed_objects_and_drops_deleted_ones(tmp_path, s3):
    mirror = BucketMirror(tmp_path)
    s3.put_object(Bucket=BUCKET, Key="runs/index/r1.json", Body=b"{}")
    s3.put_object(Bucket=BUCKET, Key="work/pending/r1/000-0000.json", Body=b"marker")
    mirror.sync(s3, BUCKET)
    assert dict(mirror.files()).keys() == {"runs/index/r1.json", "work/pending/r1/000-0000.json"}
    # the batch finished: its marker is deleted, its journal segment written, the index rewritten
    s3.delete_object(Bucket=BUCKET, Key="work/pending/r1/000-0000.json")
    s3.put_object(Bucket=BUCKET, Key="runs/2026/11/25/r1/journal/000-0000.jsonl", Body=b'{"a": 1}\n')
    s3.put_object(Bucket=BUCKET, Key="runs/index/r1.json", Body=b'{"prefix": "runs/2026/11/25/r1/"}')
    mirror.sync(s3, BUCKET)
    files = {key: path.read_bytes() for key, path in mirror.files()}
    assert files == keys(s3)
    assert not (tmp_path / INCOMING).exists()


def test_a_restore_puts_every_mirrored_object_back_but_not_what_a_killed_sync_was_writing(tmp_path, s3):
    (tmp_path / ".bucket" / "runs" / "index").mkdir(parents=True)
    (tmp_path / ".bucket" / "runs" / "index" / "r1.json").write_bytes(b"{}")
    (tmp_path / INCOMING).mkdir()
    (tmp_path / INCOMING / "object").write_bytes(b"half an obj")
    mirror = BucketMirror(tmp_path)
    mirror.restore(s3, BUCKET)
    assert keys(s3) == {"runs/index/r1.json": b"{}"}
    assert not (tmp_path / INCOMING).exists()
    # what was restored is not written again, and is dropped from the mirror when the run deletes it
    s3.delete_object(Bucket=BUCKET, Key="runs/index/r1.json")
    mirror.sync(s3, BUCKET)
    assert list(mirror.files()) == []


def test_an_object_deleted_between_the_listing_and_its_read_is_skipped(tmp_path, s3):
    mirror = BucketMirror(tmp_path)
    s3.put_object(Bucket=BUCKET, Key="work/pending/r1/000-0000.json", Body=b"marker")
    s3.put_object(Bucket=BUCKET, Key="runs/index/r1.json", Body=b"{}")
    real_get = s3.get_object

    def get_after_the_batch_finished(**request: Any) -> Any:
        if request["Key"].startswith("work/pending/"):
            s3.delete_object(Bucket=BUCKET, Key=request["Key"])  # a fix worker, in the moment between
        return real_get(**request)

    s3.get_object = get_after_the_batch_finished
    mirror.sync(s3, BUCKET)
    assert [key for key, _ in mirror.files()] == ["runs/index/r1.json"]
