"""The real state machine (statemachine/lifecycle_guard.asl.json) executed by moto, its Lambda tasks running the
real handlers in-process (``OfflineApp``), against the HubSpot sandbox over real HTTP.

Each test module deploys one ``OfflineApp`` in front of one sandbox (module-scoped fixtures in the module: one
OfflineApp per process at a time, since moto and the Lambda dispatcher are process-global) and runs a few
executions on it; the modules silence Powertools' warning that a failing invocation published no metric. moto's
Wait and Retry really sleep and the domain paces search, so portals stay small, progress is polled every second
and the live prevention test waits one second (statemachine_helpers).
"""

from __future__ import annotations
