"""The application factory's start-up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from datetime import date

import pytest

from credit import workdays
from infra import faults
from server import app as server_app
from tests.helpers import free_port


async def start_and_stop(runtime) -> None:
    """The app's before-start and after-stop listeners (Sanic rewrites its methods once per
    process, so a second app cannot run a whole ASGI start-up beside the suite's)."""
    application = server_app.create_app(runtime=runtime)
    await server_app._start(application)
    await server_app._stop(application)


async def test_start_up_warns_while_this_or_next_year_is_estimated(runtime, monkeypatch, caplog):
    # chinesecalendar knows 2026; on 1 March 2027 neither 2027 nor 2028 is announced.
    monkeypatch.setattr(workdays, "today", lambda: date(2027, 3, 1))
    caplog.set_level(logging.WARNING, logger="credit.workdays")
    await start_and_stop(runtime)
    warnings = [r for r in caplog.records if r.name == "credit.workdays"]
    assert [r.levelno for r in warnings] == [logging.WARNING, logging.WARNING]
    assert "working days of 2027 are estimated" in warnings[0].getMessage()
    assert "working days of 2028 are estimated" in warnings[1].getMessage()


async def test_no_warning_at_start_up_while_both_years_are_announced(runtime, monkeypatch, caplog):
    monkeypatch.setattr(workdays, "today", lambda: date(2025, 6, 1))
    caplog.set_level(logging.WARNING, logger="credit.workdays")
    await start_and_stop(runtime)
    assert not [r for r in caplog.records if r.name == "credit.workdays"]


# A database that cannot be reached now: 503 with Retry-After, one log line per outage.

BACKEND = os.environ.get("TEST_BACKEND", "embedded")
PG_ADMIN_DSN = os.environ.get("TEST_PG_DSN", "postgres://postgres@127.0.0.1:5432/test")


@contextlib.asynccontextmanager
async def database_at(url: str, statement_timeout: float | None = None):
    """The app's default connection replaced, for this task, by a real client of the same kind
    that points at `url` (a closed port, a refusing server, an unreachable file)."""
    from tortoise import connections

    from infra.db import connection_config

    current = connections.get("default")
    config = connection_config(url, statement_timeout)  # what the service configures
    assert isinstance(config, dict)
    credentials = config["credentials"]
    broken = type(current)(**credentials, connection_name="default")
    token = connections.set("default", broken)
    try:
        yield
    finally:
        connections.reset(token)
        with contextlib.suppress(Exception):
            await broken.close()


def unreachable_database_url(tmp_path) -> str:
    if BACKEND == "embedded":
        return f"sqlite://{tmp_path}"  # a directory: SQLite cannot open it
    return f"postgres://postgres@127.0.0.1:{free_port()}/nothing"  # connection refused


async def answers_while_down(client, headers) -> list:
    answers = [await client.get("/api/v1/me", headers=headers) for _ in range(3)]
    answers.append(await client.post("/api/v1/auth/wechat-login", json={"code": "demo-new-one"}))
    answers.append(await client.get("/api/v1/me/credit/queries", headers=headers))
    return answers


def assert_503s(answers) -> None:
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert answer.headers["retry-after"] == "5"


async def test_a_database_that_cannot_be_reached_is_503_and_one_log_line(
    client, login, caplog, monkeypatch, tmp_path
):
    headers = await login("demo-citizen")
    monkeypatch.setattr(faults.OUTAGES, "_last", {})  # no outage of an earlier test open
    caplog.set_level(logging.INFO)
    async with database_at(unreachable_database_url(tmp_path)):
        answers = await answers_while_down(client, headers)
    assert_503s(answers)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]  # one per outage, not per request
    assert errors[0].name == "infra.faults" and errors[0].exc_info is None
    assert "the database unavailable" in errors[0].getMessage()
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 200  # back at once


