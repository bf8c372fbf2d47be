"""The benches' own calls: many HTTP requests a few at a time, and Redis keys and the audit
stream looked at between runs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
from redis.asyncio import Redis

from bench.harness.processes import say
from bench.harness.project import AUDIT_STREAM
from bench.harness.services import REDIS_PREFIX
from bench.http_data import login_code

Call = Callable[[httpx.AsyncClient, int], Awaitable[None]]


async def gather_bounded(
    count: int, concurrency: int, work: Callable[[int], Awaitable[None]], label: str
) -> None:
    """Run work(0..count-1) with at most `concurrency` at a time, printing progress."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)
    done = 0
    step = max(1, count // 4)

    async def worker() -> None:
        nonlocal done
        while True:
            try:
                n = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await work(n)
            done += 1
            if done % step == 0 and done < count:
                say(f"  … {label} {done:,}/{count:,}")

    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))


async def call_each(base: str, count: int, call: Call, label: str, concurrency: int) -> float:
    """call(client, n) for n in 0..count-1 over one keep-alive client; returns the seconds."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=30.0, limits=limits) as client:

        async def one(n: int) -> None:
            await call(client, n)

        started = time.perf_counter()
        await gather_bounded(count, concurrency, one, label)
        return time.perf_counter() - started


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login_all(base: str, users: int, concurrency: int = 8) -> list[str]:
    """Log bench users 1..N in through the real API; each must come back identity-bound.
    Few at a time: the standalone fake WeChat (socketserver, listen backlog 5, one connection per
    call) drops connections past a handful of concurrent calls, which costs 1 s SYN retries."""
    tokens: list[str] = [""] * users

    async def one(client: httpx.AsyncClient, n: int) -> None:
        response = await client.post("/api/v1/auth/wechat-login", json={"code": login_code(n + 1)})
        if response.status_code != 200:
            raise RuntimeError(f"login of user {n + 1}: {response.status_code} {response.text}")
        body = response.json()
        if not body["user"]["identity_bound"]:
            raise RuntimeError(f"user {n + 1} logged in without an identity bound: {body}")
        tokens[n] = body["token"]

    await call_each(base, users, one, "logins", concurrency)
    return tokens


async def redis_count(redis: Redis, pattern: str) -> int:
    count = 0
    async for _ in redis.scan_iter(match=pattern, count=2000):
        count += 1
    return count


async def redis_delete(redis: Redis, pattern: str) -> int:
    batch: list[bytes] = []
    deleted = 0
    async for key in redis.scan_iter(match=pattern, count=2000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += await redis.unlink(*batch)
            batch = []
    if batch:
        deleted += await redis.unlink(*batch)
    return deleted


async def audit_backlog(redis: Redis) -> int:
    return int(await redis.xlen(REDIS_PREFIX + AUDIT_STREAM))


async def settle(redis: Redis, within: float = 120.0) -> int:
    """Wait until the audit stream is drained, so a backlog never steals the next run's CPU.
    Gives up when it stops shrinking for 5 s (e.g. --variant no-audit-drain)."""
    deadline = time.monotonic() + within
    smallest, since = await audit_backlog(redis), time.monotonic()
    while smallest and time.monotonic() < deadline and time.monotonic() - since < 5.0:
        await asyncio.sleep(0.5)
        left = await audit_backlog(redis)
        if left < smallest:
            smallest, since = left, time.monotonic()
    return smallest
