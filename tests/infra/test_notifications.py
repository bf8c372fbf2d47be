"""The outbox of WeChat subscribe messages: nothing lost, no double sends, 43101 final."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from tortoise.transactions import in_transaction

from infra import notifications
from infra.models import OutboxMessage

SEND = "/cgi-bin/message/subscribe/send"
pytestmark = pytest.mark.usefixtures("quiet_outbox")


def openid() -> str:
    return f"o-test-{uuid.uuid4().hex[:12]}"


def sent_to(fake, who: str) -> list[dict]:
    return [m for m in fake.sent_messages if m.get("touser") == who]


async def test_enqueued_message_is_sent_once(runtime, fake_wechat):
    who = openid()
    async with in_transaction():
        message = await notifications.enqueue(who, "tmpl-status", {"phrase1": "已受理"})
    await notifications.deliver_due(runtime.wechat)
    await notifications.deliver_due(runtime.wechat)
    assert len(sent_to(fake_wechat, who)) == 1
    stored = await OutboxMessage.get(id=message.id)
    assert stored.status == "sent" and stored.sent_at is not None and stored.attempts == 1


async def test_wechat_failure_is_retried_with_backoff(runtime, fake_wechat):
    who = openid()
    message = await notifications.enqueue(who, "tmpl-status", {"phrase1": "已受理"})
    fake_wechat.fail_next(SEND, -1)
    await notifications.deliver_due(runtime.wechat)
    failed = await OutboxMessage.get(id=message.id)
    assert failed.status == "pending" and failed.attempts == 1
    assert failed.next_attempt_at > datetime.now(UTC) + timedelta(seconds=20)
    assert failed.last_error.startswith("-1")
    assert sent_to(fake_wechat, who) == []
    await notifications.deliver_due(runtime.wechat)  # not due yet: nothing happens
    assert (await OutboxMessage.get(id=message.id)).attempts == 1
    await OutboxMessage.filter(id=message.id).update(next_attempt_at=datetime.now(UTC))
    await notifications.deliver_due(runtime.wechat)
    assert (await OutboxMessage.get(id=message.id)).status == "sent"
    assert len(sent_to(fake_wechat, who)) == 1


async def test_user_refusal_43101_is_recorded_and_not_retried(runtime, fake_wechat):
    who = openid()
    fake_wechat.refuse_subscriptions(who)
    message = await notifications.enqueue(who, "tmpl-status", {"phrase1": "已受理"})
    await notifications.deliver_due(runtime.wechat)
    refused = await OutboxMessage.get(id=message.id)
    assert refused.status == "refused" and refused.last_error.startswith("43101")
    calls = len(fake_wechat.calls_to(SEND))
    await OutboxMessage.filter(id=message.id).update(next_attempt_at=datetime.now(UTC))
    await notifications.deliver_due(runtime.wechat)
    assert len(fake_wechat.calls_to(SEND)) == calls


async def test_a_worker_killed_mid_send_leaves_the_message_to_another(runtime, fake_wechat):
    who = openid()
    message = await notifications.enqueue(who, "tmpl-status", {"phrase1": "已受理"})
    # The first worker claimed it and died before sending; its lease has run out.
    await OutboxMessage.filter(id=message.id).update(
        status="sending", attempts=1, claimed_until=datetime.now(UTC) - timedelta(seconds=1)
    )
    await notifications.deliver_due(runtime.wechat)
    assert (await OutboxMessage.get(id=message.id)).status == "sent"
    assert len(sent_to(fake_wechat, who)) == 1


async def test_a_live_claim_is_not_taken_over(runtime, fake_wechat):
    who = openid()
    message = await notifications.enqueue(who, "tmpl-status", {"phrase1": "已受理"})
    await OutboxMessage.filter(id=message.id).update(
        status="sending", attempts=1, claimed_until=datetime.now(UTC) + timedelta(seconds=60)
    )
    await notifications.deliver_due(runtime.wechat)
    assert sent_to(fake_wechat, who) == []


async def test_concurrent_workers_send_each_message_once(runtime, fake_wechat):
    who = openid()
    for n in range(10):
        await notifications.enqueue(who, "tmpl-status", {"character_string1": f"A{n}"})
    await asyncio.gather(*(notifications.deliver_due(runtime.wechat) for _ in range(3)))
    values = sorted(m["data"]["character_string1"]["value"] for m in sent_to(fake_wechat, who))
    assert values == sorted(f"A{n}" for n in range(10))


async def test_values_are_cut_to_wechat_limits(runtime, fake_wechat):
    who = openid()
    long_thing = "您的信用修复申请已经审核通过并已停止公示相关记录"
    assert len(long_thing) > 20
    message = await notifications.enqueue(who, "tmpl-status", {"thing2": long_thing})
    assert len(message.data["thing2"]) == 20
    await notifications.deliver_due(runtime.wechat)
    assert (await OutboxMessage.get(id=message.id)).status == "sent"  # 47003 otherwise
    assert notifications.fit_value("phrase1", "审核已通过了") == "审核已通过"
    assert notifications.fit_value("date3", "2026-11-25") == "2026-11-25"