@pytest.mark.skipif(BACKEND != "postgres", reason="a PostgreSQL answer")
async def test_too_many_connections_is_503(client, login, monkeypatch):
    import asyncpg

    headers = await login("demo-citizen")
    monkeypatch.setattr(faults.OUTAGES, "_last", {})
    role = f"alxa_full_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN_DSN.replace("postgres://", "postgresql://", 1))
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0')
        host_db = PG_ADMIN_DSN.split("@", 1)[1]
        async with database_at(f"postgres://{role}@{host_db}"):
            answers = await answers_while_down(client, headers)
    finally:
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()
    assert_503s(answers)


async def _starting_up_postgres(reader, writer) -> None:
    """Answers as a PostgreSQL that is starting up does: SSL refused, then FATAL 57P03."""
    length = int.from_bytes(await reader.readexactly(4), "big")
    body = await reader.readexactly(length - 4)
    if body == (80877103).to_bytes(4, "big"):  # SSLRequest
        writer.write(b"N")
        length = int.from_bytes(await reader.readexactly(4), "big")
        await reader.readexactly(length - 4)  # the StartupMessage
    fields = b"SFATAL\0VFATAL\0C57P03\0Mthe database system is starting up\0\0"
    writer.write(b"E" + (len(fields) + 4).to_bytes(4, "big") + fields)
    await writer.drain()
    writer.close()


@pytest.mark.skipif(BACKEND != "postgres", reason="a PostgreSQL answer")
async def test_cannot_connect_now_is_503(client, login, monkeypatch):
    headers = await login("demo-citizen")
    monkeypatch.setattr(faults.OUTAGES, "_last", {})
    server = await asyncio.start_server(_starting_up_postgres, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with database_at(f"postgres://postgres@127.0.0.1:{port}/credit"):
            answers = await answers_while_down(client, headers)
    finally:
        server.close()
    assert_503s(answers)


@pytest.mark.skipif(BACKEND != "postgres", reason="a PostgreSQL connection")
async def test_a_postgresql_that_accepts_but_never_answers_is_503_not_a_hang(
    client, login, monkeypatch
):
    from infra import db

    headers = await login("demo-citizen")
    monkeypatch.setattr(faults.OUTAGES, "_last", {})
    monkeypatch.setattr(db, "CONNECT_TIMEOUT", 0.5)  # 5 s in service; the wiring is the same
    silent = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        async with database_at(f"postgres://postgres@127.0.0.1:{port}/credit"):
            started = asyncio.get_running_loop().time()
            answer = await client.get("/api/v1/me", headers=headers)
            elapsed = asyncio.get_running_loop().time() - started
    finally:
        silent.close()
    assert_503s([answer])
    assert elapsed < 3, elapsed


@pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL's statement_timeout")
async def test_a_statement_stuck_behind_a_lock_is_cancelled_and_answers_503(
    client, login, monkeypatch, settings
):
    """A migration or an operator holding a table's lock once hung every request that read it
    for as long as the lock was held; PostgreSQL now cancels the statement (10 s in service)."""
    import asyncpg

    headers = await login("demo-citizen")
    monkeypatch.setattr(faults.OUTAGES, "_last", {})
    dsn = settings.database_url.replace("postgres://", "postgresql://", 1)
    locker = await asyncpg.connect(dsn)
    try:
        async with locker.transaction():
            await locker.execute("LOCK TABLE audit_entry IN ACCESS EXCLUSIVE MODE")
            async with database_at(settings.database_url, statement_timeout=0.3):
                started = asyncio.get_running_loop().time()
                answer = await client.get("/api/v1/me/credit/queries", headers=headers)
                elapsed = asyncio.get_running_loop().time() - started
    finally:
        await locker.close()
    assert_503s([answer])
    assert elapsed < 3, elapsed
    assert (await client.get("/api/v1/me/credit/queries", headers=headers)).status_code == 200


def test_serving_processes_get_the_statement_timeout_and_the_cli_does_not():
    from infra.db import connection_config

    serving = connection_config("postgres://u@127.0.0.1:5432/credit", statement_timeout=10)
    assert isinstance(serving, dict)
    assert serving["credentials"]["server_settings"]["statement_timeout"] == "10000"
    cli = connection_config("postgres://u@127.0.0.1:5432/credit")
    assert isinstance(cli, dict) and "statement_timeout" not in cli["credentials"].get(
        "server_settings", {}
    )
