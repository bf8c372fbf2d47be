"""补正 (issue 14 item 2): the reviewer asks for more documents, the applicant is told, the
deadline's clock stops until they answer within their own deadline, and the application goes
back to the state it was asked from with the working days it had left."""

from __future__ import annotations

from datetime import timedelta

import pytest

from credit.applications.models import Application
from credit.applications.rules import default_rules
from credit.calendar_dates import today
from credit.workdays import default_calendar
from infra.models import OutboxMessage
from tests.helpers import bound_citizen, make_record
from tests.miniprogram_api.test_applications import decide, objection, repair, upload

NOTE = "请补充罚款缴纳凭证的清晰扫描件"


async def _asked(client, login, kind="repairs", accept_first=False):  # type: ignore[no-untyped-def]
    headers, _, subject_id, openid = await bound_citizen(client, login)
    reviewer = await login("demo-reviewer")
    record = await make_record(subject_id)
    filed = await (repair if kind == "repairs" else objection)(client, headers, record.id)
    application_id = filed.json()["id"]
    if accept_first:
        assert (await decide(client, reviewer, kind, application_id, "accept")).status_code == 200
    asked = await decide(client, reviewer, kind, application_id, "supplement", note=NOTE)
    assert asked.status_code == 200, asked.text
    return headers, reviewer, application_id, openid, asked.json()


@pytest.mark.usefixtures("quiet_outbox")
async def test_supplement_stops_the_clock_and_tells_the_applicant(client, login):
    headers, reviewer, application_id, openid, asked = await _asked(client, login)
    calendar = default_calendar()
    assert asked["status"] == "supplementing" and asked["status_label"] == "待补正"
    expected_due = calendar.add_working_days(today(), default_rules().supplement_working_days)
    assert asked["supplement"]["due_on"] == expected_due.isoformat()
    assert asked["supplement"]["note"] == NOTE
    stored = await Application.get(id=application_id)
    assert stored.supplement_from == "submitted"
    assert stored.supplement_days_left == calendar.working_days_between(today(), stored.due_on)
    # told through the outbox (message centre + subscribe message), with the note
    [message] = await OutboxMessage.filter(openid=openid).order_by("-id").limit(1)
    assert message.data["phrase2"] == "待补正" and message.content == NOTE
    mine = (await client.get(f"/api/v1/repairs/{application_id}", headers=headers)).json()
    assert mine["status"] == "supplementing" and mine["history"][-1]["note"] == NOTE

    # A stopped clock is never overdue, even past the old due date.
    await Application.filter(id=application_id).update(due_on=today() - timedelta(days=3))
    overdue = (await client.get("/api/v1/admin/repairs?overdue=true", headers=reviewer)).json()
    assert application_id not in [item["id"] for item in overdue["items"]]
    detail = (await client.get(f"/api/v1/admin/repairs/{application_id}", headers=reviewer)).json()
    assert detail["overdue"] is False

    # Before the applicant's deadline the reviewer cannot decide.
    early = await decide(client, reviewer, "repairs", application_id, "reject", note="材料不全")
    assert early.status_code == 409 and early.json()["error"]["code"] == "SUPPLEMENT_PENDING"


async def test_the_answer_resumes_the_clock_with_the_days_left(client, login):
    headers, reviewer, application_id, _, _ = await _asked(client, login, accept_first=True)
    await Application.filter(id=application_id).update(supplement_days_left=4)
    extra = await upload(client, headers)
    answered = await client.post(
        f"/api/v1/repairs/{application_id}/supplement",
        headers=headers,
        json={"note": "已补充缴款凭证", "attachments": [extra]},
    )
    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert body["status"] == "accepted" and body["supplement"] is None
    assert body["due_on"] == default_calendar().add_working_days(today(), 4).isoformat()
    assert extra in body["attachments"]
    assert body["history"][-1]["note"] == "已补正：已补充缴款凭证"
    again = await client.post(
        f"/api/v1/repairs/{application_id}/supplement",
        headers=headers,
        json={"note": "再补一次", "attachments": []},
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "SUPPLEMENT_NOT_REQUESTED"
    assert (await decide(client, reviewer, "repairs", application_id, "approve")).status_code == 200


async def test_only_the_applicant_answers_and_only_with_their_uploads(client, login):
    headers, _, application_id, _, _ = await _asked(client, login, kind="objections")
    other, *_ = await bound_citizen(client, login)
    path = f"/api/v1/objections/{application_id}/supplement"
    stranger = await client.post(path, headers=other, json={"note": "冒名补正", "attachments": []})
    assert stranger.status_code == 404
    foreign = await upload(client, other)
    borrowed = await client.post(
        path, headers=headers, json={"note": "他人文件", "attachments": [foreign]}
    )
    assert borrowed.status_code in (403, 404, 422), borrowed.text
    empty = await client.post(path, headers=headers, json={"note": "", "attachments": []})
    assert empty.status_code == 422 and "note" in empty.json()["error"]["fields"]
    assert (await client.post(path, json={"note": "未登录", "attachments": []})).status_code == 401
    assert (await Application.get(id=application_id)).status == "supplementing"


async def test_past_the_deadline_the_answer_is_refused_and_the_reviewer_may_close(client, login):
    headers, reviewer, application_id, _, _ = await _asked(client, login, accept_first=True)
    await Application.filter(id=application_id).update(
        supplement_due_on=today() - timedelta(days=1)
    )
    late = await client.post(
        f"/api/v1/repairs/{application_id}/supplement",
        headers=headers,
        json={"note": "迟到的补正", "attachments": []},
    )
    assert late.status_code == 409 and late.json()["error"]["code"] == "SUPPLEMENT_DEADLINE_PASSED"
    approve = await decide(client, reviewer, "repairs", application_id, "approve")
    assert approve.status_code == 409
    closed = await decide(client, reviewer, "repairs", application_id, "deny", note="逾期未补正")
    assert closed.status_code == 200 and closed.json()["status"] == "denied"
    stored = await Application.get(id=application_id)
    assert stored.open_key is None and stored.supplement_from is None


async def test_supplement_needs_a_note_and_an_open_application(client, login):
    headers, _, subject_id, _ = await bound_citizen(client, login)
    reviewer = await login("demo-reviewer")
    application_id = (await repair(client, headers, (await make_record(subject_id)).id)).json()[
        "id"
    ]
    silent = await decide(client, reviewer, "repairs", application_id, "supplement")
    assert silent.status_code == 422 and "note" in silent.json()["error"]["fields"]
    await decide(client, reviewer, "repairs", application_id, "reject", note="不符合受理条件")
    closed = await decide(client, reviewer, "repairs", application_id, "supplement", note=NOTE)
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "APPLICATION_CLOSED"


async def test_the_applicant_may_withdraw_while_asked(client, login):
    headers, _, application_id, _, _ = await _asked(client, login)
    withdrawn = await client.post(f"/api/v1/repairs/{application_id}/withdraw", headers=headers)
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
