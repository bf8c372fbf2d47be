"""政务失信 reports (issue 13 items 4 and 6): anonymous and named reporting, the query code, the
reporter's own list, object-level checks, the credit centre's workflow with its deadlines and
messages, what the reported agency and the reviewers see of a reporter (nothing of an anonymous
one), rate limits, and bad input as 4xx with Chinese messages."""

from __future__ import annotations

import hashlib
import io
import json
import uuid

import pytest
from PIL import Image

from credit.calendar_dates import today
from credit.integrity.models import IntegrityReport, IntegrityReportEvent
from credit.integrity.service import ANONYMOUS_HOLDER_OPENID
from credit.models import OperatorBasis, SubjectOperator
from credit.workdays import default_calendar
from infra import notifications
from infra.audit import drain
from infra.models import AuditEntry, OutboxMessage, Upload, User
from infra.security.ratelimit import address_key
from tests.helpers import bound_citizen, make_enterprise, subscribe, unique_code

URL = "/api/v1/integrity-reports"
PROMISE = "2023年签订的道路工程合同约定竣工验收后三个月内付清工程款，至今未付。"


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (12, 12), (200, 10, 10)).save(buffer, "JPEG")
    return buffer.getvalue()


async def agency():  # type: ignore[no-untyped-def]
    """A fresh agency of the store (as the 政务失信 feed makes them)."""
    from credit.models import Subject

    made = await make_enterprise(name=f"阿拉善左旗测试局{uuid.uuid4().hex[:6]}")
    code = "11" + made.uscc[2:]
    from stdnum.cn import uscc

    code = code[:17] + uscc.calc_check_digit(code[:17])
    await Subject.filter(id=made.id).update(kind="agency", uscc=code, natural_key=f"uscc:{code}")
    return await Subject.get(id=made.id)


def body(**changes):  # type: ignore[no-untyped-def]
    values = {"category": "unpaid_contract", "promise": PROMISE, "amount": "286500.00",
              "promised_on": "2023-05-01", "broken_on": "2023-08-01"}  # fmt: skip
    values.update(changes)
    return values


async def decide(client, headers, report_id, decision, note=None, **extra):  # type: ignore[no-untyped-def]
    payload = {"decision": decision, **({"note": note} if note else {}), **extra}
    return await client.post(
        f"/api/v1/admin/integrity-reports/{report_id}/decision", headers=headers, json=payload
    )


async def operator_of(client, login, subject_id: int):  # type: ignore[no-untyped-def]
    """A user who acts for the agency (linked by the credit centre)."""
    headers = await login(unique_code("agency-staff"))
    me = (await client.get("/api/v1/me", headers=headers)).json()
    await SubjectOperator.create(
        user_id=me["id"], subject_id=subject_id, basis=OperatorBasis.POWER_OF_ATTORNEY
    )
    return headers


async def test_an_anonymous_report_returns_a_query_code_stored_only_hashed(client):
    place = await agency()
    response = await client.post(URL, json=body(agency_uscc=place.uscc))
    assert response.status_code == 201, response.text
    receipt = response.json()
    code = receipt["query_code"]
    assert receipt["anonymous"] is True and receipt["status"] == "submitted" and len(code) == 19
    assert receipt["due_on"] == default_calendar().add_working_days(today(), 10).isoformat()
    report = await IntegrityReport.get(id=receipt["id"])
    assert report.reporter_user_id is None and report.reporter_enc is None
    normalised = code.replace("-", "")
    assert report.query_code_hash == hashlib.sha256(normalised.encode()).hexdigest()
    row = json.dumps(await IntegrityReport.filter(id=report.id).values(), default=str)
    assert normalised not in row and code not in row
    # No login: msg_sec_check cannot judge it, so a reviewer reads it first.
    assert report.moderation == "review"

    by_header = await client.get(f"{URL}/lookup", headers={"X-Query-Code": code.lower()})
    assert by_header.status_code == 200 and by_header.json()["id"] == report.id
    by_body = await client.post(f"{URL}/lookup", json={"query_code": normalised})
    assert by_body.status_code == 200 and by_body.json()["status_label"] == "待受理"
    # Never in the URL (the access log would keep it): a query string is not read.
    assert (await client.get(f"{URL}/lookup?query_code={code}")).status_code == 404
    wrong = await client.get(f"{URL}/lookup", headers={"X-Query-Code": "2222-2222-2222-2222"})
    assert wrong.status_code == 404 and wrong.json()["error"]["code"] == "QUERY_CODE_UNKNOWN"
    # The code is shown once: the report's views never repeat it.
    assert code not in by_header.text and "query_code" not in by_header.json()


