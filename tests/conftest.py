"""Test wiring. One backend per pytest process, chosen by TEST_BACKEND:

- ``embedded`` (default): a SQLite file in a temporary folder and an in-process fakeredis;
- ``postgres``: a fresh PostgreSQL database on 127.0.0.1:5432 (created here, dropped at the end)
  and the real Redis on 127.0.0.1:6379 under a key prefix of this run's own.

With CI=true the PostgreSQL/Redis pass fails instead of skipping when those servers are away.
The two passes run in separate processes (tortoise keeps the first dialect's SQL per process).
"""

from __future__ import annotations

import base64
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from infra.cache import Keys, make_redis
from infra.security.crypto import FieldCipher, cipher_from_settings
from infra.settings import Settings, load_settings
from infra.wechat.fake import FakeWeChat

BACKEND = os.environ.get("TEST_BACKEND", "embedded")
PG_ADMIN_DSN = os.environ.get("TEST_PG_DSN", "postgres://postgres@127.0.0.1:5432/test")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RUN_ID = uuid.uuid4().hex[:10]


def pytest_report_header(config: pytest.Config) -> str:
    return f"backend: {BACKEND} (run {RUN_ID})"


def _key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def fake_wechat() -> Iterator[FakeWeChat]:
    fake = FakeWeChat()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
async def test_database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    if BACKEND == "embedded":
        yield f"sqlite://{tmp_path_factory.mktemp('db') / 'credit.sqlite3'}"
        return
    name = f"alxa_test_{RUN_ID}"
    try:
        await _pg_admin(f'CREATE DATABASE "{name}"')
    except OSError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"PostgreSQL is not reachable: {exc}")
    host = PG_ADMIN_DSN.split("@", 1)[1].rsplit("/", 1)[0]
    yield f"postgres://postgres@{host}/{name}"
    from tortoise import Tortoise

    await Tortoise.close_connections()
    await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def settings(
    test_database_url: str, fake_wechat: FakeWeChat, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    var = tmp_path_factory.mktemp("var")
    env = {
        "APP_ENV": "development",
        "DATABASE_URL": test_database_url,
        "REDIS_URL": "fakeredis://" if BACKEND == "embedded" else TEST_REDIS_URL,
        "REDIS_PREFIX": f"test:{RUN_ID}:",
        "WECHAT_API_BASE": fake_wechat.base_url,
        "WECHAT_APPID": fake_wechat.appid,
        "WECHAT_SECRET": fake_wechat.secret,
        "WECHAT_TIMEOUT_SECONDS": "2",
        "PUBLIC_BASE_URL": "https://credit.example.test",
        "FIELD_KEYS": f"t1:{_key()}",
        "BLIND_INDEX_KEY": _key(),
        "KEY_FILE": str(var / "keys.json"),
        "DEMO": "true",
        "METRICS_TOKEN": _key(),
    }
    loaded = load_settings(env)
    # The suite logs in many users from one address; rate-limit tests tighten these on purpose.
    for rule in loaded.rate_limits.values():
        rule.limit = 100_000
    return loaded


@pytest.fixture(scope="session")
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = make_redis(settings.redis_url)
    try:
        await client.ping()
    except OSError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"Redis is not reachable: {exc}")
    yield client
    async for name in client.scan_iter(match=f"{settings.redis_prefix}*", count=1000):
        await client.delete(name)
    await client.aclose()


@pytest.fixture(scope="session")
def keys(settings: Settings) -> Keys:
    return Keys(settings.redis_prefix)


@pytest.fixture(scope="session")
def cipher(settings: Settings) -> FieldCipher:
    return cipher_from_settings(settings)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return Path(__file__).parent / "data"


@pytest.fixture(scope="session")
async def runtime(settings: Settings, redis: Redis):  # type: ignore[no-untyped-def]
    """The same Runtime the service starts: database migrated and open, cache, crypto, WeChat."""
    from infra.runtime import start_runtime, stop_runtime
    from server.demo import seed_demo
    from server.schema import SCHEMA
    from tests import helpers

    rt = await start_runtime(settings, SCHEMA, serving=True)
    helpers.CIPHER = rt.cipher
    await seed_demo(rt)
    yield rt
    await stop_runtime(rt)


class AsgiLifespan:
    """Runs the Sanic app's ASGI lifespan in this event loop, so the tests, the app and the
    database share one loop (sanic-testing's clients restart the app per request)."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        import asyncio

        self.app = app
        self._to_app: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        self._from_app: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self):  # type: ignore[no-untyped-def]
        import asyncio

        scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
        self._task = asyncio.create_task(self.app(scope, self._to_app.get, self._from_app.put))
        await self._to_app.put({"type": "lifespan.startup"})
        message = await self._from_app.get()
        assert message["type"] == "lifespan.startup.complete", message
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._to_app.put({"type": "lifespan.shutdown"})
        await self._from_app.get()
        assert self._task is not None
        await self._task


@pytest.fixture(scope="session")
async def app(runtime):  # type: ignore[no-untyped-def]
    from server.app import create_app

    application = create_app(runtime=runtime)
    async with AsgiLifespan(application):
        yield application


@pytest.fixture(scope="session")
async def client(app):  # type: ignore[no-untyped-def]
    import httpx

    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def login(client):  # type: ignore[no-untyped-def]
    """login("demo-citizen") -> Authorization headers for that WeChat code."""

    async def _login(code: str) -> dict[str, str]:
        response = await client.post("/api/v1/auth/wechat-login", json={"code": code})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}

    return _login


@pytest.fixture
async def quiet_outbox(runtime, fake_wechat):  # type: ignore[no-untyped-def]
    """Earlier tests' unsent messages parked, so a test's deliveries and injected WeChat failures
    meet only its own messages (a delivery round takes the 50 oldest due ones); and the pushes
    the fake WeChat queued for them dropped."""
    fake_wechat.take_pushes()
    from datetime import UTC, datetime, timedelta

    from infra.models import OutboxMessage

    await OutboxMessage.filter(status__in=["pending", "sending", "unconfirmed"]).update(
        status="pending",
        claimed_until=None,
        next_attempt_at=datetime.now(UTC) + timedelta(days=3650),
    )


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[object]:
    """A redis-server of this test's own (tests/helpers.PrivateRedis), stopped afterwards."""
    from tests.helpers import PrivateRedis

    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()
