"""The demo's live world: CI traffic and the colleagues, side by side, until cancelled."""

from __future__ import annotations

import asyncio

from ..engine import Engine, Principal
from .colleagues import Colleagues
from .config import GATED
from .traffic import TrafficGenerator


async def simulate_demo(engine: Engine, me: Principal | None = None) -> None:
    """Simulated CI traffic (which promotes no further than the gated environments) and
    colleagues acting through the engine's governance, until cancelled.

    Args:
        engine: the demo's engine.
        me: the person trying the demo (an approver), when the dashboard runs embedded:
            production promotions are left for them to approve.
    """
    async with asyncio.TaskGroup() as group:
        group.create_task(TrafficGenerator(engine, gated=GATED).run())
        group.create_task(Colleagues(engine, me=me).run())


__all__ = ["simulate_demo"]
