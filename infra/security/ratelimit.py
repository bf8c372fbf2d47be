"""Fixed-window rate limits in Redis, shared by all workers."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

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

# Both counters of a write (the user's and the address's) in one round trip: each hit is counted,
# and the answer is the longest wait of those past their limit (0: none is).
_HIT_BOTH = """
local wait = 0
for i = 1, 2 do
  local n = redis.call('INCR', KEYS[i])
  if n == 1 then redis.call('EXPIRE', KEYS[i], ARGV[i * 2]) end
  if n > tonumber(ARGV[i * 2 - 1]) then
    local ttl = redis.call('TTL', KEYS[i])
    if ttl <= 0 then ttl = tonumber(ARGV[i * 2]) end
    if ttl > wait then wait = ttl end
  end
end
return wait
"""

# The suffix of a bucket's per-address rule in [rate_limits] (the bare name is the per-user one).
ADDRESS_SUFFIX = "_address"


async def enforce(redis: Redis, keys: Keys, bucket: str, who: str, rule: RateLimit) -> None:
    """Count one hit for `who` in `bucket`; raise 429 with Retry-After past the limit."""
    count, ttl = await redis.eval(_HIT, 1, keys.rate(bucket, who), rule.window)
    if int(count) > rule.limit:
        raise RateLimited(int(ttl) if int(ttl) > 0 else rule.window)


async def enforce_per_client(
    redis: Redis,
    keys: Keys,
    bucket: str,
    user_id: int,
    address: str,
    rules: Mapping[str, RateLimit],
) -> None:
    """A logged-in write (a complaint, an upload, an application): count it for the user under
    `rules[bucket]` and for the client address under `rules[bucket + "_address"]`; 429 with
    Retry-After when either is past its limit. New accounts cost nothing to make, so the user's
    limit alone stops no one; addresses are shared (carrier NAT, a scenic area's Wi-Fi), so the
    address limit is the looser of the two."""
    user_rule, address_rule = rules[bucket], rules[bucket + ADDRESS_SUFFIX]
    wait = await redis.eval(
        _HIT_BOTH,
        2,
        keys.rate(bucket, f"u:{user_id}"),
        keys.rate(bucket + ADDRESS_SUFFIX, address_key(address)),
        user_rule.limit,
        user_rule.window,
        address_rule.limit,
        address_rule.window,
    )
    if int(wait) > 0:
        raise RateLimited(int(wait))


def address_key(address: str) -> str:
    """What an address counts as: an IPv4 address itself, an IPv6 address its /64 (one
    subscriber's whole prefix; counting single IPv6 addresses, a client could take a new one for
    every request). Anything else (a UNIX socket name) as it is, bounded."""
    try:
        parsed = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address[:64]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{parsed}/64", strict=False).network_address) + "/64"
    return str(parsed)
