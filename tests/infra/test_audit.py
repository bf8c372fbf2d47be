"""The audit log: Redis stream first, one writer into the hash-chained table."""

from __future__ import annotations

import asyncio
import itertools
import json

from infra import audit
from infra.models import AuditEntry


def event(n: int) -> audit.AuditEvent:
    return audit.AuditEvent(
        action="credit.read", actor_kind="reviewer", actor_role="reviewer",
        purpose=f"测试 {n}", channel="api", actor_org="阿拉善盟信用中心", subject_id=999_000 + n,
    )  # fmt: skip


async def test_entries_are_chained_and_verifiable(runtime, redis, keys):
    await audit.drain(redis, keys, wait=2)
    for n in range(5):
        await audit.append(redis, keys, event(n))
    # The app's own drainer (session fixture) may take some first: count the outcome.
    await audit.drain(redis, keys, wait=5)
    assert await redis.xlen(keys.audit_stream) == 0
    assert await audit.verify_chain() is None
    entries = await AuditEntry.filter(subject_id__gte=999_000, subject_id__lt=999_005).order_by(
        "id"
    )
    assert [e.purpose for e in entries] == [f"测试 {n}" for n in range(5)]
    for earlier, later in itertools.pairwise(entries):
        assert later.prev_hash == earlier.hash


async def test_tampering_breaks_the_chain(runtime, redis, keys):
    await audit.append(redis, keys, event(50))
    await audit.drain(redis, keys, wait=2)
    entry = await AuditEntry.filter(subject_id=999_050).first()
    original = entry.purpose
    await AuditEntry.filter(id=entry.id).update(purpose="改过的用途")
    try:
        assert await audit.verify_chain() == entry.id
    finally:
        await AuditEntry.filter(id=entry.id).update(purpose=original)
    assert await audit.verify_chain() is None


async def test_an_interrupted_drain_never_writes_an_entry_twice(runtime, redis, keys):
    await audit.drain(redis, keys, wait=2)
    # This test is the writer, so it holds the writers' lock (without it, the app's own drainer
    # could write the same entries at the same time, as no real writer can).
    lock = redis.lock(keys.audit_lock, timeout=30, blocking_timeout=5, thread_local=False)
    assert await lock.acquire()
    try:
        await audit.append(redis, keys, event(60))
        items = await redis.xrange(keys.audit_stream)
        # The writer died after the insert and before the stream delete:
        await audit._write_batch(items)
    finally:
        await lock.release()
    assert await audit.drain(redis, keys, wait=2) == 0
    assert await AuditEntry.filter(subject_id=999_060).count() == 1
    assert await redis.xlen(keys.audit_stream) == 0


async def test_concurrent_drains_keep_one_chain(runtime, redis, keys):
    for n in range(100, 140):
        await audit.append(redis, keys, event(n))
    await asyncio.gather(*(audit.drain(redis, keys, wait=5) for _ in range(4)))
    assert await AuditEntry.filter(subject_id__gte=999_100, subject_id__lt=999_140).count() == 40
    assert await audit.verify_chain() is None


async def test_a_drain_of_several_batches_keeps_stream_order(runtime, redis, keys):
    await audit.drain(redis, keys, wait=2)
    count = audit.DRAIN_BATCH * 2 + 7
    async with redis.pipeline(transaction=False) as pipe:
        for n in range(count):
            pipe.xadd(keys.audit_stream, {"e": event(200_000 + n).payload()})
        await pipe.execute()
    await audit.drain(redis, keys, wait=5)  # after any other writer's drain: all of them
    entries = await AuditEntry.filter(subject_id__gte=1_199_000).order_by("id")
    assert [e.subject_id for e in entries] == [1_199_000 + n for n in range(count)]
    assert [e.detail for e in entries[:1]] == [{}]
    assert await redis.xlen(keys.audit_stream) == 0
    assert await audit.verify_chain() is None


def test_a_template_renders_what_the_event_would():
    import json

    event = audit.AuditEvent(
        action="credit.read", actor_kind="public", actor_role="public", purpose="扫码",
        channel="h5", subject_id=-9001, detail={"merchant_id": -9002},
    )  # fmt: skip
    rendered = json.loads(audit.AuditTemplate(event, ("-9001", "-9002")).render(42, 7))
    expected = json.loads(
        audit.AuditEvent(
            action="credit.read", actor_kind="public", actor_role="public", purpose="扫码",
            channel="h5", subject_id=42, detail={"merchant_id": 7},
        ).payload()
    )  # fmt: skip
    at = rendered.pop(0)
    expected.pop(0)
    assert rendered == expected and at.endswith("+00:00")


def test_the_entry_hash_is_chain_hash():
    """The drain's templated canonical JSON gives chain_hash's digest, escapes included."""
    chars = 'a"\\\n\u2028é\x00\x1f/ {}:,'
    values = [chars[i:] + chars[:i] for i in range(len(audit.STREAM_FIELDS))]
    for prev, stream_id, fields in [
        (audit.GENESIS_HASH, "1-0", values),
        ("ab" * 32, "17-3", ["" for _ in audit.STREAM_FIELDS]),
        ("cd" * 32, "18-0", json.loads(event(1).payload())),
    ]:
        named = dict(zip(audit.STREAM_FIELDS, fields, strict=True))
        assert audit._entry_hash(prev, stream_id, fields) == audit.chain_hash(
            prev, stream_id, named
        )


async def test_a_drain_chains_onto_another_writers_entries(runtime, redis, keys):
    """The id this process saw last is only a lower bound for the look-up: entries another
    writer added since (here: a drain this process is made to forget) are chained onto."""
    await audit.append(redis, keys, event(70))
    await audit.drain(redis, keys, wait=2)
    seen = audit._seen_id
    await audit.append(redis, keys, event(71))
    await audit.drain(redis, keys, wait=2)
    audit._seen_id = seen  # as if the second drain had been another process's
    await audit.append(redis, keys, event(72))
    await audit.drain(redis, keys, wait=2)
    assert await audit.verify_chain() is None
    assert await AuditEntry.filter(subject_id__in=[999_070, 999_071, 999_072]).count() == 3
