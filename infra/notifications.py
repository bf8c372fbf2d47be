"""WeChat subscribe messages through an outbox (DESIGN.md, issue "notifications").

`enqueue` writes the message in the caller's transaction; `deliver_due` claims due messages with
an atomic conditional UPDATE (safe across workers and on SQLite, where SELECT … FOR UPDATE does
nothing), sends them, and records the outcome. A claim is a lease: a worker killed mid-send
leaves the message to be claimed again once the lease runs out. Errcode 43101 (the user refused
or has no subscription left) is final and never retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.expressions import F, Q

from infra.models import OutboxMessage
from infra.wechat.client import WeChatClient, WeChatError

log = logging.getLogger(__name__)

USER_REFUSED = 43101
MAX_ATTEMPTS = 8
LEASE = timedelta(seconds=60)
# Template value limits by key prefix (WeChat subscribe-message rules), in characters.
FIELD_LIMITS = {
    "thing": 20, "name": 10, "phrase": 5, "character_string": 32, "number": 32,
    "letter": 32, "symbol": 5, "car_number": 8,
}  # fmt: skip


def fit_value(key: str, value: str) -> str:
    """Cut a template value to its type's limit (a `thing` over 20 characters is refused)."""
    prefix = key.rstrip("0123456789")
    limit = FIELD_LIMITS.get(prefix)
    if limit is None or len(value) <= limit:
        return value
    return value[: limit - 1] + "…" if limit > 5 else value[:limit]


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


async def enqueue(
    openid: str, template_id: str, data: dict[str, str], page: str | None = None
) -> OutboxMessage:
    """Call inside the transaction that makes the change the message reports."""
    return await OutboxMessage.create(
        openid=openid,
        template_id=template_id,
        page=page,
        data={key: fit_value(key, str(value)) for key, value in data.items()},
        next_attempt_at=datetime.now(UTC),
    )


async def _claim(message_id: int, now: datetime) -> bool:
    due = Q(status="pending", next_attempt_at__lte=now) | Q(status="sending", claimed_until__lt=now)
    claimed = await OutboxMessage.filter(Q(id=message_id) & due).update(
        status="sending", claimed_until=now + LEASE, attempts=F("attempts") + 1
    )
    return claimed == 1


async def deliver_due(wechat: WeChatClient, *, limit: int = 50) -> int:
    """Send what is due; returns how many were sent."""
    now = datetime.now(UTC)
    candidates = (
        await OutboxMessage.filter(
            Q(status="pending", next_attempt_at__lte=now)
            | Q(status="sending", claimed_until__lt=now)
        )
        .order_by("id")
        .limit(limit)
    )
    sent = 0
    for candidate in candidates:
        if not await _claim(candidate.id, now):
            continue  # another worker has it
        message = await OutboxMessage.get(id=candidate.id)
        sent += await _send(wechat, message)
    return sent


async def _send(wechat: WeChatClient, message: OutboxMessage) -> int:
    update: dict[str, Any]
    try:
        await wechat.send_subscribe_message(
            openid=message.openid, template_id=message.template_id,
            data=message.data, page=message.page,
        )  # fmt: skip
    except WeChatError as exc:
        error = f"{exc.errcode} {exc.errmsg}"[:200]
        if exc.errcode == USER_REFUSED:
            update = {"status": "refused", "last_error": error}
        elif message.attempts >= MAX_ATTEMPTS:
            update = {"status": "failed", "last_error": error}
        else:
            update = {
                "status": "pending",
                "last_error": error,
                "next_attempt_at": datetime.now(UTC) + backoff(message.attempts),
            }
        log.info("outbox message %s: %s -> %s", message.id, error, update["status"])
        await OutboxMessage.filter(id=message.id, status="sending").update(
            claimed_until=None, **update
        )
        return 0
    await OutboxMessage.filter(id=message.id, status="sending").update(
        status="sent", sent_at=datetime.now(UTC), claimed_until=None, last_error=None
    )
    return 1


async def run_outbox(wechat: WeChatClient, stop: asyncio.Event, interval: float = 2.0) -> None:
    """Background task in every worker; claims keep them from sending a message twice."""
    while not stop.is_set():
        try:
            await deliver_due(wechat)
        except Exception:
            log.exception("outbox delivery failed; messages stay pending and are retried")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