async def test_anonymous_reporters_are_invisible_to_the_agency_and_the_reviewers(
    client, login, runtime
):
    place = await agency()
    headers, user_id, person_id, openid = await bound_citizen(client, login)
    upload = await client.post(
        "/api/v1/uploads", headers=headers, files={"file": ("乌云的合同.jpg", jpeg(), "image/jpeg")}
    )
    upload_id = upload.json()["id"]
    response = await client.post(
        URL, headers=headers,
        json=body(agency_uscc=place.uscc, anonymous=True, attachments=[upload_id]),
    )  # fmt: skip
    assert response.status_code == 201, response.text
    report_id = response.json()["id"]
    code = response.json()["query_code"]
    report = await IntegrityReport.get(id=report_id)
    assert report.anonymous and report.reporter_user_id is None and report.reporter_enc is None
    assert report.moderation == "pass"  # logged in: judged by msg_sec_check
    # The attachment left its uploader, and its file name with it.
    stored = await Upload.get(id=upload_id)
    holder = await User.get(openid=ANONYMOUS_HOLDER_OPENID)
    assert stored.owner_id == holder.id and stored.original_name is None
    assert not await IntegrityReportEvent.filter(
        report_id=report_id, actor_user_id=user_id
    ).exists()
    # Not in the reporter's own list (it is anonymous: the query code follows it).
    mine = (await client.get(URL, headers=headers)).json()["items"]
    assert report_id not in [item["id"] for item in mine]
    assert (await client.get(f"{URL}/{report_id}", headers=headers)).status_code == 404

    reviewer = await login("demo-reviewer")
    accepted = await decide(client, reviewer, report_id, "accept")
    assert accepted.status_code == 200, accepted.text
    staff = await operator_of(client, login, place.id)
    seen = [
        await client.get(f"/api/v1/admin/integrity-reports/{report_id}", headers=reviewer),
        await client.get("/api/v1/admin/integrity-reports?status=accepted", headers=reviewer),
        await client.get(f"/api/v1/agencies/{place.uscc}/integrity-reports", headers=staff),
        await client.get(f"/api/v1/agencies/{place.uscc}"),
        await client.get(f"/public/agencies/{place.uscc}"),
        await client.get(f"/api/v1/uploads/{upload_id}", headers=reviewer),
    ]
    assert all(r.status_code == 200 for r in seen), [r.text for r in seen]
    detail = seen[0].json()
    assert detail["reporter"] == {"anonymous": True}
    assert all("actor_user_id" not in event for event in detail["history"])
    for response in seen[:5]:
        text = response.text
        for secret in (openid, "乌", code, code.replace("-", "")):
            assert secret not in text, (secret, response.url)
        for key in ("user_id", "subject_id", "openid", "phone", "contact"):
            assert f'"{key}' not in text and f'{key}"' not in text, (key, response.url)
    assert "乌云" not in seen[5].headers["content-disposition"]
    agency_view = seen[2].json()["items"]
    assert [item["id"] for item in agency_view] == [report_id]
    assert "anonymous" not in agency_view[0] and "attachments" not in agency_view[0]
    assert "created_at" not in agency_view[0]
    # Nothing in the audit log ties the reporter to it either.
    await drain(runtime.redis, runtime.keys, wait=2.0)
    entries = [
        entry
        for entry in await AuditEntry.filter(action__startswith="integrity_report.")
        if entry.detail.get("integrity_report_id") == report_id
    ]
    assert entries and all(e.subject_id != person_id for e in entries)
    assert all(e.actor_user_id != user_id for e in entries)


