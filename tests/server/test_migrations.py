"""The same built-in tortoise migrations build the schema on SQLite and on PostgreSQL."""

from __future__ import annotations

from tortoise import connections
from tortoise.context import TortoiseContext
from tortoise.migrations.api.migrate import migrate

from infra.db import tortoise_config
from server.schema import SCHEMA

EXPECTED_TABLES = {
    "subject", "record", "app_user", "consent", "identity_binding", "session", "audit_entry",
    "tortoise_migrations",
}  # fmt: skip


async def table_names() -> set[str]:
    conn = connections.get("default")
    if conn.capabilities.dialect == "sqlite":
        rows = await conn.execute_query_dict("SELECT name FROM sqlite_master WHERE type='table'")
    else:
        rows = await conn.execute_query_dict(
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema='public'"
        )
    return {row["name"] for row in rows}


async def test_migrations_build_every_table(runtime):
    assert EXPECTED_TABLES <= await table_names()
    conn = connections.get("default")
    applied = await conn.execute_query_dict("SELECT app, name FROM tortoise_migrations")
    assert {"app": "credit", "name": "0001_initial"} in [dict(r) for r in applied]


async def test_applying_again_changes_nothing(runtime, settings):
    conn = connections.get("default")
    before = await conn.execute_query_dict("SELECT app, name FROM tortoise_migrations")
    async with TortoiseContext():  # its own connection, closed on the way out
        await migrate(config=tortoise_config(settings.database_url, SCHEMA))
    after = await conn.execute_query_dict("SELECT app, name FROM tortoise_migrations")
    assert len(after) == len(before)


async def test_unique_constraints_hold_the_identity_rules(runtime):
    """One person per user and one user per person rest on the schema, not only on code."""
    conn = connections.get("default")
    if conn.capabilities.dialect == "sqlite":
        rows = await conn.execute_query_dict(
            "SELECT sql FROM sqlite_master WHERE name='identity_binding'"
        )
        ddl = rows[0]["sql"]
        assert '"user_id" BIGINT NOT NULL UNIQUE' in ddl
        assert '"subject_id" BIGINT NOT NULL UNIQUE' in ddl
    else:
        rows = await conn.execute_query_dict(
            "SELECT indexdef FROM pg_indexes WHERE tablename='identity_binding'"
        )
        defs = " ".join(r["indexdef"] for r in rows)
        assert "UNIQUE" in defs and "user_id" in defs and "subject_id" in defs
