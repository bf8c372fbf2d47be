"""Consumer complaints (scenarios/merchants/complaints.py): reply, uphold and the merchant level,
and content security of the text."""

from __future__ import annotations

from infra.models import OutboxMessage
from scenarios.merchants.models import Complaint
from scenarios.merchants.rules import default_rules
from tests.helpers import bound_citizen
from tests.scenarios.merchants.support import active_merchant, scan


async def test_complaint_reply_and_upheld_complaint_lowers_the_level(client, login):
    operator, merchant = await active_merchant(client, login)
    code = merchant["code"]
    citizen, citizen_id, *_ = await bound_citizen(client, login)
    before = await scan(client, code)
    made = await client.post(
        f"/api/v1/merchant-codes/{code}/complaints",
        headers=citizen,
        json={"content": "结账时多收了 20 元"},
    )
    assert made.status_code == 201, made.text
    complaint_id = made.json()["id"]
    assert (await scan(client, code))["complaints"] == {"total": 1, "upheld": 0}

    listed = (
        await client.get(f"/api/v1/merchants/{merchant['id']}/complaints", headers=operator)
    ).json()
    assert [c["content"] for c in listed["items"]] == ["结账时多收了 20 元"]
    other, *_ = await bound_citizen(client, login)
    assert (
        await client.get(f"/api/v1/merchants/{merchant['id']}/complaints", headers=other)
    ).status_code == 404
    assert (
        await client.post(
            f"/api/v1/complaints/{complaint_id}/reply", headers=other, json={"reply": "不是我们"}
        )
    ).status_code == 404
    replied = await client.post(
        f"/api/v1/complaints/{complaint_id}/reply",
        headers=operator,
        json={"reply": "已核实并退还差价"},
    )
    assert replied.status_code == 200 and replied.json()["status"] == "replied"

    staff = await login("demo-reviewer")
    decide = f"/api/v1/admin/complaints/{complaint_id}/decision"
    assert (
        await client.post(decide, headers=citizen, json={"decision": "uphold"})
    ).status_code == 403
    assert (
        await client.post(decide, headers=staff, json={"decision": "dismiss"})
    ).status_code == 422
    upheld = await client.post(
        decide, headers=staff, json={"decision": "uphold", "note": "多收费属实"}
    )
    assert upheld.status_code == 200 and upheld.json()["status"] == "upheld"
    assert (
        await client.post(decide, headers=staff, json={"decision": "dismiss", "note": "x"})
    ).status_code == 409

    after = await scan(client, code)
    assert after["complaints"] == {"total": 1, "upheld": 1}
    assert after["level"]["score"] == before["level"]["score"] - default_rules().complaint_points
    mine = (await client.get("/api/v1/me/complaints", headers=citizen)).json()["items"]
    assert [(c["id"], c["status"]) for c in mine] == [(complaint_id, "upheld")]
    assert (await Complaint.get(id=complaint_id)).complainant_id == citizen_id


async def test_complaint_text_goes_through_content_security(client, login):
    operator, merchant = await active_merchant(client, login)
    code = merchant["code"]
    citizen, citizen_id, *_ = await bound_citizen(client, login)
    risky = await client.post(
        f"/api/v1/merchant-codes/{code}/complaints",
        headers=citizen,
        json={"content": "这是违禁的内容"},
    )
    assert risky.status_code == 422 and risky.json()["error"]["code"] == "CONTENT_RISKY"
    assert await Complaint.filter(complainant_id=citizen_id).count() == 0
    held = await client.post(
        f"/api/v1/merchant-codes/{code}/complaints",
        headers=citizen,
        json={"content": "这条内容待审核"},
    )
    assert held.status_code == 201
    seen_by_merchant = (
        await client.get(f"/api/v1/merchants/{merchant['id']}/complaints", headers=operator)
    ).json()
    assert seen_by_merchant["items"][0]["content"] == "（内容审核中）"
    staff = await login("demo-reviewer")
    queue = (await client.get("/api/v1/admin/complaints", headers=staff)).json()["items"]
    mine = next(c for c in queue if c["id"] == held.json()["id"])
    assert mine["content"] == "这条内容待审核" and mine["moderation"] == "review"
    own = await client.post(
        f"/api/v1/merchant-codes/{code}/complaints",
        headers=operator,
        json={"content": "自己投诉自己"},
    )
    assert own.status_code == 403


async def complaint_to_reply(client, login):  # type: ignore[no-untyped-def]
    operator, merchant = await active_merchant(client, login)
    citizen, *_ = await bound_citizen(client, login)
    made = await client.post(
        f"/api/v1/merchant-codes/{merchant['code']}/complaints",
        headers=citizen,
        json={"content": "结账时多收了 20 元"},
    )
    assert made.status_code == 201, made.text
    return operator, citizen, merchant, made.json()["id"]


