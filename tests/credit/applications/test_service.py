"""Who is told what about an application (credit/applications/service.py): nothing for the
applicant's own steps, a notification for every decision, and one when a repair's deadline
passes."""

from __future__ import annotations

from datetime import timedelta

from credit.applications.models import Application
from credit.applications.service import notify_overdue_repairs
from credit.calendar_dates import today
from infra.models import OutboxMessage
from tests.helpers import bound_citizen, make_record
from tests.miniprogram_api.test_applications import decide, objection, repair


async def test_submitting_and_withdrawing_send_nothing_decisions_do(client, login):
    headers, user_id, subject_id, _ = await bound_citizen(client, login)
    reviewer = await login("demo-reviewer")
    first = (await repair(client, headers, (await make_record(subject_id)).id)).json()["id"]
    withdrawn = await client.post(f"/api/v1/repairs/{first}/withdraw", headers=headers)
    assert withdrawn.status_code == 200
    filed = (await objection(client, headers, (await make_record(subject_id)).id)).json()["id"]
    assert await OutboxMessage.filter(user_id=user_id).count() == 0
    rejected = await decide(client, reviewer, "objections", filed, "reject", note="材料不全")
    assert rejected.status_code == 200
    [told] = await OutboxMessage.filter(user_id=user_id)
    assert told.template_key == "application_status" and told.data["phrase2"] == "不予受理"
    assert told.title.startswith("信用异议：") and told.title.endswith("（不予受理）")
    assert told.content == "材料不全"
    inbox = (await client.get("/api/v1/me/messages", headers=headers)).json()
    assert [i["id"] for i in inbox["items"]] == [told.id] and inbox["unread"] == 1


async def test_a_repair_past_its_due_date_tells_the_applicant_once(client, login):
    headers, user_id, subject_id, _ = await bound_citizen(client, login)
    reviewer = await login("demo-reviewer")
    late = (await repair(client, headers, (await make_record(subject_id)).id)).json()["id"]
    on_time = (await repair(client, headers, (await make_record(subject_id)).id)).json()["id"]
    closed = (await repair(client, headers, (await make_record(subject_id)).id)).json()["id"]
    await decide(client, reviewer, "repairs", closed, "reject", note="非本平台受理")
    yesterday = today() - timedelta(days=1)
    await Application.filter(id__in=[late, closed]).update(due_on=yesterday)
    assert await Application.filter(id=on_time, due_on__gte=today()).exists()

    await notify_overdue_repairs()
    await notify_overdue_repairs()  # the next hour's check
    overdue = await OutboxMessage.filter(user_id=user_id, dedupe_key__startswith="repair-overdue")
    assert [m.dedupe_key for m in overdue] == [f"repair-overdue:{late}"]
    assert overdue[0].data["phrase2"] == "已超期"
    assert yesterday.isoformat() in overdue[0].content
    assert overdue[0].page == f"pages/applications/detail?kind=repair&id={late}"
