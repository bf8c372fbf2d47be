"""The hot paths' transport (infra/redis_scripts.py) against a real Redis, on both event loops
the service runs on: asyncio (tests, the embedded default) and uvloop (Sanic's in production)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop
from redis.asyncio import Redis

from infra.redis_scripts import ScriptChannel

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
pytestmark = pytest.mark.skipif(
    os.environ.get("TEST_BACKEND", "embedded") != "postgres",
    reason="a pipelined channel needs a TCP Redis (the PostgreSQL + Redis pass)",
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


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_script_runs_over_the_pipelined_channel(loop):
    run = asyncio.run if loop == "asyncio" else uvloop.run
    assert _in_thread(run) == [[b"first", 1], [b"second", 1]]
