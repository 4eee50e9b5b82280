"""Begin: validate the input, the config and the token against the portal (before any write), take the lock,
finish what a crashed run left, and audit the before state."""

from __future__ import annotations

import json

from lifecycle_guard.audit import audit
from lifecycle_guard.config import ConfigError, Mode, validate_for_portal
from lifecycle_guard.contracts import Begun, ExecutionInfo, RunContext, RunRef, RunRequest, UndoCursor
from lifecycle_guard.crm import MissingScopes
from lifecycle_guard.fixing import recover_pending
from lifecycle_guard.layout import RunLayout, index_key, undone_key
from lifecycle_guard.objects import ObjectType
from lifecycle_guard.overrides import resolve_config, tier_applies_to
from lifecycle_guard.planning import PlanCursor
from lifecycle_guard.runtime import Services

LOCK_TTL_SECONDS = 86_400  # the state machine's own timeout
READ_SCOPES = ("crm.objects.contacts.read", "crm.objects.companies.read", "crm.objects.deals.read")
WRITE_SCOPES = ("crm.objects.contacts.write", "crm.objects.companies.write")


class UnknownRunError(LookupError):
    """Undo asked for a run whose journal is not in the bucket."""


class AlreadyUndoneError(ValueError):
    """Undo asked for a run an earlier undo restored, without ``force``."""


def begin(request: RunRequest, execution: ExecutionInfo, services: Services) -> Begun:
    run_id = execution.name
    layout = RunLayout.for_run(run_id, execution.start_time)
    config, overrides = resolve_config(
        services.settings.deployed_json,
        request.config,
        services.budget_bounds(),
        allow_loosening=request.allow_loosening,
        tier_applies=tier_applies_to(services.settings.base_url),
    )
    undo_prefix = _undone_prefix(services, request) if request.action == "undo" else None
    apply = request.mode is Mode.APPLY
    with services.hubspot(run_id, config) as gateway:
        catalogs = {object_type: gateway.crm.stage_catalog(object_type) for object_type in ObjectType}
        validate_for_portal(config, catalogs)
        token = gateway.token.check()
        check_scopes(token.scopes, write=apply)
        services.tracker.acquire_lock(run_id, execution.id, LOCK_TTL_SECONDS, services.execution_running)
        services.tracker.start_run(run_id, layout.prefix)
        services.store.put(layout.index, json.dumps({"prefix": layout.prefix}).encode())
        if apply:
            recovered = recover_pending(services.store, gateway.crm, catalogs, config.fix, layout)
            services.tracker.add(run_id, {"recovered": recovered.applied})
        run = RunContext(
            run_id=run_id,
            action=request.action,
            mode=request.mode,
            source=request.source,
            started_at=execution.start_time,
            prefix=layout.prefix,
            config=config,
            stages={t: [(s.value, s.label) for s in catalog.stages] for t, catalog in catalogs.items()},
            before=audit(gateway.crm, catalogs),
            token_scopes_checked=token.scopes is not None,
            portal_id=token.portal_id,
            undo_run_id=request.undo_run_id,
            undo_prefix=undo_prefix,
            force=request.force,
            overrides=overrides,
        )
        services.store.put(layout.context, run.model_dump_json().encode())
    ref = RunRef(run_id=run_id, action=request.action, mode=request.mode)
    if request.action == "undo":
        return Begun(run=ref, undo=UndoCursor())
    return Begun(run=ref, plan=PlanCursor())


def check_scopes(scopes: frozenset[str] | None, *, write: bool) -> None:
    """Before any write: a token that cannot do the job is a clear error now, not a 403 half-way through."""
    if scopes is None:
        return  # HubSpot could not say (not a private-app token); a 403 later stops the run cleanly instead
    missing = [scope for scope in READ_SCOPES + (WRITE_SCOPES if write else ()) if scope not in scopes]
    if missing:
        raise MissingScopes(
            f"the HubSpot token lacks the scopes {', '.join(missing)}; nothing was written. Add them to the "
            "private app, or run in dry-run mode."
        )


def _undone_prefix(services: Services, request: RunRequest) -> str:
    """Where the run to undo keeps its journal; a run an undo has restored already is undone again only if forced
    (its journal's before-values would overwrite whatever happened since)."""
    undo_run_id = request.undo_run_id
    if not undo_run_id:
        raise ConfigError("an undo needs undo_run_id: the execution name of the run to undo")
    body = services.store.get(index_key(undo_run_id))
    if body is None:
        raise UnknownRunError(f"no run {undo_run_id!r} in the report bucket (is its journal expired?)")
    undone = services.store.get(undone_key(undo_run_id))
    if undone is not None and not request.force:
        by = json.loads(undone).get("undone_by", "an earlier undo")
        raise AlreadyUndoneError(f"run {undo_run_id!r} was undone already, by {by}; pass force to undo it again")
    return str(json.loads(body)["prefix"])
