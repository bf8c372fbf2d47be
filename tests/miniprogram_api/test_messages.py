"""Messages (API.md "Messages"): subscriptions reported by the mini-program, the message centre
(every notification, its delivery state, read marks, only the user's own), and WeChat's message
push at /wechat/push (signature, plain and 安全模式, JSON and XML, replays)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from infra import notifications
from infra.models import OutboxMessage, SubscriptionCredit, User
from tests.helpers import subscribe, unique_code

TID = notifications.default_rules().template("application_status").template_id
VALUES = {"title": "信用修复：测试记录", "status": "已通过", "time": "2026-01-05 10:00",
          "note": "同意修复"}  # fmt: skip


async def user_of(client, headers) -> User:
    me = (await client.get("/api/v1/me", headers=headers)).json()
    return await User.get(id=me["id"])


async def credits(openid: str, template_id: str = TID) -> int:
    row = await SubscriptionCredit.get_or_none(openid=openid, template_id=template_id)
    return row.credits if row else 0


async def notice(user: User, title: str = "信用修复：测试记录（已通过）") -> OutboxMessage:
    made = await notifications.notify(
        user.id, "application_status", VALUES, title=title, content="同意修复", page_query="id=1"
    )
    assert made is not None
    return made


# -- subscriptions -------------------------------------------------------------------------------


async def test_reporting_subscriptions_gives_credits(client, login, fake_wechat):
    headers = await login(unique_code())
    user = await user_of(client, headers)
    reported = await subscribe(client, headers, fake_wechat, user.openid)
    mine = {i["template"]: i for i in reported["items"]}
    assert mine["application_status"]["credits"] == 1
    assert mine["application_status"]["long_term"] is False
    again = await subscribe(client, headers, fake_wechat, user.openid)
    assert {i["template"]: i["credits"] for i in again["items"]}["application_status"] == 2
    rejected = await subscribe(client, headers, fake_wechat, user.openid, result="reject")
    assert {i["template"]: i["credits"] for i in rejected["items"]}["application_status"] == 2
    listed = (await client.get("/api/v1/me/subscriptions", headers=headers)).json()
    assert {i["template"]: i["credits"] for i in listed["items"]}["application_status"] == 2
    row = await SubscriptionCredit.get(openid=user.openid, template_id=TID)
    assert row.last_result == "reject"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "results"),
        ({"results": {}}, "results"),
        ({"results": {TID: "maybe"}}, f"results.{TID}"),
        ({"results": {TID: 1}}, f"results.{TID}"),
        ({"results": {"someone-elses-template": "accept"}}, "results.someone-elses-template"),
        ({"results": ["accept"]}, "results"),
    ],
)
async def test_bad_subscription_reports_are_422(client, login, body, field):
    headers = await login(unique_code())
    response = await client.post("/api/v1/me/subscriptions", headers=headers, json=body)
    assert response.status_code == 422, response.text
    assert field in response.json()["error"]["fields"]
    assert await credits((await user_of(client, headers)).openid) == 0


async def test_subscriptions_need_a_login(client):
    body = {"results": {TID: "accept"}}
    assert (await client.post("/api/v1/me/subscriptions", json=body)).status_code == 401
    assert (await client.get("/api/v1/me/subscriptions")).status_code == 401
    assert (await client.get("/api/v1/me/messages")).status_code == 401
    assert (await client.post("/api/v1/me/messages/1/read")).status_code == 401


# -- the message centre -------------------------------------------------------------------------


async def test_the_message_centre_pages_counts_unread_and_marks_read(client, login):
    headers = await login(unique_code())
    user = await user_of(client, headers)
    made = [await notice(user, f"第{n}条") for n in range(23)]
    first = (await client.get("/api/v1/me/messages", headers=headers)).json()
    assert first["unread"] == 23 and len(first["items"]) == 20 and first["next"]
    assert [i["title"] for i in first["items"]][:2] == ["第22条", "第21条"]  # newest first
    item = first["items"][0]
    assert item["template"] == "application_status" and item["content"] == "同意修复"
    assert item["page"] == "pages/applications/detail?id=1" and item["read"] is False
    assert item["delivery"] == "queued" and item["created_at"].endswith("+08:00")
    rest = (await client.get(f"/api/v1/me/messages?cursor={first['next']}", headers=headers)).json()
    assert [i["title"] for i in rest["items"]] == ["第2条", "第1条", "第0条"]
    assert rest["next"] is None

    read = await client.post(f"/api/v1/me/messages/{made[0].id}/read", headers=headers)
    assert read.status_code == 200, read.text
    assert read.json()["read"] is True and read.json()["unread"] == 22
    again = await client.post(f"/api/v1/me/messages/{made[0].id}/read", headers=headers)
    assert again.json()["unread"] == 22 and again.json()["read_at"] == read.json()["read_at"]
    assert (await OutboxMessage.get(id=made[0].id)).read_at is not None
    bad = await client.get("/api/v1/me/messages?cursor=abc", headers=headers)
    assert bad.status_code == 422


async def test_a_user_never_sees_or_marks_another_users_messages(client, login):
    alice_headers = await login(unique_code("alice"))
    bob_headers = await login(unique_code("bob"))
    alice = await user_of(client, alice_headers)
    hers = await notice(alice)
    bobs = (await client.get("/api/v1/me/messages", headers=bob_headers)).json()
    assert bobs["items"] == [] and bobs["unread"] == 0
    for message_id in (str(hers.id), "abc", "99999999999999999999", "-1"):
        response = await client.post(f"/api/v1/me/messages/{message_id}/read", headers=bob_headers)
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "MESSAGE_NOT_FOUND"
    assert (await OutboxMessage.get(id=hers.id)).read_at is None
    alices = (await client.get("/api/v1/me/messages", headers=alice_headers)).json()
    assert alices["unread"] == 1


@pytest.mark.parametrize(
    ("status", "delivery"),
    [
        ("pending", "queued"),
        ("unconfirmed", "queued"),
        ("sent", "sent"),
        ("waiting", "waiting_for_subscription"),
        ("refused", "refused"),
        ("failed", "failed"),
        ("expired", "expired"),
    ],
)
async def test_each_entry_says_how_wechat_delivered_it(client, login, status, delivery):
    headers = await login(unique_code())
    made = await notice(await user_of(client, headers))
    await OutboxMessage.filter(id=made.id).update(status=status)
    [item] = (await client.get("/api/v1/me/messages", headers=headers)).json()["items"]
    assert item["delivery"] == delivery and item["delivery_label"]


# -- WeChat's message push ----------------------------------------------------------------------


def popup(openid: str, result: str = "accept", *, at: int | None = None) -> dict:
    return {
        "ToUserName": "gh_fake0000000", "FromUserName": openid,
        "CreateTime": at or int(datetime.now(UTC).timestamp()), "MsgType": "event",
        "Event": "subscribe_msg_popup_event",
        "List": [{"TemplateId": TID, "SubscribeStatusString": result, "PopupScene": "0"}],
    }  # fmt: skip


async def push(client, fake_wechat, settings, message, *, safe=False, fmt="json", **tamper):
    query, body, content_type = fake_wechat.push_request(
        message,
        token=settings.wechat_push_token,
        aes_key=settings.wechat_push_aes_key if safe else None,
        fmt=fmt,
    )
    query.update(tamper)
    return await client.post(
        "/wechat/push", params=query, content=body, headers={"Content-Type": content_type}
    )


async def test_the_console_check_echoes_echostr_only_with_the_right_signature(
    client, fake_wechat, settings
):
    query, _, _ = fake_wechat.push_request({}, token=settings.wechat_push_token)
    good = await client.get("/wechat/push", params=query | {"echostr": "1234567890abc"})
    assert good.status_code == 200 and good.text == "1234567890abc"
    bad = await client.get("/wechat/push", params=query | {"echostr": "x", "signature": "0" * 40})
    assert bad.status_code == 403 and bad.json()["error"]["code"] == "SIGNATURE_INVALID"
    assert (await client.get("/wechat/push", params={"echostr": "x"})).status_code == 403


@pytest.mark.parametrize(("safe", "fmt"), [(False, "json"), (False, "xml"), (True, "json"),
                                           (True, "xml")])  # fmt: skip
async def test_a_popup_event_gives_a_credit_in_every_mode_and_format(
    client, fake_wechat, settings, safe, fmt
):
    openid = f"o-push-{uuid.uuid4().hex[:10]}"
    at = int(datetime.now(UTC).timestamp())  # a replay is the same message, the same second
    response = await push(client, fake_wechat, settings, popup(openid, at=at), safe=safe, fmt=fmt)
    assert response.status_code == 200 and response.text == "success", response.text
    assert await credits(openid) == 1
    replay = await push(client, fake_wechat, settings, popup(openid, at=at), safe=safe, fmt=fmt)
    assert replay.status_code == 200  # WeChat stops retrying, nothing counted twice
    assert await credits(openid) == 1


async def test_bad_signatures_are_403_and_change_nothing(client, fake_wechat, settings):
    openid = f"o-push-{uuid.uuid4().hex[:10]}"
    for safe, tamper in (
        (False, {"signature": "0" * 40}),
        (True, {"msg_signature": "0" * 40}),
        (False, {"timestamp": "1"}),
    ):
        response = await push(client, fake_wechat, settings, popup(openid), safe=safe, **tamper)
        assert response.status_code == 403, response.text
    query, body, ct = fake_wechat.push_request(popup(openid), token="SomeoneElsesToken")
    response = await client.post(
        "/wechat/push", params=query, content=body, headers={"Content-Type": ct}
    )
    assert response.status_code == 403
    assert await credits(openid) == 0


async def test_a_push_that_is_not_a_message_is_400(client, fake_wechat, settings):
    query, _, _ = fake_wechat.push_request({}, token=settings.wechat_push_token)
    for body in (b"not json", b"<xml><unclosed>", b"[1, 2]", "\xff".encode("latin-1")):
        response = await client.post("/wechat/push", params=query, content=body)
        assert response.status_code == 400, (body, response.text)


async def test_turning_a_template_off_through_a_push_removes_its_credits(
    client, fake_wechat, settings
):
    openid = f"o-push-{uuid.uuid4().hex[:10]}"
    await push(client, fake_wechat, settings, popup(openid), safe=True)
    change = popup(openid, "reject") | {"Event": "subscribe_msg_change_event"}
    change["List"] = [{"TemplateId": TID, "SubscribeStatusString": "reject"}]
    response = await push(client, fake_wechat, settings, change, safe=True, fmt="xml")
    assert response.status_code == 200
    assert await credits(openid) == 0


@pytest.mark.usefixtures("quiet_outbox")
async def test_a_sent_event_in_xml_records_the_delivery(client, login, runtime, fake_wechat,
                                                        settings):  # fmt: skip
    headers = await login(unique_code())
    user = await user_of(client, headers)
    await subscribe(client, headers, fake_wechat, user.openid)
    made = await notice(user)
    fake_wechat.delay_next("/cgi-bin/message/subscribe/send", 2.6)
    await notifications.deliver_due(runtime.wechat)
    assert (await OutboxMessage.get(id=made.id)).status == "unconfirmed"
    await asyncio.sleep(1.0)  # the fake finishes the send WeChat-side
    [sent] = [p for p in fake_wechat.take_pushes() if p["Event"] == "subscribe_msg_sent_event"]
    response = await push(client, fake_wechat, settings, sent, safe=True, fmt="xml")
    assert response.status_code == 200
    row = await OutboxMessage.get(id=made.id)
    assert row.status == "sent" and row.wechat_msgid == sent["List"][0]["MsgID"]
    [item] = (await client.get("/api/v1/me/messages", headers=headers)).json()["items"]
    assert item["delivery"] == "sent"


async def test_the_same_event_retried_in_another_mode_counts_once(client, fake_wechat, settings):
    openid = f"o-push-{uuid.uuid4().hex[:10]}"
    at = int((datetime.now(UTC) - timedelta(minutes=5)).timestamp())
    await push(client, fake_wechat, settings, popup(openid, at=at))
    await push(client, fake_wechat, settings, popup(openid, at=at), safe=True)
    assert await credits(openid) == 1