async def test_merchant_reply_goes_through_content_security(client, login, fake_wechat):
    operator, citizen, _, complaint_id = await complaint_to_reply(client, login)
    reply = f"/api/v1/complaints/{complaint_id}/reply"
    risky = await client.post(reply, headers=operator, json={"reply": "回复里有违禁的内容"})
    assert risky.status_code == 422 and risky.json()["error"]["code"] == "CONTENT_RISKY"
    assert risky.json()["error"]["fields"] == {"reply": "内容未通过安全检测"}
    row = await Complaint.get(id=complaint_id)
    assert (row.reply, row.status) == (None, "submitted")
    check = fake_wechat.calls_to("/wxa/msg_sec_check")[-1]
    assert check["content"] == "回复里有违禁的内容" and check["scene"] == 2

    held = await client.post(reply, headers=operator, json={"reply": "这条回复待审核"})
    assert held.status_code == 200 and held.json()["reply"] == "这条回复待审核"  # the author's
    assert (await Complaint.get(id=complaint_id)).reply_moderation == "review"
    mine = (await client.get("/api/v1/me/complaints", headers=citizen)).json()["items"]
    assert [c["reply"] for c in mine] == ["（内容审核中）"]
    staff = await login("demo-reviewer")
    queue = (await client.get("/api/v1/admin/complaints", headers=staff)).json()["items"]
    seen = next(c for c in queue if c["id"] == complaint_id)
    assert seen["reply"] == "这条回复待审核" and seen["reply_moderation"] == "review"

    # Once staff have decided, the complainant sees the reply they read.
    decided = await client.post(
        f"/api/v1/admin/complaints/{complaint_id}/decision",
        headers=staff,
        json={"decision": "dismiss", "note": "商户已说明"},
    )
    assert decided.status_code == 200
    mine = (await client.get("/api/v1/me/complaints", headers=citizen)).json()["items"]
    assert [c["reply"] for c in mine] == ["这条回复待审核"]
    assert (await Complaint.get(id=complaint_id)).reply_moderation == "pass"


async def test_merchant_reply_is_held_when_wechat_is_down(client, login, fake_wechat):
    operator, citizen, _, complaint_id = await complaint_to_reply(client, login)
    fake_wechat.fail_next("/wxa/msg_sec_check", -1, times=2)  # busy, and on the retry
    replied = await client.post(
        f"/api/v1/complaints/{complaint_id}/reply", headers=operator, json={"reply": "已退款"}
    )
    assert replied.status_code == 200 and replied.json()["status"] == "replied"
    assert (await Complaint.get(id=complaint_id)).reply_moderation == "review"
    mine = (await client.get("/api/v1/me/complaints", headers=citizen)).json()["items"]
    assert [c["reply"] for c in mine] == ["（内容审核中）"]


async def test_a_reply_that_passes_is_shown_to_the_complainant(client, login):
    operator, citizen, _, complaint_id = await complaint_to_reply(client, login)
    replied = await client.post(
        f"/api/v1/complaints/{complaint_id}/reply", headers=operator, json={"reply": "已退款"}
    )
    assert replied.status_code == 200
    assert (await Complaint.get(id=complaint_id)).reply_moderation == "pass"
    mine = (await client.get("/api/v1/me/complaints", headers=citizen)).json()["items"]
    assert [c["reply"] for c in mine] == ["已退款"]
    # Another merchant's operator cannot reply to it (object-level check).
    other, _ = await active_merchant(client, login)
    foreign = await client.post(
        f"/api/v1/complaints/{complaint_id}/reply", headers=other, json={"reply": "不是我们"}
    )
    assert foreign.status_code == 404


async def test_the_outcome_tells_the_complainant_and_the_operator(client, login):
    operator, merchant = await active_merchant(client, login)
    operator_id = (await client.get("/api/v1/me", headers=operator)).json()["id"]
    citizen, citizen_id, *_ = await bound_citizen(client, login)
    made = await client.post(
        f"/api/v1/merchant-codes/{merchant['code']}/complaints",
        headers=citizen,
        json={"content": "菜品与图片严重不符"},
    )
    assert made.status_code == 201
    assert await OutboxMessage.filter(user_id=citizen_id).count() == 0  # their own step
    staff = await login("demo-reviewer")
    dismissed = await client.post(
        f"/api/v1/admin/complaints/{made.json()['id']}/decision",
        headers=staff,
        json={"decision": "dismiss", "note": "经核实菜品与图片一致"},
    )
    assert dismissed.status_code == 200, dismissed.text
    [to_citizen] = await OutboxMessage.filter(user_id=citizen_id)
    to_operator = await OutboxMessage.filter(user_id=operator_id).order_by("-id").first()
    for told in (to_citizen, to_operator):
        assert told.template_key == "complaint_outcome" and told.data["phrase2"] == "不成立"
        assert told.content == "经核实菜品与图片一致"
    assert to_citizen.title.startswith("您对") and to_operator.title.endswith("不成立")
