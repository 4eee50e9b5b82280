"""The Lambda handlers in functions/, each invoked as Lambda invokes it (an event and a context), with AWS on moto
(template.yaml deployed by ``OfflineApp``) and HubSpot served by the sandbox over HTTP.

Each test module deploys one stack (a module-scoped fixture in the module: one OfflineApp per process at a time)
and drives the handlers itself, step by step, instead of through the state machine (tests/statemachine does that).
"""

from __future__ import annotations
