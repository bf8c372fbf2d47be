"""Registration, repair and objection as applicants see them (API.md "Registration, repair,
objection"), against the real database and cache of the backend under test."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from credit.applications import service
from credit.applications.models import Application, ApplicationEvent
from credit.calendar_dates import today
from credit.models import Record
from credit.workdays import default_calendar
from infra.models import OutboxMessage
from tests.helpers import bound_citizen, make_record, unique_code
from tests.miniprogram_api.test_uploads import pdf as _one_page_pdf

MSG_SEC_CHECK = "/wxa/msg_sec_check"


PDF = _one_page_pdf()


async def upload(client, headers) -> int:
    response = await client.post(
        "/api/v1/uploads", headers=headers, files={"file": ("凭证.pdf", PDF, "application/pdf")}
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def repair(client, headers, record_id, reason="已缴纳罚款并完成整改，申请信用修复", **extra):
    """A repair with one upload for each proof the record needs, unless `proofs` is given."""
    if "proofs" not in extra:
        eligibility = await client.get(
            f"/api/v1/records/{record_id}/repair-eligibility", headers=headers
        )
        needed = eligibility.json().get("required_proofs", []) if eligibility.is_success else []
        extra["proofs"] = {proof["code"]: [await upload(client, headers)] for proof in needed}
    body = {"record_id": record_id, "reason": reason, "commitment_accepted": True} | extra
    return await client.post("/api/v1/repairs", headers=headers, json=body)


async def objection(client, headers, record_id, reason="处罚决定书文号与事实不符，申请更正"):
    body = {"record_id": record_id, "reason": reason}
    return await client.post("/api/v1/objections", headers=headers, json=body)


async def decide(client, headers, collection, application_id, decision, **extra):
    return await client.post(
        f"/api/v1/admin/{collection}/{application_id}/decision",
        headers=headers,
        json={"decision": decision} | extra,
    )


async def my_view(client, headers) -> dict:
    response = await client.get("/api/v1/me/credit", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def shown_ids(view: dict) -> dict[int, dict]:
    return {r["id"]: r for records in view["records"].values() for r in records}


# -- registration ----------------------------------------------------------------------------


async def test_registration_approved_shows_as_self_registered(client, login):
    headers, _user_id, _subject_id, openid = await bound_citizen(client, login)
    reviewer = await login("demo-reviewer")
    submitted = await client.post(
        "/api/v1/registrations",
        headers=headers,
        json={"category": "honours", "title": "阿拉善盟优秀志愿者", "content": "2025 年度表彰"},
    )
    assert submitted.status_code == 201, submitted.text
    receipt = submitted.json()
    assert receipt["status"] == "submitted"
    expected_due = default_calendar().add_working_days(today(), 5)
    assert receipt["due_on"] == expected_due.isoformat()
    assert not any(
        "优秀志愿者" in r["title"] for r in shown_ids(await my_view(client, headers)).values()
    )

    approved = await decide(
        client, reviewer, "registrations", receipt["id"], "approve", note="材料齐全"
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"

    shown = [
        r for r in (await my_view(client, headers))["records"]["positive"] if "志愿者" in r["title"]
    ]
    assert len(shown) == 1
    assert shown[0]["source"] == "self_registered" and shown[0]["type"] == "registration"
    assert shown[0]["title"] == "荣誉表彰：阿拉善盟优秀志愿者"
    detail = (await client.get(f"/api/v1/registrations/{receipt['id']}", headers=headers)).json()
    assert [h["status"] for h in detail["history"]] == ["submitted", "approved"]
    assert detail["history"][1]["note"] == "材料齐全"
    assert detail["record_id"] == shown[0]["id"]
    messages = await OutboxMessage.filter(openid=openid).order_by("id")
    assert [m.data["phrase2"] for m in messages] == ["已通过"]  # nothing for submitting


async def test_enterprise_registration_needs_an_operator_and_shows_publicly(client, login):
    merchant = await login("demo-merchant")
    reviewer = await login("demo-reviewer")
    uscc = "91152921MA0Q8DEM0M"
    body = {
        "subject_uscc": uscc,
        "category": "certificates",
        "title": "食品安全管理体系认证",
        "content": "ISO 22000 证书，有效期至 2028 年",
    }
    submitted = await client.post("/api/v1/registrations", headers=merchant, json=body)
    assert submitted.status_code == 201, submitted.text
    stranger, *_ = await bound_citizen(client, login)
    refused = await client.post("/api/v1/registrations", headers=stranger, json=body)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "NOT_SUBJECT_OPERATOR"
    unknown = await client.post(
        "/api/v1/registrations",
        headers=merchant,
        json=body | {"subject_uscc": "91152921MA0Q8XXXXX"},
    )
    assert unknown.status_code == 404

    assert (
        await decide(client, reviewer, "registrations", submitted.json()["id"], "approve")
    ).status_code == 200
    public = (await client.get(f"/api/v1/subjects/{uscc}")).json()
    registered = [r for r in public["records"]["positive"] if r["source"] == "self_registered"]
    assert any(r["title"] == "资质证书：食品安全管理体系认证" for r in registered)


async def test_registration_bad_input_is_422_and_stores_nothing(client, login):
    headers, user_id, *_ = await bound_citizen(client, login)
    cases = [
        ({"category": "fame", "title": "标题内容", "content": "内容内容"}, "category"),
        ({"category": "honours", "content": "内容内容"}, "title"),
        ({"category": "honours", "title": "标题内容", "content": "  "}, "content"),
        (
            {"category": "honours", "title": "标题", "content": "内容", "attachments": ["1"]},
            "attachments.0",
        ),
        (
            {"category": "honours", "title": "标题", "content": "内容", "attachments": [999999999]},
            "attachments",
        ),
    ]
    for body, field in cases:
        response = await client.post("/api/v1/registrations", headers=headers, json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in response.json()["error"]["fields"], response.text
    assert await Application.filter(applicant_id=user_id).count() == 0


async def test_registration_without_identity_is_refused(client, login):
    headers = await login(unique_code())
    response = await client.post(
        "/api/v1/registrations",
        headers=headers,
        json={"category": "honours", "title": "标题内容", "content": "内容内容"},
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "IDENTITY_NOT_BOUND"


# -- repair eligibility ------------------------------------------------------------------------


async def test_a_market_entitys_market_regulation_penalty_goes_to_the_national_system(
    client, login
):
    """The channel depends on the subject (issue 10 item 6): an enterprise's penalty by a
    market-regulation authority is repaired through gsxt, here it is refused with 409."""
    from credit.models import Subject
    from tests.scenarios.merchants.support import active_merchant

    operator, merchant = await active_merchant(client, login)
    enterprise = await Subject.get(uscc=merchant["subject"]["uscc"])
    market = await make_record(enterprise.id, authority="阿拉善左旗市场监督管理局")
    national = (
        await client.get(f"/api/v1/records/{market.id}/repair-eligibility", headers=operator)
    ).json()
    assert national == {
        "eligible": True,
        "reason": "市场监管部门作出的行政处罚，请通过国家企业信用信息公示系统申请信用修复",
        "earliest_date": (market.publish_min_until + timedelta(days=1)).isoformat(),
        "channel": "gsxt",
        "required_proofs": [],  # the national system asks for its own
    }
    refused = await repair(client, operator, market.id)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "REPAIR_CHANNEL_GSXT"
    other = await make_record(enterprise.id, authority="阿拉善左旗交通运输局")
    assert (
        await client.get(f"/api/v1/records/{other.id}/repair-eligibility", headers=operator)
    ).json()["channel"] == "here"


async def test_repair_opens_the_day_after_the_minimum_period_ends(client, login):
    """publish_min_until is the last day of the minimum publication period (民法典 art. 201-202):
    on that day repair is not open yet; the next day it is (issue 10 item 4)."""
    headers, _, subject_id, _ = await bound_citizen(client, login)
    on = today()
    last_day_today = await make_record(subject_id, publish_min_until=on)
    ended_yesterday = await make_record(subject_id, publish_min_until=on - timedelta(days=1))
    for record, eligible in ((last_day_today, False), (ended_yesterday, True)):
        response = await client.get(
            f"/api/v1/records/{record.id}/repair-eligibility", headers=headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["eligible"] is eligible
        assert (
            response.json()["earliest_date"]
            == (record.publish_min_until + timedelta(days=1)).isoformat()
        )
    view = (await client.get("/api/v1/me/credit", headers=headers)).json()
    repairable = {r["id"]: r["repairable"] for rs in view["records"].values() for r in rs}
    assert repairable[last_day_today.id] is False and repairable[ended_yesterday.id] is True


async def test_repair_eligibility_rules(client, login):
    headers, _, subject_id, _ = await bound_citizen(client, login)
    on = today()

    async def eligibility(record) -> dict:
        response = await client.get(
            f"/api/v1/records/{record.id}/repair-eligibility", headers=headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    ready = await eligibility(await make_record(subject_id))
    assert ready["eligible"] is True and ready["channel"] == "here"

    recent = await make_record(subject_id, decided_on=on - timedelta(days=20))
    too_early = await eligibility(recent)
    assert too_early["eligible"] is False
    # The day after the minimum period's last day (issue 10 item 4; it said the last day before).
    opens = (recent.publish_min_until + timedelta(days=1)).isoformat()
    assert too_early["earliest_date"] == opens
    assert opens in too_early["reason"]

    licence = await make_record(subject_id, type="licence", record_class="basic", severity=None)
    assert (await eligibility(licence))["eligible"] is False

    black = await make_record(subject_id, type="black_list", record_class="serious_dishonesty")
    barred = await eligibility(black)
    assert barred["eligible"] is False and "名单" in barred["reason"]

    flagged = await eligibility(await make_record(subject_id, details={"不可修复": "是"}))
    assert flagged["eligible"] is False

    # A natural person's market-regulation penalty is repaired here, never in the national
    # enterprise system (issue 10 item 6: it was sent there by the authority's name).
    market = await make_record(subject_id, authority="阿拉善左旗市场监督管理局")
    here = await eligibility(market)
    assert here["eligible"] is True and here["channel"] == "here"
    early = await repair(client, headers, recent.id)
    assert early.status_code == 409 and early.json()["error"]["code"] == "REPAIR_NOT_ELIGIBLE"
    # The credit view's "repairable" flag follows the same rule.
    view = shown_ids(await my_view(client, headers))
    assert view[recent.id]["repairable"] is False and view[market.id]["repairable"] is True


async def test_someone_elses_record_is_not_found(client, login):
    _, _, owner_subject, _ = await bound_citizen(client, login)
    intruder, intruder_id, *_ = await bound_citizen(client, login)
    record = await make_record(owner_subject)
    eligibility = await client.get(
        f"/api/v1/records/{record.id}/repair-eligibility", headers=intruder
    )
    assert eligibility.status_code == 404
    assert (await repair(client, intruder, record.id)).status_code == 404
    assert (await objection(client, intruder, record.id)).status_code == 404
    assert await Application.filter(applicant_id=intruder_id).count() == 0
    assert (await Record.get(id=record.id)).status == "published"


# -- repair ------------------------------------------------------------------------------------


async def test_repair_needs_the_signed_commitment(client, login):
    headers, user_id, subject_id, _ = await bound_citizen(client, login)
    record = await make_record(subject_id)
    for value in (False, "true", None):
        response = await repair(client, headers, record.id, commitment_accepted=value)
        assert response.status_code == 422, response.text
        assert "commitment_accepted" in response.json()["error"]["fields"]
    assert await Application.filter(applicant_id=user_id).count() == 0
    commitment = (await client.get("/api/v1/repairs/commitment")).json()
    assert commitment["version"] == "2026-01" and "承诺" in commitment["text"]


async def test_repair_approved_stops_showing_and_sharing_and_rescores(client, login, runtime):
    headers, _user_id, subject_id, openid = await bound_citizen(client, login)
    reviewer = await login("demo-reviewer")
    record = await make_record(subject_id)
    before = await my_view(client, headers)
    assert record.id in shown_ids(before) and shown_ids(before)[record.id]["repairable"] is True

    submitted = await repair(client, headers, record.id)
    assert submitted.status_code == 201, submitted.text
    application_id = submitted.json()["id"]
    stored = await Application.get(id=application_id)
    assert stored.commitment_version == "2026-01" and len(stored.commitment_hash) == 64
    assert stored.commitment_accepted_at is not None
    assert (
        submitted.json()["due_on"] == default_calendar().add_working_days(today(), 10).isoformat()
    )

    again = await repair(client, headers, record.id)
    assert again.status_code == 409 and again.json()["error"]["code"] == "APPLICATION_EXISTS"
    eligibility = await client.get(
        f"/api/v1/records/{record.id}/repair-eligibility", headers=headers
    )
    assert eligibility.json()["eligible"] is False

    # Not accepted yet: approving straight away is not a step of the procedure.
    early = await decide(client, reviewer, "repairs", application_id, "approve")
    assert early.status_code == 409 and early.json()["error"]["code"] == "DECISION_NOT_ALLOWED"
    accepted = await decide(
        client, reviewer, "repairs", application_id, "accept", note="材料齐全，予以受理"
    )
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    approved = await decide(client, reviewer, "repairs", application_id, "approve", note="同意修复")
    assert approved.status_code == 200, approved.text

    repaired = await Record.get(id=record.id)
    assert repaired.status == "repaired" and repaired.shared is False
    after = await my_view(client, headers)
    assert record.id not in shown_ids(after)
    assert after["level"]["score"] == before["level"]["score"] + 60  # the general penalty's points
    assert all(f["record_id"] != record.id for f in after["factors"])

    detail = (await client.get(f"/api/v1/repairs/{application_id}", headers=headers)).json()
    assert [h["status"] for h in detail["history"]] == ["submitted", "accepted", "approved"]
    assert [h["note"] for h in detail["history"]][1:] == ["材料齐全，予以受理", "同意修复"]
    assert detail["record"]["id"] == record.id and detail["commitment"]["version"] == "2026-01"
    events = await ApplicationEvent.filter(application_id=application_id).order_by("id")
    assert [e.actor_role for e in events] == ["applicant", "reviewer", "reviewer"]

    from infra.audit import drain
    from infra.models import AuditEntry

    await drain(runtime.redis, runtime.keys, wait=2.0)
    decisions = await AuditEntry.filter(
        subject_id=subject_id, action__in=["repair.accept", "repair.approve"]
    )
    assert sorted(e.action for e in decisions) == ["repair.accept", "repair.approve"]
    assert all(e.detail["application_id"] == application_id for e in decisions)
    messages = await OutboxMessage.filter(openid=openid).order_by("id")
    assert [m.data["phrase2"] for m in messages] == ["已受理", "已通过"]  # nothing for submitting


async def test_repair_denied_needs_a_reason_and_frees_the_record(client, login):
    headers, _, subject_id, _ = await bound_citizen(client, login)
    reviewer = await login("demo-reviewer")
    record = await make_record(subject_id)
    application_id = (await repair(client, headers, record.id)).json()["id"]
    assert (await decide(client, reviewer, "repairs", application_id, "accept")).status_code == 200
    silent = await decide(client, reviewer, "repairs", application_id, "deny")
    assert silent.status_code == 422 and "note" in silent.json()["error"]["fields"]
    denied = await decide(client, reviewer, "repairs", application_id, "deny", note="罚款尚未缴清")
    assert denied.status_code == 200 and denied.json()["status"] == "denied"
    assert (await Record.get(id=record.id)).status == "published"
    closed = await decide(client, reviewer, "repairs", application_id, "approve")
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "APPLICATION_CLOSED"
    assert (await repair(client, headers, record.id)).status_code == 201  # may apply again


async def test_withdraw_own_application_only(client, login):
    headers, _, subject_id, _ = await bound_citizen(client, login)
    other, *_ = await bound_citizen(client, login)
    reviewer = await login("demo-reviewer")
    record = await make_record(subject_id)
    application_id = (await repair(client, headers, record.id)).json()["id"]

    for path in (f"/api/v1/repairs/{application_id}", f"/api/v1/objections/{application_id}"):
        assert (await client.get(path, headers=other)).status_code == 404
    assert (
        await client.post(f"/api/v1/repairs/{application_id}/withdraw", headers=other)
    ).status_code == 404
    assert (await client.get("/api/v1/repairs", headers=other)).json()["items"] == []

    withdrawn = await client.post(f"/api/v1/repairs/{application_id}/withdraw", headers=headers)
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    again = await client.post(f"/api/v1/repairs/{application_id}/withdraw", headers=headers)
    assert again.status_code == 409
    late = await decide(client, reviewer, "repairs", application_id, "accept")
    assert late.status_code == 409
    mine = (await client.get("/api/v1/repairs", headers=headers)).json()
    assert [item["id"] for item in mine["items"]] == [application_id] and mine["next"] is None


async def test_concurrent_submissions_for_one_record_leave_one_open(client, login):
    import asyncio

    headers, _user_id, subject_id, _ = await bound_citizen(client, login)
    record = await make_record(subject_id)
    first, second = await asyncio.gather(
        repair(client, headers, record.id), objection(client, headers, record.id)
    )
    assert sorted([first.status_code, second.status_code]) == [201, 409]
    assert await Application.filter(record_id=record.id).count() == 1


# -- objection ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decision", "extra", "status", "shown", "title"),
    [
        ("deny", {"note": "经核实，原记录无误"}, "published", True, "行政处罚：测试违法行为"),
        ("approve", {"outcome": "revoked", "note": "处罚决定已撤销"}, "revoked", False, None),
        (
            "approve",
            {"outcome": "corrected", "correction": {"title": "行政处罚：更正后的违法行为"}},
            "published",
            True,
            "行政处罚：更正后的违法行为",
        ),
    ],
    ids=["upheld", "revoked", "corrected"],
)
async def test_objection_outcomes(client, login, decision, extra, status, shown, title):
    headers, _, subject_id, _ = await bound_citizen(client, login)
    reviewer = await login("demo-reviewer")
    record = await make_record(subject_id)
    submitted = await objection(client, headers, record.id)
    assert submitted.status_code == 201, submitted.text
    application_id = submitted.json()["id"]
    assert shown_ids(await my_view(client, headers))[record.id]["status"] == "under_objection"
    eligibility = (
        await client.get(f"/api/v1/records/{record.id}/repair-eligibility", headers=headers)
    ).json()
    assert eligibility["eligible"] is False and "异议" in eligibility["reason"]

    assert (
        await decide(client, reviewer, "objections", application_id, "accept")
    ).status_code == 200
    decided = await decide(client, reviewer, "objections", application_id, decision, **extra)
    assert decided.status_code == 200, decided.text
    outcome = {"deny": "upheld"}.get(decision, extra.get("outcome"))
    assert decided.json()["outcome"] == outcome

    stored = await Record.get(id=record.id)
    assert stored.status == status
    view = shown_ids(await my_view(client, headers))
    assert (record.id in view) is shown
    if shown:
        assert view[record.id]["title"] == title and view[record.id]["status"] == "published"
    if outcome == "corrected":
        assert stored.details["corrections"][0]["before"] == {"title": "行政处罚：测试违法行为"}
    history = (await client.get(f"/api/v1/objections/{application_id}", headers=headers)).json()[
        "history"
    ]
    assert history[-1]["status"] == ("denied" if decision == "deny" else "approved")
    assert history[-1]["note"].startswith(
        {"upheld": "异议不成立", "revoked": "异议成立", "corrected": "异议成立"}[outcome]
    )


async def test_a_second_objection_after_a_decision_needs_new_facts(client, login):
    """One subject may not keep a record under objection indefinitely (issue 10 item 1): once an
    objection is decided, another needs new facts, and the reviewer sees it is a repeat and may
    reject it as 重复异议 without examining it again."""
    headers, _, subject_id, _ = await bound_citizen(client, login)
    reviewer = await login("demo-reviewer")
    record = await make_record(subject_id)
    first = (await objection(client, headers, record.id)).json()["id"]
    await decide(client, reviewer, "objections", first, "accept")
    upheld = await decide(client, reviewer, "objections", first, "deny", note="经核实，原记录无误")
    assert upheld.status_code == 200, upheld.text

    again = await objection(client, headers, record.id)
    assert again.status_code == 422, again.text
    assert again.json()["error"]["code"] == "NEW_FACTS_REQUIRED"
    assert "new_facts" in again.json()["error"]["fields"]
    assert (await Record.get(id=record.id)).status == "published"  # nothing was filed

    body = {
        "record_id": record.id,
        "reason": "处罚决定书文号与事实不符，申请更正",
        "new_facts": "处罚机关已于本月出具更正说明，附件为更正文书",
    }
    repeat = await client.post("/api/v1/objections", headers=headers, json=body)
    assert repeat.status_code == 201, repeat.text
    second = repeat.json()["id"]
    detail = (await client.get(f"/api/v1/admin/objections/{second}", headers=reviewer)).json()
    assert detail["repeat_of"] == first and detail["new_facts"] == body["new_facts"]
    rejected = await decide(client, reviewer, "objections", second, "reject", note="重复异议")
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    assert (await Record.get(id=record.id)).status == "published"


async def test_objection_approval_needs_an_outcome(client, login):
    headers, _, subject_id, _ = await bound_citizen(client, login)
    reviewer = await login("demo-reviewer")
    record = await make_record(subject_id)
    application_id = (await objection(client, headers, record.id)).json()["id"]
    await decide(client, reviewer, "objections", application_id, "accept")
    missing = await decide(client, reviewer, "objections", application_id, "approve")
    assert missing.status_code == 422 and "outcome" in missing.json()["error"]["fields"]
    bare = await decide(
        client, reviewer, "objections", application_id, "approve", outcome="corrected"
    )
    assert bare.status_code == 422 and "correction" in bare.json()["error"]["fields"]
    unknown = await decide(
        client, reviewer, "objections", application_id, "approve",
        outcome="corrected", correction={"status": "revoked"},
    )  # fmt: skip
    assert unknown.status_code == 422
    assert (await Record.get(id=record.id)).status == "under_objection"
    assert (await Application.get(id=application_id)).status == "accepted"


async def test_withdrawn_objection_restores_the_record(client, login):
    headers, _, subject_id, _ = await bound_citizen(client, login)
    record = await make_record(subject_id)
    application_id = (await objection(client, headers, record.id)).json()["id"]
    assert (await Record.get(id=record.id)).status == "under_objection"
    withdrawn = await client.post(f"/api/v1/objections/{application_id}/withdraw", headers=headers)
    assert withdrawn.status_code == 200
    assert (await Record.get(id=record.id)).status == "published"
    assert shown_ids(await my_view(client, headers))[record.id]["status"] == "published"


# -- content security --------------------------------------------------------------------------


async def test_risky_text_is_refused_and_nothing_is_stored(client, login, fake_wechat):
    headers, user_id, subject_id, openid = await bound_citizen(client, login)
    record = await make_record(subject_id)
    response = await repair(client, headers, record.id, reason="这里有违禁内容，请修复")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "CONTENT_RISKY" and "reason" in error["fields"]
    check = fake_wechat.calls_to(MSG_SEC_CHECK)[-1]
    assert check["openid"] == openid and check["version"] == 2 and check["scene"] == 3
    assert await Application.filter(applicant_id=user_id).count() == 0
    assert (await repair(client, headers, record.id)).status_code == 201  # nothing left behind


async def test_text_for_review_is_held_for_a_reviewer(client, login, fake_wechat):
    headers, _, subject_id, _ = await bound_citizen(client, login)
    reviewer = await login("demo-reviewer")
    held = await client.post(
        "/api/v1/registrations",
        headers=headers,
        json={"category": "commitments", "title": "诚信经营承诺", "content": "内容待审核后公开"},
    )
    assert held.status_code == 201
    fake_wechat.fail_next(MSG_SEC_CHECK, -1, times=2)  # WeChat busy (and on the retry): held
    busy = await repair(client, headers, (await make_record(subject_id)).id)
    assert busy.status_code == 201
    queue = (
        await client.get("/api/v1/admin/registrations?moderation=review", headers=reviewer)
    ).json()
    assert held.json()["id"] in [item["id"] for item in queue["items"]]
    assert all(item["moderation"] == "review" for item in queue["items"])
    assert (await Application.get(id=busy.json()["id"])).moderation == "review"
    # Not shown to anyone but reviewers until one approves it.
    assert not any(
        "诚信经营承诺" in r["title"] for r in shown_ids(await my_view(client, headers)).values()
    )


# -- deadlines in working days -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("submitted_on", "due_on"),
    [
        (date(2026, 9, 28), date(2026, 10, 16)),  # across the 2026 National Day holiday
        (date(2026, 12, 24), date(2027, 1, 8)),  # into 2027, past chinesecalendar's last year
    ],
)
async def test_due_dates_count_working_days(client, login, monkeypatch, submitted_on, due_on):
    headers, _, subject_id, _ = await bound_citizen(client, login)
    monkeypatch.setattr(service, "today", lambda: submitted_on)
    record = await make_record(subject_id, decided_on=submitted_on - timedelta(days=150))
    response = await repair(client, headers, record.id)
    assert response.status_code == 201, response.text
    assert response.json()["due_on"] == due_on.isoformat()


async def test_a_due_date_over_a_year_not_yet_announced_says_it_is_estimated(
    client, login, monkeypatch
):
    headers, _, subject_id, _ = await bound_citizen(client, login)
    reviewer = await login("demo-reviewer")
    # Filed on Monday 1 Feb 2027: 除夕 to 初三 (5–8 Feb) are off, so not 15 Feb but 17 Feb.
    monkeypatch.setattr(service, "today", lambda: date(2027, 2, 1))
    record = await make_record(subject_id, decided_on=date(2026, 9, 1))
    submitted = await repair(client, headers, record.id)
    assert submitted.status_code == 201, submitted.text
    assert submitted.json()["due_on"] == "2027-02-17"
    assert submitted.json()["due_estimated"] is True
    repair_id = submitted.json()["id"]
    mine = (await client.get(f"/api/v1/repairs/{repair_id}", headers=headers)).json()
    assert (mine["due_on"], mine["due_estimated"]) == ("2027-02-17", True)
    listed = (await client.get("/api/v1/repairs", headers=headers)).json()["items"]
    assert [item["due_estimated"] for item in listed if item["id"] == repair_id] == [True]
    review = (await client.get(f"/api/v1/admin/repairs/{repair_id}", headers=reviewer)).json()
    assert review["due_estimated"] is True
    # A due date inside a year chinesecalendar knows is not an estimate.
    monkeypatch.setattr(service, "today", lambda: date(2026, 9, 28))
    other = await make_record(subject_id, decided_on=date(2026, 4, 1))
    filed = await objection(client, headers, other.id)
    assert filed.status_code == 201, filed.text
    assert (filed.json()["due_on"], filed.json()["due_estimated"]) == ("2026-10-16", False)


async def test_attachments_reach_the_reviewer_and_no_one_else(client, login):
    from tests.miniprogram_api.test_uploads import PDF, post

    headers, _, subject_id, _ = await bound_citizen(client, login)
    uploaded = await post(client, headers, PDF, name="缴款凭证.pdf")
    assert uploaded.status_code == 201, uploaded.text
    upload_id = uploaded.json()["id"]
    record = await make_record(subject_id)
    submitted = await repair(
        client, headers, record.id, attachments=[upload_id],
        proofs={"rectification_report": [upload_id]},
    )  # fmt: skip
    assert submitted.status_code == 201, submitted.text
    application_id = submitted.json()["id"]
    mine = (await client.get(f"/api/v1/repairs/{application_id}", headers=headers)).json()
    assert mine["attachments"] == [upload_id]
    reviewer = await login("demo-reviewer")
    detail = (await client.get(f"/api/v1/admin/repairs/{application_id}", headers=reviewer)).json()
    assert detail["attachments"] == [upload_id]
    assert detail["proofs"] == [
        {
            "code": "rectification_report",
            "label": "整改报告（已纠正失信行为、消除不良影响的说明及佐证）",
            "attachments": [upload_id],
        }
    ]
    read = await client.get(f"/api/v1/uploads/{upload_id}", headers=reviewer)
    assert read.status_code == 200 and read.content == PDF
    stranger, *_ = await bound_citizen(client, login)
    assert (await client.get(f"/api/v1/uploads/{upload_id}", headers=stranger)).status_code == 404


# -- repair proof (issue 10 item 5) ----------------------------------------------------------


async def test_a_repair_without_its_proof_is_422_naming_what_is_missing(client, login):
    headers, _, subject_id, _ = await bound_citizen(client, login)
    fined = await make_record(subject_id, details={"罚款金额（万元）": "0.5"})
    eligibility = (
        await client.get(f"/api/v1/records/{fined.id}/repair-eligibility", headers=headers)
    ).json()
    assert [p["code"] for p in eligibility["required_proofs"]] == [
        "rectification_report",
        "fine_receipt",
    ]
    assert eligibility["required_proofs"][1]["label"] == "罚款缴纳凭证"

    bare = await repair(client, headers, fined.id, proofs={})
    assert bare.status_code == 422
    error = bare.json()["error"]
    assert error["code"] == "PROOF_REQUIRED"
    assert error["message"] == (
        "缺少修复证明材料：整改报告（已纠正失信行为、消除不良影响的说明及佐证）、罚款缴纳凭证"
    )
    assert set(error["fields"]) == {"proofs.rectification_report", "proofs.fine_receipt"}

    report = await upload(client, headers)
    half = await repair(client, headers, fined.id, proofs={"rectification_report": [report]})
    assert (
        half.status_code == 422
        and half.json()["error"]["message"] == "缺少修复证明材料：罚款缴纳凭证"
    )
    unknown = await repair(client, headers, fined.id, proofs={"receipt": [report]})
    assert unknown.status_code == 422 and "receipt" in unknown.json()["error"]["fields"]["proofs"]
    stranger, *_ = await bound_citizen(client, login)
    foreign = await upload(client, stranger)
    borrowed = await repair(
        client, headers, fined.id,
        proofs={"rectification_report": [report], "fine_receipt": [foreign]},
    )  # fmt: skip
    assert borrowed.status_code == 422  # someone else's upload is no proof of mine
    assert not await Application.exists(record_id=fined.id)  # nothing was filed

    receipt = await upload(client, headers)
    filed = await repair(
        client, headers, fined.id,
        proofs={"rectification_report": [report], "fine_receipt": [receipt]},
    )  # fmt: skip
    assert filed.status_code == 201, filed.text
    stored = await Application.get(id=filed.json()["id"])
    assert stored.proofs == {"rectification_report": [report], "fine_receipt": [receipt]}
    assert stored.attachments == [report, receipt]


async def _repaired(client, login, headers, record_id) -> None:
    submitted = await repair(client, headers, record_id)
    assert submitted.status_code == 201, submitted.text
    reviewer = await login("demo-reviewer")
    for decision in ("accept", "approve"):
        decided = await decide(client, reviewer, "repairs", submitted.json()["id"], decision)
        assert decided.status_code == 200, decided.text


async def test_the_signed_commitment_is_public_with_an_enterprises_repair(client, login):
    from credit.applications.rules import default_rules
    from credit.models import Subject
    from tests.scenarios.merchants.support import active_merchant

    operator, merchant = await active_merchant(client, login)
    enterprise = await Subject.get(uscc=merchant["subject"]["uscc"])
    record = await make_record(enterprise.id, title="行政处罚：未按规定公示信息")
    await _repaired(client, login, operator, record.id)

    public = (await client.get(f"/api/v1/subjects/{enterprise.uscc}")).json()
    [entry] = public["repairs"]
    assert entry["record"] == {"title": "行政处罚：未按规定公示信息", "type": "penalty"}
    rules = default_rules()
    assert entry["commitment"]["version"] == rules.commitment_version
    assert entry["commitment"]["text"] == rules.commitment_text
    assert entry["commitment"]["hash"] == rules.commitment_hash
    assert entry["commitment"]["accepted_at"] and entry["repaired_at"]
    assert record.id not in {r["id"] for rs in public["records"].values() for r in rs}


async def test_a_persons_repair_and_commitment_are_the_persons_alone(client, login):
    headers, _, subject_id, _ = await bound_citizen(client, login)
    record = await make_record(subject_id, title="行政处罚：占道经营")
    await _repaired(client, login, headers, record.id)
    [entry] = (await my_view(client, headers))["repairs"]
    assert entry["record"]["title"] == "行政处罚：占道经营"
    assert entry["commitment"]["text"]
    other, *_ = await bound_citizen(client, login)
    assert (await my_view(client, other))["repairs"] == []
    # A person has no public view at all (the lookup is of market entities).
    person = await Record.get(id=record.id).prefetch_related("subject")
    assert person.subject.uscc is None
