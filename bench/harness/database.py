"""The bench's PostgreSQL databases: a fresh one per run, migrated by the service itself."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from bench.harness import project
from bench.harness.processes import PYTHON, ROOT, say

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
SERVICE_DSN = "postgres://postgres@127.0.0.1:5432/{name}"
MIGRATE_COMMAND = " ".join(("python", *project.MIGRATE))


async def admin(sql: str, dsn: str = ADMIN_DSN) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@dataclass
class Database:
    """Dropped at the end of the run unless kept (--keep-db after a complete load, --reuse-db)."""

    name: str
    created: bool
    keep: bool = False

    @classmethod
    async def create(cls, name: str) -> Database:
        say(f"creating database {name}")
        await admin(f'CREATE DATABASE "{name}"')
        return cls(name, created=True)

    @property
    def dsn(self) -> str:
        """As the service is given it."""
        return SERVICE_DSN.format(name=self.name)

    @property
    def pg_dsn(self) -> str:
        """As asyncpg takes it."""
        return self.dsn.replace("postgres://", "postgresql://", 1)

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[asyncpg.Connection]:
        conn = await asyncpg.connect(self.pg_dsn)
        try:
            yield conn
        finally:
            await conn.close()

    async def write_meta(self, meta: dict[str, Any]) -> None:
        """What a later --reuse-db needs to know of this database (its keys, its size)."""
        async with self.connect() as conn:
            await conn.execute("CREATE TABLE bench_meta (k text PRIMARY KEY, v text NOT NULL)")
            await conn.executemany(
                "INSERT INTO bench_meta VALUES ($1, $2)",
                [(k, json.dumps(v)) for k, v in meta.items()],
            )

    async def read_meta(self) -> dict[str, Any]:
        async with self.connect() as conn:
            rows = await conn.fetch("SELECT k, v FROM bench_meta")
        return {row["k"]: json.loads(row["v"]) for row in rows}

    async def release(self) -> None:
        if self.created and not self.keep:  # a half-loaded database is never kept
            with contextlib.suppress(Exception):
                await admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        if self.keep:
            say(f"\ndatabase kept: {self.name} (rerun with --reuse-db {self.name})")


async def run_migrations(env: dict[str, str], log_dir: Path) -> None:
    log_path = log_dir / "migrate.log"
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            PYTHON, *project.MIGRATE, cwd=ROOT, env=env, stdout=log, stderr=log
        )
        try:
            code = await asyncio.wait_for(proc.wait(), 300)
        except TimeoutError:
            proc.kill()
            raise
    if code != 0:
        raise RuntimeError(f"migrations failed ({code}):\n{log_path.read_text()[-3000:]}")
