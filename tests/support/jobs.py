"""Picking a fix job to sabotage by its id, which ends with the object type and the kind of moves it holds
(``planning.JobSink``: forward, backward, or mixed)."""

from __future__ import annotations

from collections.abc import Callable


def is_contacts_backward(job_id: str) -> bool:
    """A job of backward contact moves only (clear, then set)."""
    return job_id.endswith("-contacts-backward")


def first_job_of(is_wanted: Callable[[str], bool]) -> Callable[[str], bool]:
    """A predicate true for one job only: the first job id it is asked about that ``is_wanted`` accepts.
    Job ids repeat across runs of the same plan, so it picks the same job in every run."""
    chosen: list[str] = []

    def is_it(job_id: str) -> bool:
        if not chosen and is_wanted(job_id):
            chosen.append(job_id)
        return bool(chosen) and job_id == chosen[0]

    return is_it
