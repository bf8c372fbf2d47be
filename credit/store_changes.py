"""Cached views an import made stale, for a serving process whose cache the importer cannot
reach: the embedded default's cache is an in-process fakeredis inside `./dev serve`, so
`./dev import`, another process, once left every public view stale until it expired.

The importer drops the views in its own cache as before (in production that is the service's
Redis) and also writes the subjects here, after the batch that changed them committed; a serving
process on the in-process cache follows the table and drops them in its own. Rows older than a
day are deleted by that follower (a view is never cached that long); in production, where no
one follows, the importer prunes them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from credit.models import StoreChange
from infra.cache import Keys, invalidate_subjects
from infra.faults import OUTAGES, unavailable_part

log = logging.getLogger(__name__)

FOLLOW_EVERY_SECONDS = 2.0
KEEP = timedelta(days=1)
IDS_PER_ROW = 5000


async def made_stale(redis: Redis, keys: Keys, subject_ids: Iterable[int]) -> None:
    """The importer's one call for subjects it changed: their views dropped from its cache and
    noted for processes with a cache of their own."""
    ids = sorted(set(subject_ids))
    await invalidate_subjects(redis, keys, ids)
    rows = [
        StoreChange(subject_ids=",".join(map(str, ids[start : start + IDS_PER_ROW])))
        for start in range(0, len(ids), IDS_PER_ROW)
    ]
    if rows:
        await StoreChange.bulk_create(rows)


async def prune(now: datetime | None = None) -> int:
    return await StoreChange.filter(created_at__lt=(now or datetime.now(UTC)) - KEEP).delete()


async def latest_change() -> int:
    latest = await StoreChange.all().order_by("-id").first()
    return latest.id if latest is not None else 0


async def apply_changes_after(redis: Redis, keys: Keys, seen: int) -> int:
    """Drop the views of the subjects noted after change `seen`; the last change applied."""
    rows = await StoreChange.filter(id__gt=seen).order_by("id").values_list("id", "subject_ids")
    for change_id, ids in rows:
        await invalidate_subjects(redis, keys, [int(s) for s in ids.split(",") if s])
        seen = change_id
    return seen


async def follow(redis: Redis, keys: Keys, stop: asyncio.Event) -> None:
    """A serving process on the in-process cache: every FOLLOW_EVERY_SECONDS, the changes made
    since it started (its cache began empty, so earlier ones do not concern it)."""
    seen: int | None = None
    while not stop.is_set():
        try:
            if seen is None:
                seen = await latest_change()
                await prune()
            else:
                seen = await apply_changes_after(redis, keys, seen)
        except Exception as exc:  # the database away for a moment: try again next round
            part = unavailable_part(exc)
            if part is None:
                log.exception("could not follow the store's changes")
            else:
                OUTAGES.failed(part, exc, "the store-change follower")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(FOLLOW_EVERY_SECONDS):
                await stop.wait()
