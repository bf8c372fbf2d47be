"""The rate limiter itself: both counters of a write in one round trip, addresses as clients."""

from __future__ import annotations

import secrets

import pytest

from infra.errors import RateLimited
from infra.security.ratelimit import address_key, enforce_per_client
from infra.settings import RateLimit


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("[2001:db8:1:2:bbbb::9]", "2001:db8:1:2::/64"),  # the same subscriber's prefix
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("unix:/run/x.sock" + "x" * 200, ("unix:/run/x.sock" + "x" * 200)[:64]),
    ],
)
def test_address_key(address, key):
    assert address_key(address) == key


async def test_both_counters_count_and_the_longer_wait_is_answered(redis, keys):
    rules = {"t": RateLimit(limit=1, window=30), "t_address": RateLimit(limit=5, window=600)}
    who = f"198.51.100.{secrets.randbelow(250)}"
    await enforce_per_client(redis, keys, "t", 424242, who, rules)
    with pytest.raises(RateLimited) as limited:
        await enforce_per_client(redis, keys, "t", 424242, who, rules)
    assert 1 <= limited.value.retry_after <= 30
    assert int(await redis.get(keys.rate("t_address", address_key(who)))) == 2
    rules["t_address"] = RateLimit(limit=1, window=600)
    with pytest.raises(RateLimited) as both:
        await enforce_per_client(redis, keys, "t", 424242, who, rules)
    assert 30 < both.value.retry_after <= 600
    await redis.delete(keys.rate("t", "u:424242"), keys.rate("t_address", address_key(who)))