async def test_a_named_report_is_followed_in_the_mini_program_and_told_at_each_step(
    client, login, runtime
):
    place = await agency()
    headers, user_id, person_id, _ = await bound_citizen(client, login)
    response = await client.post(
        URL, headers=headers,
        json=body(agency_uscc=place.uscc, contact_name="乌云其木格", contact_phone="13800000000"),
    )  # fmt: skip
    assert response.status_code == 201, response.text
    receipt = response.json()
    assert receipt["query_code"] is None and receipt["anonymous"] is False
    report_id = receipt["id"]
    report = await IntegrityReport.get(id=report_id)
    assert report.reporter_user_id == user_id and "13800000000" not in (report.reporter_enc or "")

    reviewer = await login("demo-reviewer")
    detail = (
        await client.get(f"/api/v1/admin/integrity-reports/{report_id}", headers=reviewer)
    ).json()
    assert detail["reporter"] == {
        "anonymous": False, "name_masked": "乌云***", "phone_masked": "138****0000",
        "identity_bound": True,
    }  # fmt: skip
    await drain(runtime.redis, runtime.keys, wait=2.0)
    assert await AuditEntry.filter(action="identity.read", subject_id=person_id).exists()
    # The agency's staff see the report, never its reporter.
    staff = await operator_of(client, login, place.id)
    for step, note in (("accept", None), ("process", "已转交被反映单位核查"),
                       ("conclude", "被反映单位已制定付款计划，首笔款项已支付")):  # fmt: skip
        decided = await decide(client, reviewer, report_id, step, note)
        assert decided.status_code == 200, decided.text
    about = await client.get(f"/api/v1/agencies/{place.uscc}/integrity-reports", headers=staff)
    assert "乌云" not in about.text and "138" not in about.text and "reporter" not in about.text

    mine = (await client.get(f"{URL}/{report_id}", headers=headers)).json()
    assert mine["status"] == "concluded" and mine["result"].startswith("被反映单位已制定")
    assert [event["status"] for event in mine["history"]] == [
        "submitted", "accepted", "processing", "concluded",
    ]  # fmt: skip
    assert mine["concluded_on_time"] is True
    messages = await OutboxMessage.filter(
        user_id=user_id, template_key="integrity_report_status"
    ).order_by("id")
    assert [m.data["phrase2"] for m in messages] == ["已受理", "办理中", "已办结"]
    assert all(m.page == f"pages/integrity/detail?id={report_id}" for m in messages)

    # The league summary and the agency's page count it, once concluded within its deadline.
    page = (await client.get(f"/api/v1/agencies/{place.uscc}")).json()
    assert page["reports"] == {"open": 0, "concluded": 1, "concluded_on_time": 1,
                               "not_accepted": 0}  # fmt: skip
    summary = (await client.get(f"/api/v1/public/integrity-summary?q={place.uscc}")).json()
    assert summary["items"][0]["reports"]["concluded_on_time"] == 1
    html = await client.get(f"/public/integrity?q={place.uscc}")
    assert html.status_code == 200 and place.name in html.text


