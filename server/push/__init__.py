"""Web Push reminders: VAPID keys, reminder times, the scheduler and delivery."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from server.catalog.model import Catalog
from server.clock import Clock
from server.db.connection import Database
from server.push.keys import VapidKeys, load_or_create
from server.push.message import Payload, payload_for
from server.push.scheduler import Report, Scheduler
from server.settings import Settings

__all__ = ["Payload", "Report", "Scheduler", "VapidKeys", "load_or_create", "payload_for", "running"]


@asynccontextmanager
async def running(settings: Settings, db: Database, catalog: Catalog, clock: Clock) -> AsyncIterator[Scheduler]:
    """The app's push machinery for the lifespan: keys loaded (made on first start), the loop
    started when ``settings.scheduler`` is on, and everything stopped cleanly at the end."""
    keys = load_or_create(settings.data_dir)
    scheduler = Scheduler(db, catalog, settings, keys)
    if settings.scheduler:
        scheduler.start(clock, settings.scheduler_interval_seconds)
    try:
        yield scheduler
    finally:
        await scheduler.stop()
