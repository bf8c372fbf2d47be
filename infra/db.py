"""Database wiring: one tortoise app ("credit") for SQLite and PostgreSQL alike, with tortoise's
built-in migrations applied at start-up (the same migration files on both backends).

Which model modules and migrations make up the schema is the composition root's to say
(`server.schema`): this layer knows no domain."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from tortoise import Model, Tortoise, connections
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


DEFAULT_CONNECTION = "default"


def tortoise_config(
    database_url: str, schema: Schema, statement_timeout: float | None = None
) -> dict[str, Any]:
    return {
        "connections": {DEFAULT_CONNECTION: connection_config(database_url, statement_timeout)},
        "apps": {
            APP_LABEL: {
                "models": list(schema.models),
                "migrations": schema.migrations,
                "default_connection": DEFAULT_CONNECTION,
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


ModelT = TypeVar("ModelT", bound=Model)
_NUMBERED = re.compile(r"\$(\d+)")


async def fetch_rows(sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """One hand-written SELECT (`$1`-style parameters, also on SQLite), on the connection the
    ORM would use here (a transaction's inside one). For the few reads on hot and cold paths
    where building the query cost more than running it (pypika: ~0.5 ms of CPU per query)."""
    connection = connections.get(DEFAULT_CONNECTION)
    values = list(params)
    if connection.capabilities.dialect == "sqlite":
        sql = _NUMBERED.sub(r"?\1", sql)
        # as tortoise stores them there (datetimes are not supported here: none is needed yet)
        values = [v.isoformat() if type(v) is date else v for v in values]
    return await connection.execute_query_dict(sql, values)


async def fetch_models(model: type[ModelT], sql: str, params: Sequence[Any] = ()) -> list[ModelT]:
    """`fetch_rows` of the model's columns, made into models the way tortoise's own executor
    makes them."""
    return [model._init_from_db(**row) for row in await fetch_rows(sql, params)]
