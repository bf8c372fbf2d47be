"""The Redis client's timeouts and reconnects (infra/cache.py make_redis) against a redis-server
of the test's own, frozen with SIGSTOP and restarted: a request fails fast, never hangs, and no
command fails on a connection left stale by a restart."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from infra.cache import make_redis


async def test_a_frozen_redis_fails_a_command_within_the_timeout(private_redis):
    client = make_redis(private_redis.url, timeout=0.3)
    try:
        await client.set("k", "v")
        private_redis.freeze()
        started = time.monotonic()
        with pytest.raises(RedisTimeoutError):
            await client.get("k")
        # Not retried: one timeout, well within the 1 s a request may spend.
        assert time.monotonic() - started < 0.8
        started = time.monotonic()
        with pytest.raises(RedisTimeoutError):  # a new connection to a frozen server too
            await asyncio.gather(*(client.get("k") for _ in range(5)))
        assert time.monotonic() - started < 0.8
        private_redis.thaw()
        assert await client.get("k") == b"v"  # the timed-out connection was dropped, not reused
    finally:
        private_redis.thaw()
        await client.aclose()


async def test_no_command_fails_on_a_stale_pooled_connection_after_redis_restarts(private_redis):
    client = make_redis(private_redis.url, timeout=0.5)
    try:
        # Several pooled connections, all idle when the server goes away.
        await asyncio.gather(*(client.blpop(["nothing"], timeout=0.05) for _ in range(4)))
        assert len(client.connection_pool._available_connections) >= 4
        private_redis.restart()
        answers = await asyncio.gather(*(client.incr("after") for _ in range(8)))
        assert sorted(answers) == list(range(1, 9))  # each sent once, none failed
    finally:
        await client.aclose()


async def test_a_redis_that_is_down_fails_at_once(private_redis):
    client = make_redis(private_redis.url, timeout=0.5)
    try:
        private_redis.stop()
        started = time.monotonic()
        with pytest.raises(RedisConnectionError):  # refused, retried once, no backoff
            await client.get("k")
        assert time.monotonic() - started < 0.8
    finally:
        await client.aclose()
