"""What the domain needs from HubSpot, as protocols: the CRM (records, search, associations, writes) and the
automation flows. ``gateway`` implements both over HTTP; tests also use an in-memory CRM.

HubSpot's errors are part of the contract: every implementation raises these, so planning, fixing and
verification handle a 403 or a daily limit the same way whatever answers them.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from lifecycle_guard.objects import ObjectType, Record
from lifecycle_guard.sources import StageValue
from lifecycle_guard.stages import StageCatalog

SEARCH_PAGE_SIZE = 200  # HubSpot's search limit per page
BATCH_SIZE = 100  # batch read/update/create inputs
ASSOCIATION_BATCH_SIZE = 1000  # v4 association batch read inputs
# Batch read inputs when property history is asked for. The spec names no number; HubSpot refuses more with "The
# maximum number of inputs supported in a batch request for property histories is 50" (quoted in
# https://github.com/PipedreamHQ/pipedream/pull/8462; the sandbox enforces the same).
HISTORY_BATCH_SIZE = 50


class HubSpotError(Exception):
    """HubSpot answered with an error we cannot retry away; ``status`` and ``category`` say which, and
    ``hubspot_message`` is HubSpot's own ``message`` (the exception's text adds the endpoint and status)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        category: str | None = None,
        hubspot_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.hubspot_message = hubspot_message


class AuthenticationFailed(HubSpotError):
    """401: the token is wrong, expired or revoked."""


class MissingScopes(HubSpotError):
    """403: the token lacks a scope, or the portal lacks the entitlement (HubSpot says MISSING_SCOPES for both)."""


class NotFound(HubSpotError):
    """404."""


class RequestRejected(HubSpotError):
    """Another 4xx, e.g. 400 VALIDATION_ERROR: our request is wrong for this portal. On a batch write it rejects the
    whole batch, even when only one input is at fault (``rejections`` finds which)."""


class HubSpotUnavailable(HubSpotError):
    """5xx, network errors or throttling persisted through every attempt; the step may be retried later."""


class DailyLimitReached(HubSpotError):
    """HubSpot's daily limit (or our watermark below it) is reached: stop cleanly and report, do not retry."""


# HubSpot refused the request itself (not the token, not for now): sent again unchanged, it is refused again.
REFUSALS: tuple[type[HubSpotError], ...] = (RequestRejected, NotFound)
# After these no write can succeed until someone acts (a token fixed) or the day ends.
WRITING_BLOCKED: tuple[type[HubSpotError], ...] = (AuthenticationFailed, MissingScopes, DailyLimitReached)


@dataclass(frozen=True, slots=True)
class Association:
    to_id: str
    type_ids: frozenset[int]


@dataclass
class WriteResult:
    """A batch write's outcome: the records HubSpot returned and per-id failures (``"<CATEGORY>: message"``)."""

    records: dict[str, Record] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchPage:
    records: list[Record]
    total: int
    has_more: bool


class SearchFilter(Protocol):
    """A search condition: HubSpot's filter groups (ORed groups of ANDed filters), and the same condition read
    locally, to confirm what search returned against what a record really holds."""

    def search_groups(self) -> list[list[dict[str, Any]]]: ...

    def matches(self, properties: Mapping[str, str | None]) -> bool: ...


class Crm(Protocol):
    """The CRM calls planning, fixing, verification and undo make (paced, retried and counted by the gateway)."""

    def stage_catalog(self, object_type: ObjectType) -> StageCatalog: ...

    def count(self, object_type: str, where: SearchFilter | None = None) -> int:
        """Records matching ``where`` (all of them if None), from one search's ``total``."""
        ...

    def search_after(
        self,
        object_type: str,
        where: SearchFilter | None,
        properties: Sequence[str],
        after_id: int,
        limit: int = SEARCH_PAGE_SIZE,
    ) -> SearchPage:
        """One keyset page: records matching ``where`` with ``hs_object_id > after_id``, by id ascending."""
        ...

    def read(self, object_type: str, ids: Sequence[str], properties: Sequence[str]) -> dict[str, Record]:
        """Records by id; ids HubSpot does not know are absent from the result."""
        ...

    def associations(self, from_type: str, to_type: str, ids: Sequence[str]) -> dict[str, dict[str, Association]]:
        """``{from_id: {to_id: Association}}``, every id of ``ids`` present (``{}`` when it has none)."""
        ...

    def stage_history(self, object_type: str, ids: Sequence[str]) -> dict[str, list[StageValue]]:
        """Each record's ``lifecyclestage`` history, newest first (``HISTORY_BATCH_SIZE`` records a request); ids
        HubSpot does not know are absent."""
        ...

    def get(self, object_type: str, object_id: str, properties: Sequence[str]) -> Record | None: ...

    def update(self, object_type: str, properties_by_id: Mapping[str, Mapping[str, str]]) -> WriteResult:
        """One batch update of at most ``BATCH_SIZE`` records; per-id errors in ``failed``."""
        ...

    def update_record(self, object_type: str, object_id: str, properties: Mapping[str, str]) -> Record | None:
        """One record's update (not a batch: the live test's probes, never fixes); None if it does not exist."""
        ...

    def create(self, object_type: str, properties: Mapping[str, str], *, retry: bool = False) -> Record: ...

    def archive(self, object_type: str, object_id: str) -> None: ...

    def finishing(self) -> AbstractContextManager[None]:
        """Requests inside finish work already begun: they go out even below the daily watermark."""
        ...

    def check_daily_watermark(self) -> None:
        """Raise DailyLimitReached if HubSpot last reported fewer daily requests left than the watermark."""
        ...


class Flows(Protocol):
    """HubSpot's Automation v4 flows (workflows)."""

    def list_flows(self) -> list[dict[str, Any]]: ...

    def get_flow(self, flow_id: str) -> dict[str, Any]: ...

    def create_flow(self, flow: Mapping[str, Any]) -> dict[str, Any]: ...

    def replace_flow(self, flow_id: str, flow: Mapping[str, Any]) -> dict[str, Any]: ...


def iter_pages(
    crm: Crm, object_type: str, where: SearchFilter | None, properties: Sequence[str], after_id: int = 0
) -> Generator[list[Record]]:
    """Every matching record, a keyset page at a time, stable while the records change under us.

    Keyset paging instead of ``after`` offsets: offsets skip records when the pages we already read are fixed
    (they leave the result set and everything slides up), and offsets stop at HubSpot's 10,000-result cap.
    """
    while True:
        page = crm.search_after(object_type, where, properties, after_id)
        if page.records:
            yield page.records
            after_id = int(page.records[-1].id)
        if not page.has_more:
            return
