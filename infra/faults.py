"""Parts that cannot be reached now (the cache, the database): which errors say so, and one log
line per outage instead of one per request.

A request that meets one of these answers 503 with Retry-After (server/app.py); the background
loops (the audit drainer) note it here too and try again on their next round."""

from __future__ import annotations

import logging
import sqlite3
import time
from types import TracebackType
from typing import Literal

import asyncpg
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ReadOnlyError, TryAgainError
from redis.exceptions import TimeoutError as RedisTimeoutError
from tortoise.exceptions import DBConnectionError

log = logging.getLogger(__name__)

Part = Literal["cache", "database"]
PART_NAMES: dict[Part, str] = {"cache": "Redis", "database": "the database"}

# Redis's: unreachable, frozen, and its answers that mean "not now": still loading its AOF after a
# restart (BusyLoadingError and MASTERDOWN are ConnectionErrors in redis-py), a replica during a
# failover (READONLY), full (OOM), a slot moving (TRYAGAIN).
_REDIS_UNAVAILABLE = (
    RedisConnectionError,
    RedisTimeoutError,
    ReadOnlyError,
    OutOfMemoryError,
    TryAgainError,
)
# PostgreSQL's answers that mean "not now" rather than "wrong query": connection exceptions
# (SQLSTATE class 08), insufficient resources (53: too many connections, out of memory or disk)
# and operator intervention (57: starting up / cannot connect now, shutting down, cancelled).
_PG_UNAVAILABLE = (
    asyncpg.PostgresConnectionError,
    asyncpg.InsufficientResourcesError,
    asyncpg.OperatorInterventionError,
)
# SQLite's: the file cannot be opened, another writer holds it, or the disk failed. Anything else
# it raises as OperationalError (no such table, a syntax error) is a bug, and stays a 500.
_SQLITE_UNAVAILABLE = (
    "unable to open database file",
    "database is locked",
    "disk i/o error",
    "database or disk is full",
)


def unavailable_part(exc: BaseException) -> Part | None:
    """The part `exc` says cannot be reached now, or None when it is some other error. Looks
    through the exceptions tortoise wraps (its OperationalError carries the driver's)."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, _REDIS_UNAVAILABLE):
            return "cache"
        if isinstance(current, (DBConnectionError, *_PG_UNAVAILABLE)):
            return "database"
        if isinstance(current, sqlite3.OperationalError) and any(
            message in str(current).lower() for message in _SQLITE_UNAVAILABLE
        ):
            return "database"
        if isinstance(current, OSError) and _raised_in(current.__traceback__, ("asyncpg",)):
            return "database"  # refused, unreachable host, connect timeout: asyncpg lets it out
        pending.extend(
            e
            for e in (current.__cause__, current.__context__, *current.args)
            if isinstance(e, BaseException)
        )
    return None


def _raised_in(traceback: TracebackType | None, packages: tuple[str, ...]) -> bool:
    while traceback is not None:
        module = str(traceback.tb_frame.f_globals.get("__name__", ""))
        if module.split(".", 1)[0] in packages:
            return True
        traceback = traceback.tb_next
    return False


class OutageLog:
    """Failures of a part that follow each other by less than `quiet` seconds are one outage:
    its first failure is logged (one line, no traceback), the rest are counted, and the next
    outage's line says how the previous one went. Per process: each worker logs its own."""

    def __init__(self, quiet: float = 30.0) -> None:
        self.quiet = quiet
        self._last: dict[Part, float] = {}
        self._since: dict[Part, float] = {}
        self._count: dict[Part, int] = {}

    def failed(self, part: Part, exc: BaseException, where: str) -> bool:
        """Note a failure; True when it opened a new outage (and was logged)."""
        now = time.monotonic()
        last = self._last.get(part)
        self._last[part] = now
        if last is not None and now - last <= self.quiet:
            self._count[part] = self._count.get(part, 0) + 1
            return False
        previous = ""
        if last is not None:
            previous = (
                f" (the previous outage: {self._count.get(part, 1)} failures"
                f" over {last - self._since[part]:.0f} s)"
            )
        self._since[part] = now
        self._count[part] = 1
        log.error(
            "%s unavailable (%s: %s) at %s; answering 503 until it returns, further failures"
            " of this outage are not logged%s",
            PART_NAMES[part],
            type(exc).__name__,
            str(exc)[:200],
            where,
            previous,
        )
        return True


OUTAGES = OutageLog()
