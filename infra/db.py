"""Database wiring: one tortoise app ("credit") for SQLite and PostgreSQL alike, with tortoise's
built-in migrations applied at start-up (the same migration files on both backends).

Which model modules and migrations make up the schema is the composition root's to say
(`server.schema`): this layer knows no domain."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.migrations.api.migrate import migrate

from infra.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

APP_LABEL = "credit"


@dataclass(frozen=True)
class Schema:
    """The modules tortoise loads models from, and where the migrations of them live."""

    models: tuple[str, ...]
    migrations: str


def resolve_database_url(url: str) -> str:
    """A relative SQLite path is taken from the project root, so the working directory never
    decides which database file is used."""
    if url.startswith("sqlite://") and not url.startswith("sqlite:///"):
        rest = url.removeprefix("sqlite://")
        if rest != ":memory:":
            path = PROJECT_ROOT / rest
            path.parent.mkdir(parents=True, exist_ok=True)
            return f"sqlite://{path}"
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite://").split("?")[0]).parent.mkdir(parents=True, exist_ok=True)
    return url


# Seconds asyncpg may take to open a connection (asyncpg's own default is 60): a PostgreSQL that
# accepts but does not answer (frozen, overloaded) then costs a request this long and a 503.
# A URL's `?timeout=` overrides it.
CONNECT_TIMEOUT = 5.0


async def _keep_session(connection: Any) -> None:
    """asyncpg's pool `reset`: nothing to undo. The service sets no session state (no SET,
    LISTEN, advisory locks or cursors), and asyncpg still rolls back a transaction left open
    before calling this; skipping the default reset query saves a round trip per release."""


def connection_config(
    database_url: str, statement_timeout: float | None = None
) -> str | dict[str, Any]:
    """`statement_timeout` (seconds, PostgreSQL only): the server cancels a longer statement
    (SQLSTATE 57014, which infra.faults answers with 503)."""
    url = resolve_database_url(database_url)
    if url.startswith("sqlite://"):
        sqlite = expand_db_url(url)
        sqlite["engine"] = "infra.sqlite_engine"  # releases its lock when opening fails
        return sqlite
    if not url.startswith(("postgres://", "postgresql://", "asyncpg://")):
        return url
    connection = expand_db_url(url)
    connection["credentials"]["reset"] = _keep_session
    connection["credentials"].setdefault("timeout", CONNECT_TIMEOUT)
    if statement_timeout:
        server_settings = connection["credentials"].setdefault("server_settings", {})
        server_settings["statement_timeout"] = str(round(statement_timeout * 1000))  # ms
    return connection


def tortoise_config(
    database_url: str, schema: Schema, statement_timeout: float | None = None
) -> dict[str, Any]:
    return {
        "connections": {"default": connection_config(database_url, statement_timeout)},
        "apps": {
            APP_LABEL: {
                "models": list(schema.models),
                "migrations": schema.migrations,
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def open_database(
    database_url: str,
    schema: Schema,
    *,
    apply_migrations: bool = True,
    statement_timeout: float | None = None,
) -> None:
    if apply_migrations:  # an index built on a large table may take longer than a request may
        await migrate(config=tortoise_config(database_url, schema))
    config = tortoise_config(database_url, schema, statement_timeout)
    await Tortoise.init(config=config, _enable_global_fallback=True)


CLOSE_TIMEOUT_SECONDS = 5.0


async def close_database() -> None:
    """Bounded: a worker stopping because its manager died (kill -9) found aiosqlite's thread
    already gone and waited forever for it to confirm the close, so the process never exited."""
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
            await Tortoise.close_connections()
    except TimeoutError:
        log.warning(
            "the database connections did not close within %.0f s; leaving them",
            CLOSE_TIMEOUT_SECONDS,
        )
