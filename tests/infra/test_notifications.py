"""The outbox of WeChat subscribe messages against the strict fake: sent only with a
subscription credit, nothing lost, no double sends, retries only of what can succeed."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from tortoise.transactions import in_transaction

from infra import notifications
from infra.models import OutboxMessage, SubscriptionCredit, User

SEND = "/cgi-bin/message/subscribe/send"
pytestmark = pytest.mark.usefixtures("quiet_outbox")
TEMPLATE = notifications.default_rules().template("application_status")
TID = TEMPLATE.template_id


async def new_user() -> User:
    return await User.create(openid=f"o-test-{uuid.uuid4().hex[:12]}")


def sent_to(fake, who: str) -> list[dict]:
    return [m for m in fake.sent_messages if m.get("touser") == who]


def sends_to(fake, who: str) -> int:
    return len([c for c in fake.calls_to(SEND) if c.get("touser") == who])


async def accept(fake, who: str, template_id: str = TID, rules=None) -> None:
    """The user taps accept: WeChat counts it, the mini-program reports it to us."""
    fake.user_subscribes(who, {template_id: "accept"})
    await notifications.record_results(who, {template_id: "accept"}, source="client", rules=rules)


async def message(who: User, text: str = "已受理", **kwargs) -> OutboxMessage:
    return await notifications.enqueue(
        who.openid, kwargs.pop("template", TEMPLATE), kwargs.pop("data", {"phrase2": text}),
        user_id=who.id, title="信用修复：测试", content=text, **kwargs,
    )  # fmt: skip


async def credits(who: str, template_id: str = TID) -> int:
    row = await SubscriptionCredit.get_or_none(openid=who, template_id=template_id)
    return row.credits if row else 0


async def pushes_to_service(fake) -> None:
    """What WeChat would push to /wechat/push, handed to the service (HTTP: test_messages)."""
    for pushed in fake.take_pushes():
        await notifications.handle_push(pushed)


async def test_without_a_credit_nothing_is_sent_and_the_message_waits(runtime, fake_wechat):
    who = await new_user()
    stored = await message(who)
    await notifications.deliver_due(runtime.wechat)
    assert sends_to(fake_wechat, who.openid) == 0  # WeChat is not even asked
    assert (await OutboxMessage.get(id=stored.id)).status == "waiting"


async def test_a_credit_sends_one_message_and_is_used_up(runtime, fake_wechat):
    who = await new_user()
    await accept(fake_wechat, who.openid)
    async with in_transaction():
        first = await message(who, "已受理")
    second = await message(who, "已通过")
    await notifications.deliver_due(runtime.wechat)
    await notifications.deliver_due(runtime.wechat)
    assert [m["data"]["phrase2"]["value"] for m in sent_to(fake_wechat, who.openid)] == ["已受理"]
    sent = await OutboxMessage.get(id=first.id)
    assert sent.status == "sent" and sent.sent_at is not None and sent.attempts == 1
    assert sent.wechat_msgid and not sent.credit_held
    assert (await OutboxMessage.get(id=second.id)).status == "waiting"
    assert await credits(who.openid) == 0 and fake_wechat.credits(who.openid, TID) == 0


async def test_a_credit_arriving_sends_the_waiting_message(runtime, fake_wechat):
    who = await new_user()
    stored = await message(who)
    await notifications.deliver_due(runtime.wechat)
    assert (await OutboxMessage.get(id=stored.id)).status == "waiting"
    await accept(fake_wechat, who.openid)
    assert (await OutboxMessage.get(id=stored.id)).status == "pending"
    await notifications.deliver_due(runtime.wechat)
    assert (await OutboxMessage.get(id=stored.id)).status == "sent"
    assert len(sent_to(fake_wechat, who.openid)) == 1


async def test_a_refused_template_is_told_apart_and_still_sent_after_a_later_acceptance(
    runtime, fake_wechat
):
    who = await new_user()
    await notifications.record_results(who.openid, {TID: "reject"}, source="client")
    stored = await message(who)
    await notifications.deliver_due(runtime.wechat)
    assert (await OutboxMessage.get(id=stored.id)).status == "refused"
    await accept(fake_wechat, who.openid)
    await notifications.deliver_due(runtime.wechat)
    assert (await OutboxMessage.get(id=stored.id)).status == "sent"


async def test_a_message_past_its_relevance_expires_and_is_never_sent(runtime, fake_wechat):
    who = await new_user()
    stored = await message(who)
    await OutboxMessage.filter(id=stored.id).update(
        relevant_until=datetime.now(UTC) - timedelta(seconds=1)
    )
    await accept(fake_wechat, who.openid)
    await notifications.deliver_due(runtime.wechat)
    assert (await OutboxMessage.get(id=stored.id)).status == "expired"
    assert sends_to(fake_wechat, who.openid) == 0
    assert await credits(who.openid) == 1  # kept for a message that matters now
    waiting = await message(who)
    await OutboxMessage.filter(id=waiting.id).update(status="waiting")
    await OutboxMessage.filter(id=waiting.id).update(
        relevant_until=datetime.now(UTC) - timedelta(seconds=1)
    )
    await accept(fake_wechat, who.openid)
    assert (await OutboxMessage.get(id=waiting.id)).status == "waiting"  # not woken


def test_relevance_comes_from_config():
    assert notifications.default_rules().wait == timedelta(days=30)


async def test_the_client_report_and_the_push_of_one_tap_are_one_credit(runtime, fake_wechat):
    who = await new_user()
    await accept(fake_wechat, who.openid)  # the mini-program's report …
    await pushes_to_service(fake_wechat)  # … and WeChat's subscribe_msg_popup_event
    assert await credits(who.openid) == 1
    fake_wechat.user_subscribes(who.openid, {TID: "accept"})  # a second tap, pushed first
    await pushes_to_service(fake_wechat)
    await notifications.record_results(who.openid, {TID: "accept"}, source="client")
    assert await credits(who.openid) == 2 == fake_wechat.credits(who.openid, TID)


async def test_a_long_term_template_needs_no_credit_per_send(runtime, fake_wechat):
    long_term = dataclasses.replace(TEMPLATE, key="long", template_id="tmpl-long-term",
                                    long_term=True)  # fmt: skip
    rules = dataclasses.replace(
        notifications.default_rules(),
        templates={**notifications.default_rules().templates, "long": long_term},
    )
    fake_wechat.add_template(long_term.template_id, long_term=True)
    who = await new_user()
    await accept(fake_wechat, who.openid, long_term.template_id, rules=rules)
    for n in range(3):
        await message(who, template=long_term, data={"character_string1": f"N{n}"})
    await notifications.deliver_due(runtime.wechat, rules=rules)
    assert len(sent_to(fake_wechat, who.openid)) == 3
    assert await credits(who.openid, long_term.template_id) == 1
    fake_wechat.user_turns_off(who.openid, long_term.template_id)
    for pushed in fake_wechat.take_pushes():
        await notifications.handle_push(pushed, rules=rules)
    later = await message(who, template=long_term, data={"character_string1": "N9"})
    await notifications.deliver_due(runtime.wechat, rules=rules)
    assert (await OutboxMessage.get(id=later.id)).status == "refused"
    assert len(sent_to(fake_wechat, who.openid)) == 3


async def test_turning_a_template_off_removes_its_credits(runtime, fake_wechat):
    who = await new_user()
    await accept(fake_wechat, who.openid)
    await accept(fake_wechat, who.openid)
    fake_wechat.user_turns_off(who.openid, TID)
    await pushes_to_service(fake_wechat)
    assert await credits(who.openid) == 0
    stored = await message(who)
    await notifications.deliver_due(runtime.wechat)
    assert (await OutboxMessage.get(id=stored.id)).status == "refused"
    assert sends_to(fake_wechat, who.openid) == 0


async def test_43101_despite_a_credit_resets_the_count_and_the_message_waits(runtime, fake_wechat):
    who = await new_user()
    # our count says one, WeChat holds none (e.g. the report came without the tap)
    await notifications.record_results(who.openid, {TID: "accept"}, source="client")
    stored = await message(who)
    await notifications.deliver_due(runtime.wechat)
    waiting = await OutboxMessage.get(id=stored.id)
    assert waiting.status == "waiting" and waiting.last_error.startswith("43101")
    assert await credits(who.openid) == 0 and not waiting.credit_held
    await notifications.deliver_due(runtime.wechat)
    assert sends_to(fake_wechat, who.openid) == 1  # not retried without a credit
    await accept(fake_wechat, who.openid)
    await notifications.deliver_due(runtime.wechat)
    assert (await OutboxMessage.get(id=stored.id)).status == "sent"


@pytest.mark.parametrize(
    ("errcode", "make"),
    [
        (40003, "fail"),
        (40037, "template"),  # a template id the console does not have
        (47003, "value"),  # a phrase that is not 汉字
        (41030, "page"),  # a page the mini-program does not have
    ],
)
async def test_permanent_errors_fail_at_once_logged_with_the_template_key(
    runtime, fake_wechat, caplog, errcode, make
):
    who = await new_user()
    await accept(fake_wechat, who.openid)
    if make == "fail":
        fake_wechat.fail_next(SEND, errcode)
        stored = await message(who)
    elif make == "template":
        stored = await message(who, template=dataclasses.replace(TEMPLATE, template_id="gone"))
        await SubscriptionCredit.create(openid=who.openid, template_id="gone", credits=1)
    elif make == "value":
        stored = await message(who, data={"phrase2": "OK"})
    else:
        stored = await message(who, page="pages/removed/detail?id=1")
    with caplog.at_level(logging.ERROR, logger="infra.notifications"):
        await notifications.deliver_due(runtime.wechat)
    failed = await OutboxMessage.get(id=stored.id)
    assert failed.status == "failed" and failed.last_error.startswith(str(errcode))
    assert failed.attempts == 1
    assert any("application_status" in r.getMessage() for r in caplog.records)
    await OutboxMessage.filter(id=stored.id).update(next_attempt_at=datetime.now(UTC))
    await notifications.deliver_due(runtime.wechat)
    assert sends_to(fake_wechat, who.openid) == 1  # never retried
    if make != "template":
        assert await credits(who.openid) == 1  # WeChat did not take the acceptance


async def test_system_busy_is_retried_with_backoff(runtime, fake_wechat):
    who = await new_user()
    await accept(fake_wechat, who.openid)
    stored = await message(who)
    fake_wechat.fail_next(SEND, -1)
    await notifications.deliver_due(runtime.wechat)
    failed = await OutboxMessage.get(id=stored.id)
    assert failed.status == "pending" and failed.attempts == 1 and failed.credit_held
    assert failed.next_attempt_at > datetime.now(UTC) + timedelta(seconds=20)
    assert failed.last_error.startswith("-1")
    await notifications.deliver_due(runtime.wechat)  # not due yet: nothing happens
    assert (await OutboxMessage.get(id=stored.id)).attempts == 1
    await OutboxMessage.filter(id=stored.id).update(next_attempt_at=datetime.now(UTC))
    await notifications.deliver_due(runtime.wechat)
    assert (await OutboxMessage.get(id=stored.id)).status == "sent"
    assert len(sent_to(fake_wechat, who.openid)) == 1
    assert await credits(who.openid) == 0  # one acceptance, one message


async def test_transient_failures_stop_at_the_configured_attempts(runtime, fake_wechat):
    who = await new_user()
    await accept(fake_wechat, who.openid)
    stored = await message(who)
    rules = dataclasses.replace(notifications.default_rules(), max_attempts=2)
    fake_wechat.fail_next(SEND, -1, times=2)
    for _ in range(2):
        await notifications.deliver_due(runtime.wechat, rules=rules)
        await OutboxMessage.filter(id=stored.id).update(next_attempt_at=datetime.now(UTC))
    failed = await OutboxMessage.get(id=stored.id)
    assert failed.status == "failed" and failed.attempts == 2
    assert await credits(who.openid) == 1


async def test_a_timed_out_send_that_wechat_delivered_is_not_sent_again(runtime, fake_wechat):
    """The client gives up after 2 s (tests' WECHAT_TIMEOUT_SECONDS); the fake still sends."""
    who = await new_user()
    await accept(fake_wechat, who.openid)
    stored = await message(who)
    fake_wechat.delay_next(SEND, 2.6)
    await notifications.deliver_due(runtime.wechat)
    unsure = await OutboxMessage.get(id=stored.id)
    assert unsure.status == "unconfirmed" and unsure.credit_held
    await asyncio.sleep(1.0)  # the fake finishes the send WeChat-side
    await notifications.deliver_due(runtime.wechat)
    assert sends_to(fake_wechat, who.openid) == 1  # not resent while unconfirmed
    await pushes_to_service(fake_wechat)  # subscribe_msg_sent_event
    delivered = await OutboxMessage.get(id=stored.id)
    assert delivered.status == "sent" and delivered.delivery_result == "0 success"
    assert delivered.wechat_msgid
    await OutboxMessage.filter(id=stored.id).update(next_attempt_at=datetime.now(UTC))
    await notifications.deliver_due(runtime.wechat)
    assert len(sent_to(fake_wechat, who.openid)) == 1


async def test_a_timed_out_send_without_a_report_is_resent_after_the_window(runtime, fake_wechat):
    who = await new_user()
    await accept(fake_wechat, who.openid)
    stored = await message(who)
    fake_wechat.delay_next(SEND, 2.6)
    fake_wechat.fail_next(SEND, -1)  # WeChat did not take it either
    await notifications.deliver_due(runtime.wechat)
    unsure = await OutboxMessage.get(id=stored.id)
    assert unsure.status == "unconfirmed"
    assert unsure.next_attempt_at > datetime.now(UTC) + timedelta(seconds=500)
    await asyncio.sleep(0.8)
    await OutboxMessage.filter(id=stored.id).update(next_attempt_at=datetime.now(UTC))
    await notifications.deliver_due(runtime.wechat)
    assert (await OutboxMessage.get(id=stored.id)).status == "sent"
    assert len(sent_to(fake_wechat, who.openid)) == 1
    assert await credits(who.openid) == 0  # the held credit, not a second one


async def test_a_failed_delivery_report_is_recorded_on_the_row(runtime, fake_wechat):
    who = await new_user()
    await accept(fake_wechat, who.openid)
    stored = await message(who)
    await notifications.deliver_due(runtime.wechat)
    msgid = (await OutboxMessage.get(id=stored.id)).wechat_msgid
    report = {
        "ToUserName": "gh_fake0000000", "FromUserName": who.openid, "CreateTime": 1700000000,
        "MsgType": "event", "Event": "subscribe_msg_sent_event",
        "List": {"TemplateId": TID, "MsgID": msgid, "ErrorCode": "20004",
                 "ErrorStatus": "user refuse to accept the msg"},
    }  # fmt: skip
    assert await notifications.handle_push(report) is True
    row = await OutboxMessage.get(id=stored.id)
    assert row.status == "failed" and row.delivery_result.startswith("20004")
    assert await notifications.handle_push(report) is False  # a replay changes nothing


async def test_a_replayed_popup_event_counts_once(runtime, fake_wechat):
    who = await new_user()
    fake_wechat.user_subscribes(who.openid, {TID: "accept"})
    [popup] = fake_wechat.take_pushes()
    assert await notifications.handle_push(popup) is True
    assert await notifications.handle_push(dict(popup)) is False
    assert await credits(who.openid) == 1


async def test_a_worker_killed_mid_send_leaves_the_message_to_another(runtime, fake_wechat):
    who = await new_user()
    await accept(fake_wechat, who.openid)
    stored = await message(who)
    # The first worker claimed it, took the credit and died before sending; its lease ran out.
    await SubscriptionCredit.filter(openid=who.openid).update(credits=0)
    await OutboxMessage.filter(id=stored.id).update(
        status="sending", credit_held=True, claimed_until=datetime.now(UTC) - timedelta(seconds=1)
    )
    await notifications.deliver_due(runtime.wechat)
    assert (await OutboxMessage.get(id=stored.id)).status == "sent"
    assert len(sent_to(fake_wechat, who.openid)) == 1


async def test_a_live_claim_is_not_taken_over(runtime, fake_wechat):
    who = await new_user()
    await accept(fake_wechat, who.openid)
    stored = await message(who)
    await OutboxMessage.filter(id=stored.id).update(
        status="sending", claimed_until=datetime.now(UTC) + timedelta(seconds=60)
    )
    await notifications.deliver_due(runtime.wechat)
    assert sent_to(fake_wechat, who.openid) == []


async def test_concurrent_workers_send_each_message_once_and_spend_each_credit_once(
    runtime, fake_wechat
):
    who = await new_user()
    for _ in range(7):
        await accept(fake_wechat, who.openid)
    for n in range(10):
        await message(who, data={"character_string1": f"A{n}"})
    await asyncio.gather(*(notifications.deliver_due(runtime.wechat) for _ in range(3)))
    values = sorted(
        m["data"]["character_string1"]["value"] for m in sent_to(fake_wechat, who.openid)
    )
    assert values == sorted(f"A{n}" for n in range(7))
    assert sends_to(fake_wechat, who.openid) == 7  # no call without a credit
    rows = await OutboxMessage.filter(openid=who.openid)
    assert sorted(r.status for r in rows) == ["sent"] * 7 + ["waiting"] * 3
    assert await credits(who.openid) == 0


async def test_values_are_cut_to_wechat_limits(runtime, fake_wechat):
    who = await new_user()
    await accept(fake_wechat, who.openid)
    long_thing = "您的信用修复申请已经审核通过并已停止公示相关记录"
    assert len(long_thing) > 20
    stored = await message(who, data={"thing1": long_thing})
    assert len(stored.data["thing1"]) == 20
    await notifications.deliver_due(runtime.wechat)
    assert (await OutboxMessage.get(id=stored.id)).status == "sent"  # 47003 otherwise
    assert notifications.fit_value("phrase1", "审核已通过了") == "审核已通过"
    assert notifications.fit_value("date3", "2026-11-25") == "2026-11-25"


async def test_a_dedupe_key_makes_one_notification(runtime):
    who = await new_user()
    values = {"title": "信用修复：测试", "status": "已超期", "time": "2026-01-01 10:00",
              "note": "已超过办理期限"}  # fmt: skip
    first = await notifications.notify(
        who.id, "application_status", values, title="t", content="c", dedupe_key=f"k:{who.id}"
    )
    again = await notifications.notify(
        who.id, "application_status", values, title="t", content="c", dedupe_key=f"k:{who.id}"
    )
    assert first is not None and again is None
    assert await OutboxMessage.filter(user_id=who.id).count() == 1


def test_config_refuses_a_page_outside_the_page_list(tmp_path):
    from infra.settings import CONFIG_DIR

    text = (CONFIG_DIR / "messages.toml").read_text(encoding="utf-8")
    bad = tmp_path / "messages.toml"
    bad.write_text(
        text.replace('page = "pages/merchants/detail"', 'page = "pages/nowhere"'), "utf-8"
    )
    with pytest.raises(ValueError, match="41030"):
        notifications.MessageRules.load(bad)
