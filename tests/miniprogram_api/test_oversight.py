"""The credit office's oversight endpoints (miniprogram_api/oversight.py): the monthly figures
and their CSV and XLSX downloads, the audit review with the chain verification, and the export
of decisions back to the platform; and the roles that may use them."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook

from credit.applications import export
from credit.applications.models import Application, ExportedDecision
from credit.calendar_dates import today
from credit.models import Subject
from infra import audit
from infra.models import AuditEntry, User
from tests.helpers import make_enterprise, make_record
from tests.scenarios.figures import support

FIGURES = f"/api/v1/admin/figures?month={support.MONTH}"


@pytest.fixture
async def seeded(runtime):  # type: ignore[no-untyped-def]
    await support.seed_once(runtime)
    return runtime


def _rows(body, key):  # type: ignore[no-untyped-def]
    table = next(t for t in body["tables"] if t["key"] == key)
    return {row[0]: row[1:] for row in table["rows"]}


def _csv(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf"), "UTF-8 with BOM"
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


# -- figures -----------------------------------------------------------------------------------


async def test_figures_json_csv_and_workbook_carry_the_hand_counted_numbers(client, login, seeded):
    reviewer = await login("demo-reviewer")
    answer = await client.get(f"{FIGURES}&region={support.REGION}", headers=reviewer)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["month"] == support.MONTH and body["region"] == support.REGION
    assert _rows(body, "applications")["信用修复"] == [2, 2, 1, 1, 0, 0, 1, 1, 2.5]

    csv_answer = await client.get(
        f"/api/v1/admin/figures.csv?month={support.MONTH}&region={support.REGION}"
        "&table=applications",
        headers=reviewer,
    )
    assert csv_answer.status_code == 200
    assert csv_answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv_answer.headers["content-disposition"]
    rows = _csv(csv_answer.content)
    assert rows[0][:3] == ["类型", "收件", "办结"]
    by_kind = {r[0]: r[1:] for r in rows[1:]}
    assert by_kind["信用异议"] == ["4", "2", "1", "1", "0", "1", "1", "0", "9.0"]
    assert by_kind["企业经办授权"][-1] == ""  # no decision: no average

    xlsx = await client.get(f"/api/v1/admin/figures.xlsx?month={support.MONTH}", headers=reviewer)
    assert xlsx.status_code == 200
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames[0] == "说明"
    sheet = book["一店一码扫码查询"]
    values = [tuple(r) for r in sheet.iter_rows(values_only=True)]
    assert values[0] == ("示范区", "扫码次数", "其中 H5 页面")
    assert ("定远营诚信示范街区", 3, 2) in values and ("额济纳胡杨林诚信示范景区", 1, 0) in values
    index = [tuple(r) for r in book["街区信用指数走势"].iter_rows(values_only=True)]
    assert index[1:] == [
        ("定远营诚信示范街区", "2024-04-01", 80.5),
        ("定远营诚信示范街区", "2024-04-02", 81.0),
        ("腾格里经开区诚信示范园区", "2024-04-01", 70.0),
    ]


async def test_figures_roles_and_bad_parameters(client, login, seeded):
    for code in ("demo-citizen", "demo-staff", "demo-merchant"):
        headers = await login(code)
        for url in (FIGURES, f"/api/v1/admin/figures.xlsx?month={support.MONTH}"):
            assert (await client.get(url, headers=headers)).status_code == 403
    assert (await client.get(FIGURES)).status_code == 401
    admin = await login("demo-admin")
    assert (await client.get(FIGURES, headers=admin)).status_code == 200
    for bad in ("month=2024-13", "month=2024-4", "month=", f"month={support.MONTH}&region=15"):
        answer = await client.get(f"/api/v1/admin/figures?{bad}", headers=admin)
        assert answer.status_code == 422, bad
        assert answer.json()["error"]["fields"]
    answer = await client.get(
        f"/api/v1/admin/figures.csv?month={support.MONTH}&table=nope", headers=admin
    )
    assert answer.status_code == 422 and "table" in answer.json()["error"]["fields"]


async def test_the_page_fragment_has_tables_charts_and_download_links(seeded):
    from infra.params import query_month
    from scenarios.figures.monthly import monthly_figures
    from scenarios.figures.page import render_fragment

    figures = await monthly_figures(seeded, query_month(support.MONTH), None)
    html = render_fragment(figures)
    assert html.count("<svg") >= 4 and "<script" not in html and "style=" not in html
    assert '<caption id="t-plate_scans">一店一码扫码查询' in html
    assert f"/api/v1/admin/figures.xlsx?month={support.MONTH}" in html
    assert f"/api/v1/admin/figures.csv?month={support.MONTH}&amp;table=complaints" in html
    assert "<title>定远营诚信示范街区 扫码次数：3</title>" in html


# -- audit review ------------------------------------------------------------------------------


async def _reviewer_id() -> int:
    user = await User.get(openid="demo-openid-reviewer")
    return int(user.id)


async def test_audit_search_by_subject_actor_purpose_and_dates_is_itself_audited(
    client, login, runtime
):
    reviewer = await login("demo-reviewer")
    enterprise = await make_enterprise()
    await audit.append(
        runtime.redis,
        runtime.keys,
        audit.AuditEvent(
            action="credit.read", actor_kind="staff", actor_role="venue_staff",
            purpose="审查测试用途", channel="api", actor_user_id=424242,
            subject_id=enterprise.id,
        ),
    )  # fmt: skip
    day = today().isoformat()
    base = "/api/v1/admin/audit-entries"
    by_subject = await client.get(f"{base}?subject={enterprise.uscc}", headers=reviewer)
    assert by_subject.status_code == 200, by_subject.text
    items = by_subject.json()["items"]
    assert [i["purpose"] for i in items] == ["审查测试用途"]
    assert items[0]["subject"]["name"] == enterprise.name and items[0]["actor_user_id"] == 424242
    by_actor = (await client.get(f"{base}?actor_user_id=424242", headers=reviewer)).json()
    assert [i["subject_id"] for i in by_actor["items"]] == [enterprise.id]
    by_purpose = await client.get(f"{base}?purpose=审查测试&from={day}&to={day}", headers=reviewer)
    assert {i["subject_id"] for i in by_purpose.json()["items"]} == {enterprise.id}
    earlier = await client.get(
        f"{base}?subject_id={enterprise.id}&from=2024-01-01&to=2024-01-31", headers=reviewer
    )
    assert earlier.json()["items"] == []
    unknown = await client.get(f"{base}?subject=91152921MA0000000X", headers=reviewer)
    assert unknown.status_code == 200 and unknown.json()["items"] == []  # no such subject
    await audit.drain(runtime.redis, runtime.keys, wait=2)
    searches = await AuditEntry.filter(
        action="audit.search", actor_user_id=await _reviewer_id(), subject_id=enterprise.id
    ).count()
    assert searches >= 2  # by USCC and by subject id

    # A person by ID number (found by its blind index), shown masked.
    from credit.models import IdentityBinding
    from server.demo import DEMO_CITIZEN_ID_NUMBER

    person = await User.get(openid="demo-openid-citizen")
    citizen_subject = (await IdentityBinding.get(user_id=person.id)).subject_id
    await audit.append(
        runtime.redis,
        runtime.keys,
        audit.AuditEvent(
            action="credit.read", actor_kind="staff", actor_role="venue_staff",
            purpose="审查测试个人", channel="api", subject_id=citizen_subject,
        ),
    )  # fmt: skip
    by_id_number = await client.get(
        f"{base}?subject={DEMO_CITIZEN_ID_NUMBER}&purpose=审查测试个人", headers=reviewer
    )
    assert by_id_number.status_code == 200, by_id_number.text
    shown = by_id_number.json()["items"][0]["subject"]
    assert shown["kind"] == "person" and "*" in shown["id_masked"]
    assert DEMO_CITIZEN_ID_NUMBER not in by_id_number.text

    for bad in (
        "from=2024-02-30",
        "subject=abc",
        "actor_user_id=x1",
        "from=2024-02-02&to=2024-02-01",
    ):
        assert (await client.get(f"{base}?{bad}", headers=reviewer)).status_code == 422, bad


async def test_audit_review_is_the_credit_office_s_only(client, login):
    for code in ("demo-admin", "demo-citizen", "demo-staff", "demo-merchant"):
        headers = await login(code)
        for url in ("/api/v1/admin/audit-entries", "/api/v1/admin/audit/verification"):
            answer = await client.get(url, headers=headers)
            assert answer.status_code == 403, (code, url)


async def test_verification_reports_the_first_broken_link(client, login, runtime):
    reviewer = await login("demo-reviewer")
    url = "/api/v1/admin/audit/verification"
    await audit.drain(runtime.redis, runtime.keys, wait=2)
    verifications = await AuditEntry.filter(action="audit.verify").count()
    for n in range(3):
        await audit.append(
            runtime.redis,
            runtime.keys,
            audit.AuditEvent(
                action="credit.read", actor_kind="public", actor_role="public",
                purpose=f"断链测试 {n}", channel="api",
            ),
        )  # fmt: skip
    clean = (await client.get(url, headers=reviewer)).json()
    assert clean["ok"] is True and clean["first_broken"] is None and clean["checked"] >= 3
    first, second, _ = await AuditEntry.filter(purpose__startswith="断链测试").order_by("id")
    await AuditEntry.filter(id=second.id).update(purpose="改过的用途")
    try:
        broken = (await client.get(url, headers=reviewer)).json()
        assert broken["ok"] is False
        assert broken["first_broken"]["id"] == second.id
        assert broken["first_broken"]["reason"] == "hash"
        assert broken["first_broken"]["previous_id"] == first.id
        assert broken["last_id"] == first.id
        # The command line says the same, exit code 1.
        proc = await asyncio.create_subprocess_exec(
            *_cli("audit", "verify"), env=support.cli_env(runtime.settings),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate()
        assert proc.returncode == 1, err.decode()
        assert f"第 {second.id} 条" in err.decode()
    finally:
        await AuditEntry.filter(id=second.id).update(purpose=second.purpose)
    # A removed entry breaks the link of the one after it.
    await AuditEntry.filter(id=second.id).update(prev_hash="0" * 64)
    try:
        unlinked = (await client.get(url, headers=reviewer)).json()
        assert unlinked["first_broken"]["id"] == second.id
        assert unlinked["first_broken"]["reason"] == "prev_hash"
    finally:
        await AuditEntry.filter(id=second.id).update(prev_hash=first.hash)
    assert (await client.get(url, headers=reviewer)).json()["ok"] is True
    proc = await asyncio.create_subprocess_exec(
        *_cli("audit", "verify"), env=support.cli_env(runtime.settings),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert "审计日志完整" in out.decode()
    await audit.drain(runtime.redis, runtime.keys, wait=2)
    # Each of the four verifications through the API is itself in the log.
    assert await AuditEntry.filter(action="audit.verify").count() == verifications + 4


def _cli(*args: str) -> list[str]:
    import sys

    return [sys.executable, "-m", "server", *args]


# -- results back to the platform --------------------------------------------------------------


async def _decided(kind: str, status: str, subject: Subject, **kw) -> Application:  # type: ignore[no-untyped-def]
    user = await User.create(openid=f"export-{datetime.now(UTC).timestamp()}-{kind}-{status}")
    return await Application.create(
        kind=kind, status=status, applicant_id=user.id, subject_id=subject.id, text="导出测试",
        due_on=today(), decided_at=datetime.now(UTC), **kw,
    )  # fmt: skip


async def test_export_twice_exports_nothing_new_and_a_batch_downloads_again(client, login, runtime):
    reviewer = await login("demo-reviewer")
    enterprise = await make_enterprise()
    record = await make_record(enterprise.id, document_no="阿左交罚〔2026〕88号")
    repair = await _decided("repair", "approved", enterprise, record_id=record.id)
    objection = await _decided(
        "objection", "denied", enterprise, record_id=record.id, outcome="upheld"
    )
    registration = await _decided("registration", "approved", enterprise)
    rejected_registration = await _decided("registration", "rejected", enterprise)
    earlier = await _decided("repair", "denied", enterprise, record_id=record.id)
    await Application.filter(id=earlier.id).update(decided_at=datetime.now(UTC) - timedelta(days=3))

    first = await client.post(
        "/api/v1/admin/exports", json={"since": today().isoformat()}, headers=reviewer
    )
    assert first.status_code == 201, first.text
    batch = first.json()
    assert batch["count"] >= 3
    download = await client.get(batch["csv_url"], headers=reviewer)
    assert download.status_code == 200
    rows = _csv(download.content)
    assert rows[0] == list(export.CSV_COLUMNS)
    by_id = {int(r[1]): r for r in rows[1:]}
    assert rejected_registration.id not in by_id and earlier.id not in by_id
    assert by_id[repair.id][0] == "信用修复"
    assert by_id[repair.id][3:7] == [enterprise.name, enterprise.uscc, "阿左交罚〔2026〕88号",
                                     record.authority]  # fmt: skip
    assert by_id[repair.id][8] == today().isoformat() and by_id[repair.id][9] == "阿拉善盟信用中心"
    assert by_id[objection.id][7] == "异议不成立，维持原记录"
    assert registration.id in by_id

    second = await client.post(
        "/api/v1/admin/exports", json={"since": today().isoformat()}, headers=reviewer
    )
    assert second.status_code == 201 and second.json()["count"] == 0
    again = await client.get(batch["csv_url"], headers=reviewer)
    assert again.content == download.content
    listed = (await client.get("/api/v1/admin/exports", headers=reviewer)).json()["items"]
    assert [b["id"] for b in listed[:2]] == [second.json()["id"], batch["id"]]
    assert await ExportedDecision.filter(application_id=repair.id).count() == 1

    # The command line exports nothing new either.
    proc = await asyncio.create_subprocess_exec(
        *_cli("export", "--since", today().isoformat()), env=support.cli_env(runtime.settings),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert len(_csv(out)) == 1 and "0 条新决定" in err.decode()

    for code in ("demo-admin", "demo-citizen", "demo-staff"):
        headers = await login(code)
        assert (
            await client.post(
                "/api/v1/admin/exports", json={"since": "2026-01-01"}, headers=headers
            )
        ).status_code == 403
        assert (await client.get(batch["csv_url"], headers=headers)).status_code == 403
    assert (
        await client.get("/api/v1/admin/exports/999999999/decisions.csv", headers=reviewer)
    ).status_code == 404
    for bad in ({}, {"since": "2026-02-30"}, {"since": "yesterday"}):
        assert (
            await client.post("/api/v1/admin/exports", json=bad, headers=reviewer)
        ).status_code == 422


async def test_racing_exports_take_disjoint_decisions(runtime):
    enterprise = await make_enterprise()
    record = await make_record(enterprise.id)
    made = [await _decided("repair", "denied", enterprise, record_id=record.id) for _ in range(6)]
    batches = await asyncio.gather(
        *(export.export_new(runtime, today(), user_id=None, channel="cli") for _ in range(3))
    )
    taken = [
        set(await ExportedDecision.filter(batch_id=b.id).values_list("application_id", flat=True))
        for b in batches
    ]
    mine = {a.id for a in made}
    assert sum(len(t & mine) for t in taken) == len(mine)  # each exactly once
    assert sum(b.count for b in batches) == sum(len(t) for t in taken)


async def test_report_command_writes_the_same_workbook(runtime, seeded, tmp_path):
    out = tmp_path / "figures.xlsx"
    proc = await asyncio.create_subprocess_exec(
        *_cli("report", "--month", support.MONTH, "--region", support.REGION, "--out", str(out)),
        env=support.cli_env(runtime.settings),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    book = load_workbook(out)
    rows = {r[0]: r[1:] for r in book["申请办理情况"].iter_rows(min_row=2, values_only=True)}
    assert rows["自愿注册"] == (2, 2, 1, 0, 1, 0, 0, 1, 1.0)
    assert rows["企业经办授权"][-1] is None
    bad = await asyncio.create_subprocess_exec(
        *_cli("report", "--month", "2024-13"), env=support.cli_env(runtime.settings),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await bad.communicate()
    assert bad.returncode == 2 and "月份格式有误" in err.decode()
