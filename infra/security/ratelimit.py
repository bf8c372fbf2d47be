"""Fixed-window rate limits in Redis, shared by all workers."""

from __future__ import annotations

from redis.asyncio import Redis

from infra.cache import Keys
from infra.errors import RateLimited
from infra.settings import RateLimit

# INCR and set the window on the first hit, atomically; returns {count, ttl}.
_HIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('TTL', KEYS[1])}
"""


async def enforce(redis: Redis, keys: Keys, bucket: str, who: str, rule: RateLimit) -> None:
    """Count one hit for `who` in `bucket`; raise 429 with Retry-After past the limit."""
    count, ttl = await redis.eval(_HIT, 1, keys.rate(bucket, who), rule.window)
    if int(count) > rule.limit:
        raise RateLimited(int(ttl) if int(ttl) > 0 else rule.window)
