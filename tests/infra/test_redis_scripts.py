"""The hot paths' transport (infra/redis_scripts.py) against a real Redis, on both event loops
the service runs on: asyncio (tests, the embedded default) and uvloop (Sanic's in production)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop
from redis.asyncio import Redis
from redis.exceptions import TimeoutError as RedisTimeoutError

from infra.cache import make_redis
from infra.redis_scripts import ScriptChannel

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
needs_shared_redis = pytest.mark.skipif(
    os.environ.get("TEST_BACKEND", "embedded") != "postgres",
    reason="the shared TCP Redis belongs to the PostgreSQL + Redis pass",
)
ECHO = "return {ARGV[1], redis.call('TIME')[1] ~= nil and 1 or 0}"


async def _echo_twice() -> list[Any]:
    redis = Redis.from_url(TEST_REDIS_URL)
    channel = ScriptChannel.for_client(redis, ECHO)
    assert channel is not None  # plain TCP: the pipelined channel, not redis-py's script
    try:
        return [
            await asyncio.wait_for(channel(keys=[], args=[word]), 5) for word in ("first", "second")
        ]
    finally:
        await channel.aclose()
        await redis.aclose()


def _in_thread(run: Callable[[Coroutine[Any, Any, list[Any]]], list[Any]]) -> list[Any]:
    """Run on a loop of its own (the test's loop is busy in this thread)."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = run(_echo_twice())
        except BaseException as exc:  # reported by the assertion below
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(30)
    assert "error" not in result, result.get("error")
    return result["value"]


@needs_shared_redis
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_script_runs_over_the_pipelined_channel(loop):
    run = asyncio.run if loop == "asyncio" else uvloop.run
    assert _in_thread(run) == [[b"first", 1], [b"second", 1]]


# The channels below go to a redis-server of the test's own (tests/helpers.PrivateRedis).


async def test_a_frozen_redis_fails_the_pipelined_channel_within_the_timeout(private_redis):
    redis = make_redis(private_redis.url, timeout=0.3)  # the channel takes the client's timeouts
    channel = ScriptChannel.for_client(redis, ECHO)
    assert channel is not None
    try:
        assert await channel(keys=[], args=["warm"]) == [b"warm", 1]
        private_redis.freeze()
        started = time.monotonic()
        answers = await asyncio.gather(
            *(channel(keys=[], args=[str(n)]) for n in range(20)), return_exceptions=True
        )
        assert all(isinstance(answer, RedisTimeoutError) for answer in answers), answers
        assert time.monotonic() - started < 0.8  # timeout plus at most a quarter of it
        started = time.monotonic()  # a new connection to the frozen server fails as fast
        with pytest.raises(RedisTimeoutError):
            await channel(keys=[], args=["again"])
        assert time.monotonic() - started < 0.8
        private_redis.thaw()
        # The frozen connections were dropped: no late reply is read as another call's.
        assert await channel(keys=[], args=["thawed"]) == [b"thawed", 1]
        assert await channel(keys=[], args=["next"]) == [b"next", 1]
    finally:
        private_redis.thaw()
        await channel.aclose()
        await redis.aclose()


async def test_an_idle_channel_is_not_timed_out(private_redis):
    redis = make_redis(private_redis.url, timeout=0.2)
    channel = ScriptChannel.for_client(redis, ECHO)
    assert channel is not None
    try:
        assert await channel(keys=[], args=["a"]) == [b"a", 1]
        await asyncio.sleep(0.6)  # several watch rounds with nothing owed
        assert await channel(keys=[], args=["b"]) == [b"b", 1]
    finally:
        await channel.aclose()
        await redis.aclose()


async def test_no_call_fails_on_the_channel_after_redis_restarts(private_redis):
    redis = make_redis(private_redis.url, timeout=0.5)
    channel = ScriptChannel.for_client(redis, ECHO)
    assert channel is not None
    try:
        assert await channel(keys=[], args=["before"]) == [b"before", 1]
        private_redis.restart()  # the script cache is empty too: NOSCRIPT, then EVAL
        await asyncio.sleep(0)  # the loop (blocked by restart() here) sees the closed socket
        answers = await asyncio.gather(*(channel(keys=[], args=[str(n)]) for n in range(5)))
        assert answers == [[str(n).encode(), 1] for n in range(5)]
    finally:
        await channel.aclose()
        await redis.aclose()
