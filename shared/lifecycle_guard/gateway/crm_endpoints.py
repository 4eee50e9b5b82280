"""The CRM endpoints lifecycle-guard uses, through hubspot-api-client 12's generated clients.

- The SDK builds a new ApiClient (and connection pool) on every ``client.crm.objects.search_api`` access, so the
  API objects are created once here and reused, keeping connections alive.
- Responses are read with ``_preload_content=False`` and parsed as plain JSON: deserialising every record into
  SDK models (a dateutil parse per timestamp) would dominate CPU on a million-record portal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from hubspot.discovery.crm.discovery import Discovery as CrmDiscovery

from lifecycle_guard.crm import (
    ASSOCIATION_BATCH_SIZE,
    BATCH_SIZE,
    SEARCH_PAGE_SIZE,
    Association,
    NotFound,
    SearchFilter,
    SearchPage,
    WriteResult,
)
from lifecycle_guard.gateway.transport import REQUEST_TIMEOUT, Transport
from lifecycle_guard.objects import LIFECYCLE_STAGE, ObjectType, Record
from lifecycle_guard.stages import StageCatalog
from lifecycle_guard.usage import ApiUsage


def _records(reply: Mapping[str, Any]) -> list[Record]:
    return [Record(str(item["id"]), item.get("properties") or {}) for item in reply.get("results", [])]


class CrmEndpoints:
    """The ``Crm`` protocol over HTTP."""

    def __init__(self, transport: Transport, crm: CrmDiscovery) -> None:
        self._transport = transport
        self._search_api = crm.objects.search_api
        self._batch_api = crm.objects.batch_api
        self._basic_api = crm.objects.basic_api
        self._associations_api = crm.associations.v4.batch_api
        self._properties_api = crm.properties.core_api

    @property
    def usage(self) -> ApiUsage:
        return self._transport.usage

    def finishing(self) -> AbstractContextManager[None]:
        return self._transport.finishing()

    def check_daily_watermark(self) -> None:
        self._transport.check_daily_watermark()

    # ---------------- reads ----------------

    def stage_catalog(self, object_type: ObjectType) -> StageCatalog:
        body = self._sdk(
            f"GET /crm/v3/properties/{object_type.value}/{LIFECYCLE_STAGE}",
            self._properties_api.get_by_name,
            object_type.value,
            LIFECYCLE_STAGE,
        )
        return StageCatalog.from_property(object_type, body)

    def count(self, object_type: str, where: SearchFilter | None = None) -> int:
        body = {
            "filterGroups": [{"filters": group} for group in (where.search_groups() if where else [])],
            "properties": ["hs_object_id"],
            "limit": 1,
        }
        return int(self._search(object_type, body).get("total", 0))

    def search_after(
        self,
        object_type: str,
        where: SearchFilter | None,
        properties: Sequence[str],
        after_id: int,
        limit: int = SEARCH_PAGE_SIZE,
    ) -> SearchPage:
        beyond = {"propertyName": "hs_object_id", "operator": "GT", "value": str(after_id)}
        groups = [[*group, beyond] for group in (where.search_groups() if where else [])] or [[beyond]]
        body = {
            "filterGroups": [{"filters": group} for group in groups],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": list(properties),
            "limit": limit,
        }
        reply = self._search(object_type, body)
        records = _records(reply)
        has_more = bool((reply.get("paging") or {}).get("next")) and len(records) == limit
        return SearchPage(records=records, total=int(reply.get("total", 0)), has_more=has_more)

    def read(self, object_type: str, ids: Sequence[str], properties: Sequence[str]) -> dict[str, Record]:
        """Batch-read records by id, 100 per request."""
        found: dict[str, Record] = {}
        for start in range(0, len(ids), BATCH_SIZE):
            chunk = ids[start : start + BATCH_SIZE]
            body = {"inputs": [{"id": object_id} for object_id in chunk], "properties": list(properties)}
            reply = self._sdk(f"POST /crm/v3/objects/{object_type}/batch/read", self._batch_api.read, object_type, body)
            found.update((record.id, record) for record in _records(reply))
        return found

    def associations(self, from_type: str, to_type: str, ids: Sequence[str]) -> dict[str, dict[str, Association]]:
        """1000 inputs per request, following each record's own paging. Records without associations may come
        back as per-input errors of a 207, which carry nothing we need: they map to ``{}``."""
        linked: dict[str, dict[str, Association]] = {object_id: {} for object_id in ids}
        pending: list[dict[str, str]] = [{"id": object_id} for object_id in ids]
        while pending:
            chunk, pending = pending[:ASSOCIATION_BATCH_SIZE], pending[ASSOCIATION_BATCH_SIZE:]
            reply = self._sdk(
                f"POST /crm/v4/associations/{from_type}/{to_type}/batch/read",
                self._associations_api.get_page,
                from_type,
                to_type,
                {"inputs": chunk},
            )
            for item in reply.get("results", []):
                from_id = str(item["from"]["id"])
                _merge_targets(linked.setdefault(from_id, {}), item.get("to", []))
                after = ((item.get("paging") or {}).get("next") or {}).get("after")
                if after:
                    pending.append({"id": from_id, "after": str(after)})
        return linked

    def get(self, object_type: str, object_id: str, properties: Sequence[str]) -> Record | None:
        try:
            reply = self._sdk(
                f"GET /crm/v3/objects/{object_type}/{{id}}",
                self._basic_api.get_by_id,
                object_type,
                object_id,
                properties=list(properties),
            )
        except NotFound:
            return None
        return Record(str(reply["id"]), reply.get("properties") or {})

    # ---------------- writes ----------------

    def update(self, object_type: str, properties_by_id: Mapping[str, Mapping[str, str]]) -> WriteResult:
        """A 207's per-id errors come back in ``failed``."""
        if len(properties_by_id) > BATCH_SIZE:
            raise ValueError(f"a batch update takes at most {BATCH_SIZE} records")
        body = {"inputs": [{"id": i, "properties": dict(values)} for i, values in properties_by_id.items()]}
        reply = self._sdk(f"POST /crm/v3/objects/{object_type}/batch/update", self._batch_api.update, object_type, body)
        result = WriteResult(records={record.id: record for record in _records(reply)})
        for error in reply.get("errors", []):
            reason = f"{error.get('category') or 'ERROR'}: {error.get('message') or ''}".strip()
            for object_id in (error.get("context") or {}).get("ids", []):
                result.failed[str(object_id)] = reason
        return result

    def update_record(self, object_type: str, object_id: str, properties: Mapping[str, str]) -> Record | None:
        """``PATCH /crm/v3/objects/{type}/{id}``: absolute values, so retried like the batch update."""
        try:
            reply = self._sdk(
                f"PATCH /crm/v3/objects/{object_type}/{{id}}",
                self._basic_api.update,
                object_type,
                object_id,
                {"properties": dict(properties)},
            )
        except NotFound:
            return None
        return Record(str(reply["id"]), reply.get("properties") or {})

    def create(self, object_type: str, properties: Mapping[str, str], *, retry: bool = False) -> Record:
        """Not retried on 5xx unless ``retry`` (the caller can clean up a duplicate): unlike our updates, a
        repeated create is not idempotent."""
        reply = self._sdk(
            f"POST /crm/v3/objects/{object_type}",
            self._basic_api.create,
            object_type,
            {"properties": dict(properties), "associations": []},
            idempotent=retry,
        )
        return Record(str(reply["id"]), reply.get("properties") or {})

    def archive(self, object_type: str, object_id: str) -> None:
        try:
            self._sdk(f"DELETE /crm/v3/objects/{object_type}/{{id}}", self._basic_api.archive, object_type, object_id)
        except NotFound:
            return

    # ---------------- the SDK call ----------------

    def _search(self, object_type: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._sdk(
            f"POST /crm/v3/objects/{object_type}/search", self._search_api.do_search, object_type, body, search=True
        )

    def _sdk(
        self,
        endpoint: str,
        method: Callable[..., Any],
        *args: Any,
        search: bool = False,
        idempotent: bool = True,
        **kwargs: Any,
    ) -> dict[str, Any]:
        def call() -> tuple[int, Mapping[str, str], bytes]:
            response = method(*args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT, **kwargs)
            try:
                return response.status, response.headers, response.data
            finally:
                response.release_conn()

        return self._transport.send(endpoint, call, search=search, idempotent=idempotent)


def _merge_targets(targets: dict[str, Association], found: Sequence[Mapping[str, Any]]) -> None:
    """Add one page of a record's associations; a target listed on several pages keeps every type id."""
    for target in found:
        to_id = str(target["toObjectId"])
        type_ids = frozenset(int(kind["typeId"]) for kind in target.get("associationTypes", []))
        known = targets.get(to_id)
        targets[to_id] = Association(to_id, type_ids | known.type_ids if known else type_ids)