async def test_user_b_cannot_read_user_a_report_and_others_cannot_review(client, login):
    a_headers, *_ = await bound_citizen(client, login)
    b_headers = await login(unique_code())
    report_id = (
        await client.post(URL, headers=a_headers, json=body(agency_name="阿拉善盟某局"))
    ).json()["id"]
    assert (await client.get(f"{URL}/{report_id}", headers=b_headers)).status_code == 404
    assert report_id not in [
        i["id"] for i in (await client.get(URL, headers=b_headers)).json()["items"]
    ]
    assert (await client.get(f"{URL}/{report_id}", headers=a_headers)).status_code == 200
    assert (await client.get(f"{URL}/{report_id}")).status_code == 401
    for caller in (a_headers, await login("demo-merchant")):
        assert (
            await client.get("/api/v1/admin/integrity-reports", headers=caller)
        ).status_code == 403
        assert (await decide(client, caller, report_id, "accept")).status_code == 403
    admin = await login("demo-admin")
    assert (await client.get("/api/v1/admin/integrity-reports", headers=admin)).status_code == 200
    assert (await decide(client, admin, report_id, "accept")).status_code == 403
    # An agency's report list is its operators' only.
    place = await agency()
    listing = await client.get(
        f"/api/v1/agencies/{place.uscc}/integrity-reports", headers=b_headers
    )
    assert listing.status_code == 403


async def test_workflow_rules_reasons_and_conflicts(client, login):
    reviewer = await login("demo-reviewer")
    report_id = (await client.post(URL, json=body(agency_name="额济纳旗某单位"))).json()["id"]
    assert (await decide(client, reviewer, report_id, "conclude", "办结")).status_code == 409
    needs_reason = await decide(client, reviewer, report_id, "reject")
    assert needs_reason.status_code == 422 and "note" in needs_reason.json()["error"]["fields"]
    rejected = await decide(client, reviewer, report_id, "reject", "不属于政务失信反映范围")
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    again = await decide(client, reviewer, report_id, "accept")
    assert again.status_code == 409 and again.json()["error"]["code"] == "REPORT_CLOSED"

    place = await agency()
    free = (await client.post(URL, json=body(agency_name="阿拉善盟某某局"))).json()["id"]
    linked = await decide(client, reviewer, free, "accept", agency_uscc=place.uscc)
    assert linked.status_code == 200 and linked.json()["agency"] == {
        "name": place.name,
        "listed": True,
    }
    report = await IntegrityReport.get(id=free)
    assert report.conclude_due_on == default_calendar().add_working_days(today(), 40)
    assert report.due_on == report.conclude_due_on
    late = await IntegrityReport.filter(id=free).update(conclude_due_on=today().replace(year=2020))
    assert late == 1
    concluded = await decide(client, reviewer, free, "conclude", "已督促支付")
    assert concluded.json()["concluded_on_time"] is False
    overdue = await client.get("/api/v1/admin/integrity-reports?overdue=true", headers=reviewer)
    assert overdue.status_code == 200 and free not in [i["id"] for i in overdue.json()["items"]]
    bad = await client.get("/api/v1/admin/integrity-reports?status=done", headers=reviewer)
    assert bad.status_code == 422 and "status" in bad.json()["error"]["fields"]


async def test_bad_reports_are_4xx_with_chinese_messages(client, login):
    cases = [
        (body(category="gossip"), 422, "category"),
        (body(promise="太短"), 422, "promise"),
        (body(amount="-1"), 422, "amount"),
        (body(amount="1.234"), 422, "amount"),
        (body(broken_on="2099-01-01"), 422, "broken_on"),
        (body(promised_on="2024-05-01", broken_on="2024-01-01"), 422, "broken_on"),
        (body(), 422, "agency_name"),  # neither chosen nor named
        (body(agency_name="阿拉善盟某局", contact_phone="13800000000"), 422, "contact_name"),
        (body(agency_name="阿拉善盟某局", attachments=[1]), 422, "attachments"),
        (body(agency_uscc="not-a-code"), 422, "agency_uscc"),
        (body(agency_name="阿拉善盟某局", extra=1), 422, "extra"),
    ]
    for payload, status, field in cases:
        response = await client.post(URL, json=payload)
        assert response.status_code == status, (payload, response.text)
        error = response.json()["error"]
        assert field in error.get("fields", {}), (payload, error)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in error["message"]), error
    unknown = await client.post(URL, json=body(agency_uscc="11152921MA0000000X"))
    assert unknown.status_code in (404, 422)
    headers = await login(unique_code())
    risky_body = body(agency_name="阿拉善盟某局", promise=PROMISE + "违禁")
    risky = await client.post(URL, headers=headers, json=risky_body)
    assert risky.status_code == 422 and risky.json()["error"]["code"] == "CONTENT_RISKY"
    bad_token = await client.post(URL, headers={"Authorization": "Bearer nope"}, json=body())
    assert bad_token.status_code == 401


