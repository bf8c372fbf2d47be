"""The audit drainer process Sanic's manager runs beside the HTTP workers, so the workers never
spend request time on the chained table (infra.audit holds the drain itself)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal

from infra.audit import PROCESS_DRAIN_BATCH, drain, run_drainer
from infra.cache import Keys, make_redis
from infra.db import close_database, open_database
from infra.settings import Settings
from server.schema import SCHEMA
from server.supervisor import exit_with_manager

log = logging.getLogger(__name__)


def run_drainer_process(settings: Settings) -> None:
    exit_with_manager()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_drainer_main(settings))


async def _drainer_main(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):  # the manager stops its processes by SIGINT
        loop.add_signal_handler(signum, stop.set)
    await open_database(
        settings.database_url,
        SCHEMA,
        apply_migrations=False,
        statement_timeout=settings.database_statement_timeout_seconds,
    )
    redis = make_redis(settings.redis_url, timeout=settings.redis_timeout_seconds)
    keys = Keys(settings.redis_prefix)
    log.info("audit drainer process started (pid %s)", os.getpid())
    try:
        await run_drainer(redis, keys, stop, batch=PROCESS_DRAIN_BATCH)
        # What the workers appended while stopping.
        await drain(redis, keys, batch=PROCESS_DRAIN_BATCH, wait=5.0)
    finally:
        await redis.aclose()
        await close_database()
