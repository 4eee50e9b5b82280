"""Fix jobs: forward and backward moves in jobs of full batches; only the remainders, when they fit one batch
together, share a mixed job."""

import pytest

from lifecycle_guard.jobs import JobId, JobSink, PlannedChange
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.stages import StageCatalog

OPTIONS = [
    {"value": value, "label": value.title(), "displayOrder": index}
    for index, value in enumerate(["subscriber", "lead", "opportunity", "customer", "evangelist", "other"])
]
CATALOGS = {t: StageCatalog.from_property(t, {"options": OPTIONS}) for t in ObjectType}


def forward(n: int, object_type: ObjectType = ObjectType.CONTACTS) -> list[PlannedChange]:
    return [PlannedChange(object_type, f"f{i}", "subscriber", "lead", "subscriber") for i in range(n)]


def backward(n: int, object_type: ObjectType = ObjectType.CONTACTS) -> list[PlannedChange]:
    return [PlannedChange(object_type, f"b{i}", "other", "lead", "other") for i in range(n)]


def jobs_of(changes: list[PlannedChange], job_size: int = 40, batch_size: int = 10) -> dict[str, list[str]]:
    stored: dict[str, list[str]] = {}
    sink = JobSink(
        CATALOGS, job_size, batch_size, lambda job_id, c: stored.update({str(job_id): [x.object_id for x in c]})
    )
    for change in changes:
        sink.add(change)
    sink.flush()
    return stored


def test_remainders_that_fit_one_batch_together_share_a_mixed_job():
    # GIVEN 47 forward and 22 backward contact moves, batches of 10, jobs of 40
    jobs = jobs_of(forward(47) + backward(22))
    # THEN full jobs and full batches keep their kind; the last 7 forward and 2 backward moves share one job
    assert {job_id: len(ids) for job_id, ids in jobs.items()} == {
        "000000-contacts-forward": 40,
        "000001-contacts-backward": 20,
        "000002-contacts-mixed": 9,
    }
    assert jobs["000002-contacts-mixed"] == [f"f{i}" for i in range(40, 47)] + ["b20", "b21"]


def test_remainders_too_big_for_one_batch_stay_apart():
    # GIVEN remainders of 7 forward and 4 backward moves (11 > a batch of 10)
    jobs = jobs_of(forward(7) + backward(4))
    # THEN mixing would cost two part-filled batches: they stay in their own jobs
    assert {job_id: len(ids) for job_id, ids in jobs.items()} == {
        "000000-contacts-forward": 7,
        "000001-contacts-backward": 4,
    }


def test_object_types_never_share_a_job_and_every_change_is_stored_once():
    changes = forward(13, ObjectType.COMPANIES) + backward(3, ObjectType.COMPANIES) + forward(5) + backward(30)
    jobs = jobs_of(changes)
    assert sorted(job_id.split("-", 1)[1] for job_id in jobs) == [
        "companies-forward",
        "companies-mixed",
        "contacts-backward",
        "contacts-forward",
    ]
    assert sum(len(ids) for ids in jobs.values()) == len(changes)
    assert jobs["000001-companies-mixed"] == ["f10", "f11", "f12", "b0", "b1", "b2"]


def test_a_job_id_says_its_sequence_object_type_and_kind():
    job_id = JobId.parse("000012-contacts-backward")
    assert (job_id.sequence, job_id.object_type, job_id.kind) == (12, ObjectType.CONTACTS, "backward")
    assert str(job_id) == "000012-contacts-backward"
    assert sorted([JobId.parse("000010-contacts-forward"), JobId.parse("000002-companies-mixed")])[0].sequence == 2
    for not_a_job in ("undo-000001-contacts-forward-contacts", "12-contacts-forward", "000001-deals-forward"):
        with pytest.raises(ValueError, match="fix job id"):
            JobId.parse(not_a_job)
