"""Everything a worker holds while it runs: settings, database, cache, crypto, WeChat client.

The HTTP app, the CLI and the tests all start the same Runtime, so there is one code path for the
embedded default and for production.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from redis.asyncio import Redis

from infra.cache import Keys, make_redis
from infra.db import Schema, close_database, open_database
from infra.redis_scripts import close_scripts
from infra.security.crypto import FieldCipher, cipher_from_settings
from infra.settings import Settings
from infra.wechat.client import WeChatClient
from infra.wechat.fake import FakeWeChat

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    redis: Redis
    keys: Keys
    cipher: FieldCipher
    wechat: WeChatClient
    fake_wechat: FakeWeChat | None = None


async def start_runtime(
    settings: Settings, schema: Schema, *, apply_migrations: bool = True, serving: bool = False
) -> Runtime:
    """`serving`: for a process that answers requests (statements get a time limit)."""
    await open_database(
        settings.database_url,
        schema,
        apply_migrations=apply_migrations,
        statement_timeout=settings.database_statement_timeout_seconds if serving else None,
    )
    redis = make_redis(settings.redis_url, timeout=settings.redis_timeout_seconds)
    keys = Keys(settings.redis_prefix)
    fake: FakeWeChat | None = None
    api_base = settings.wechat_api_base
    if settings.uses_builtin_wechat:
        fake = FakeWeChat(appid=settings.wechat_appid, secret=settings.wechat_secret)
        api_base = fake.start()
        log.warning("using the built-in fake WeChat at %s (development only)", api_base)
    wechat = WeChatClient(
        api_base=api_base,
        appid=settings.wechat_appid,
        secret=settings.wechat_secret,
        redis=redis,
        keys=keys,
        timeout=settings.wechat_timeout_seconds,
        deadline=settings.wechat_deadline_seconds,
        token_wait=settings.wechat_token_wait_seconds,
        force_refresh_interval=settings.wechat_force_refresh_interval_seconds,
        force_refresh_daily_limit=settings.wechat_force_refresh_daily_limit,
    )
    return Runtime(
        settings=settings,
        redis=redis,
        keys=keys,
        cipher=cipher_from_settings(settings),
        wechat=wechat,
        fake_wechat=fake,
    )


async def stop_runtime(runtime: Runtime) -> None:
    await runtime.wechat.aclose()
    await close_scripts(runtime.redis)
    await runtime.redis.aclose()
    if runtime.fake_wechat is not None:
        runtime.fake_wechat.stop()
    await close_database()