async def test_reports_and_lookups_are_rate_limited_per_address(client, runtime):
    limits = runtime.settings.rate_limits
    for bucket in ("integrity_report_address", "integrity_lookup"):
        await runtime.redis.delete(runtime.keys.rate(bucket, address_key("127.0.0.1")))
    saved = limits["integrity_report_address"].limit, limits["integrity_lookup"].limit
    limits["integrity_report_address"].limit = 2
    limits["integrity_lookup"].limit = 3
    try:
        statuses = [
            (await client.post(URL, json=body(agency_name="阿拉善盟某局"))).status_code
            for _ in range(3)
        ]
        assert statuses == [201, 201, 429]
        guesses = [
            await client.get(f"{URL}/lookup", headers={"X-Query-Code": "2222-3333-4444-5555"})
            for _ in range(4)
        ]
        assert [g.status_code for g in guesses] == [404, 404, 404, 429]
        assert int(guesses[-1].headers["retry-after"]) > 0
    finally:
        limits["integrity_report_address"].limit, limits["integrity_lookup"].limit = saved


@pytest.mark.usefixtures("quiet_outbox")
async def test_the_reporters_messages_pass_the_fake_wechats_template_checks(
    client, login, runtime, fake_wechat
):
    """The new template is one of the console's (config/messages.toml), its page is in the
    mini-program's page list, and its values fit WeChat's limits: WeChat (the fake) takes it."""
    headers, _, _, openid = await bound_citizen(client, login)
    await subscribe(client, headers, fake_wechat, openid, template="integrity_report_status")
    long_name = "阿拉善盟" + "某某某行政事业单位" * 4
    report_id = (await client.post(URL, headers=headers, json=body(agency_name=long_name))).json()[
        "id"
    ]
    reviewer = await login("demo-reviewer")
    assert (await decide(client, reviewer, report_id, "accept")).status_code == 200
    await notifications.deliver_due(runtime.wechat)
    delivered = [m for m in fake_wechat.sent_messages if m.get("touser") == openid]
    assert [m["data"]["phrase2"]["value"] for m in delivered] == ["已受理"]
    assert len(delivered[0]["data"]["thing1"]["value"]) <= 20
    assert delivered[0]["page"] == f"pages/integrity/detail?id={report_id}"
    assert {m.status for m in await OutboxMessage.filter(openid=openid)} == {"sent"}


async def test_agency_pages_for_unknown_and_malformed_codes(client):
    assert (await client.get("/api/v1/agencies/11152921MB0000009X")).status_code in (404, 422)
    malformed = await client.get("/api/v1/agencies/nonsense")
    assert malformed.status_code == 422 and "uscc" in malformed.json()["error"]["fields"]
    place = await agency()
    page = await client.get(f"/public/agencies/{place.uscc}")
    assert page.status_code == 200 and 'id="no-records"' in page.text
    assert "style-src 'sha256-" in page.headers["content-security-policy"]
    other_check = "Y" if place.uscc[-1] != "Y" else "X"  # never the agency's own code
    missing = await client.get(f"/api/v1/agencies/{place.uscc[:-1]}{other_check}")
    assert missing.status_code in (404, 422)
    unknown_page = await client.get("/public/agencies/nonsense")
    assert unknown_page.status_code == 422 and "统一社会信用代码" in unknown_page.text
    assert unknown_page.headers["content-type"].startswith("text/html")
