"""Time a run spent waiting on something other than its own work, and why: the report lists it, so a slow run
says where its minutes went (HubSpot's limits, search catching up, workflows acting, the progress poll)."""

from __future__ import annotations

from pydantic import BaseModel


class Wait(BaseModel):
    phase: str
    seconds: float
    why: str
