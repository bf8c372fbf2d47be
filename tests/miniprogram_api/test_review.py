"""The credit centre's side: queues, the overdue list, role checks, racing decisions, reads
audited, and the applicant told through the outbox."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from credit.applications.models import Application
from credit.calendar_dates import today
from infra import notifications
from infra.audit import drain
from infra.models import AuditEntry, OutboxMessage
from tests.helpers import bound_citizen, make_record, subscribe
from tests.miniprogram_api.test_applications import decide, repair

SEND = "/cgi-bin/message/subscribe/send"


async def test_queues_need_a_reviewer_and_decisions_need_the_reviewer_role(client, login):
    headers, _, subject_id, _ = await bound_citizen(client, login)
    admin = await login("demo-admin")
    merchant = await login("demo-merchant")
    application_id = (await repair(client, headers, (await make_record(subject_id)).id)).json()[
        "id"
    ]
    for caller in (headers, merchant):
        assert (await client.get("/api/v1/admin/repairs", headers=caller)).status_code == 403
        assert (
            await client.get(f"/api/v1/admin/repairs/{application_id}", headers=caller)
        ).status_code == 403
        refused = await decide(client, caller, "repairs", application_id, "accept")
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "ROLE_REQUIRED"
    assert (await client.get("/api/v1/admin/repairs")).status_code == 401
    assert (await client.get("/api/v1/admin/repairs", headers=admin)).status_code == 200
    assert (await decide(client, admin, "repairs", application_id, "accept")).status_code == 403
    assert (await Application.get(id=application_id)).status == "submitted"


async def test_queue_filters_and_overdue_list(client, login):
    headers, _, subject_id, _ = await bound_citizen(client, login)
    reviewer = await login("demo-reviewer")
    late_id = (await repair(client, headers, (await make_record(subject_id)).id)).json()["id"]
    fresh_id = (await repair(client, headers, (await make_record(subject_id)).id)).json()["id"]
    await Application.filter(id=late_id).update(due_on=today() - timedelta(days=1))

    overdue = (await client.get("/api/v1/admin/repairs?overdue=true", headers=reviewer)).json()
    ids = [item["id"] for item in overdue["items"]]
    assert late_id in ids and fresh_id not in ids
    assert all(item["overdue"] for item in overdue["items"])

    await decide(client, reviewer, "repairs", fresh_id, "accept")
    accepted = await _all_pages(client, reviewer, "/api/v1/admin/repairs?status=accepted")
    assert fresh_id in accepted and late_id not in accepted
    bad = await client.get("/api/v1/admin/repairs?status=done", headers=reviewer)
    assert bad.status_code == 422 and "status" in bad.json()["error"]["fields"]
    detail = (await client.get(f"/api/v1/admin/repairs/{late_id}", headers=reviewer)).json()
    assert detail["overdue"] is True and detail["subject"]["id_masked"].count("*") == 10
    assert detail["history"][0]["actor_role"] == "applicant"


async def _all_pages(client, headers, path: str) -> list[int]:
    ids: list[int] = []
    cursor = None
    while True:
        url = path + (f"&cursor={cursor}" if cursor else "")
        body = (await client.get(url, headers=headers)).json()
        ids += [item["id"] for item in body["items"]]
        cursor = body["next"]
        if cursor is None:
            return ids


async def test_two_reviewers_deciding_at_once_one_wins(client, login):
    headers, _, subject_id, _ = await bound_citizen(client, login)
    first = await login("demo-reviewer")
    second = await login("demo-reviewer")
    for decision_pair in (("accept", "reject"), ("approve", "deny")):
        application_id = (await repair(client, headers, (await make_record(subject_id)).id)).json()[
            "id"
        ]
        if decision_pair[0] == "approve":
            await decide(client, first, "repairs", application_id, "accept")
        answers = await asyncio.gather(
            decide(client, first, "repairs", application_id, decision_pair[0], note="同意"),
            decide(client, second, "repairs", application_id, decision_pair[1], note="不同意"),
        )
        codes = sorted(answer.status_code for answer in answers)
        assert codes == [200, 409], [a.text for a in answers]
        loser = next(a for a in answers if a.status_code == 409)
        assert loser.json()["error"]["code"] in {
            "APPLICATION_STATE_CHANGED",
            "APPLICATION_CLOSED",
            "DECISION_NOT_ALLOWED",
        }
        winner = next(a for a in answers if a.status_code == 200).json()
        stored = await Application.get(id=application_id)
        assert stored.status == winner["status"]
        assert len(winner["history"]) == (2 if decision_pair[0] == "accept" else 3)


async def test_reviewer_reads_are_listed_in_who_read_my_record(client, login, runtime):
    headers, _, subject_id, _ = await bound_citizen(client, login)
    reviewer = await login("demo-reviewer")
    application_id = (await repair(client, headers, (await make_record(subject_id)).id)).json()[
        "id"
    ]
    assert (
        await client.get(f"/api/v1/admin/repairs/{application_id}", headers=reviewer)
    ).status_code == 200
    queries = (await client.get("/api/v1/me/credit/queries", headers=headers)).json()["items"]
    assert any(q["actor_kind"] == "reviewer" and q["purpose"] == "信用修复审核" for q in queries)
    await drain(runtime.redis, runtime.keys, wait=2.0)
    entry = await AuditEntry.filter(subject_id=subject_id, action="credit.read").first()
    assert entry.detail == {"application_id": application_id}


@pytest.mark.usefixtures("quiet_outbox")
async def test_status_messages_fit_wechat_limits_and_survive_failures(
    client, login, runtime, fake_wechat
):
    headers, _, subject_id, openid = await bound_citizen(client, login)
    reviewer = await login("demo-reviewer")
    await subscribe(client, headers, fake_wechat, openid)
    long_title = "行政处罚：" + "未按规定在景区内设置安全警示标志并及时整改" * 2
    record = await make_record(subject_id, title=long_title)
    application_id = (await repair(client, headers, record.id)).json()["id"]
    await decide(client, reviewer, "repairs", application_id, "accept")

    # Committed with the change, before any attempt to send: a crash here loses nothing.
    # Submitting sends nothing (the applicant's own step): the one acceptance is the decision's.
    [message] = await OutboxMessage.filter(openid=openid).order_by("id")
    assert len(message.data["thing1"]) <= 20 and message.data["thing1"].startswith("信用修复：")
    assert message.data["phrase2"] == "已受理" and len(message.data["phrase2"]) <= 5
    assert message.page == f"pages/applications/detail?kind=repair&id={application_id}"

    fake_wechat.fail_next(SEND, -1, times=5)
    for _ in range(5):
        await notifications.deliver_due(runtime.wechat)
        await OutboxMessage.filter(openid=openid, status="pending").update(
            next_attempt_at=message.created_at
        )
    for _ in range(3):
        await notifications.deliver_due(runtime.wechat)
    delivered = [m for m in fake_wechat.sent_messages if m.get("touser") == openid]
    assert [m["data"]["phrase2"]["value"] for m in delivered] == ["已受理"]
    assert {m.status for m in await OutboxMessage.filter(openid=openid)} == {"sent"}


@pytest.mark.usefixtures("quiet_outbox")
async def test_a_decision_without_a_subscription_waits_and_goes_out_once_subscribed(
    client, login, runtime, fake_wechat
):
    headers, _, subject_id, openid = await bound_citizen(client, login)
    reviewer = await login("demo-reviewer")
    application_id = (await repair(client, headers, (await make_record(subject_id)).id)).json()[
        "id"
    ]
    await decide(client, reviewer, "repairs", application_id, "accept")
    for _ in range(3):
        await notifications.deliver_due(runtime.wechat)
    stored = await OutboxMessage.get(openid=openid)
    assert stored.status == "waiting" and stored.attempts == 0
    assert [c for c in fake_wechat.calls_to(SEND) if c.get("touser") == openid] == []
    inbox = (await client.get("/api/v1/me/messages", headers=headers)).json()
    assert inbox["items"][0]["delivery"] == "waiting_for_subscription"
    await subscribe(client, headers, fake_wechat, openid)
    await notifications.deliver_due(runtime.wechat)
    # The app's own outbox loop may have claimed it first: let that delivery finish.
    for _ in range(50):
        if (await OutboxMessage.get(openid=openid)).status != "sending":
            break
        await asyncio.sleep(0.1)
    assert (await OutboxMessage.get(openid=openid)).status == "sent"
