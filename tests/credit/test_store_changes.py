"""Stale views noted for a serving process whose cache the importer cannot reach."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import fakeredis

from credit import store_changes
from credit.models import StoreChange


async def test_a_change_noted_elsewhere_drops_the_view_in_this_cache(runtime):
    redis, keys = runtime.redis, runtime.keys
    seen = await store_changes.latest_change()
    await redis.set(keys.public_view(901), b"{}")  # this process's cached views
    await redis.set(keys.public_view(902), b"{}")
    importers_cache = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())  # another process
    try:
        await store_changes.made_stale(importers_cache, keys, [901])
    finally:
        await importers_cache.aclose()
    assert await redis.exists(keys.public_view(901))  # the importer could not reach it
    seen = await store_changes.apply_changes_after(redis, keys, seen)
    assert not await redis.exists(keys.public_view(901))
    assert await redis.exists(keys.public_view(902))  # only what the import changed
    assert await store_changes.apply_changes_after(redis, keys, seen) == seen  # nothing new
    await redis.delete(keys.public_view(902))


async def test_notes_older_than_a_day_are_pruned(runtime):
    await store_changes.made_stale(runtime.redis, runtime.keys, [903])
    newest = await store_changes.latest_change()
    assert await store_changes.prune(datetime.now(UTC) + timedelta(days=2)) >= 1
    assert not await StoreChange.filter(id=newest).exists()
