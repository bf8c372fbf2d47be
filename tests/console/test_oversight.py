"""The credit office's console pages (issue 14 items 3-5): the monthly 调度 figures with their
CSV and XLSX downloads, the audit review with the chain verification, and the exports back to
the platform; each with the API's roles, and forms refused without their CSRF token."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook

from credit.applications import export
from credit.applications.models import Application
from credit.calendar_dates import today
from infra import audit
from infra.models import AuditEntry, User
from tests.console.test_login import csrf_of, scan_login
from tests.helpers import make_enterprise
from tests.scenarios.figures import support

FIGURES = f"/console/figures?month={support.MONTH}&region={support.REGION}"


@pytest.fixture
async def seeded(runtime):  # type: ignore[no-untyped-def]
    await support.seed_once(runtime)
    return runtime


def _csv(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf"), "UTF-8 with BOM"
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def _links(page: str, suffix: str) -> list[str]:
    return [
        link.replace("&amp;", "&")
        for link in re.findall(r'href="(/console/[^"]+)"', page)
        if suffix in link
    ]


async def test_figures_page_tables_charts_and_downloads(browser, client, login, seeded):
    await scan_login(browser, client, login, "demo-reviewer")
    home = await browser.get("/console")
    assert 'href="/console/figures"' in home.text  # in the nav
    page = await browser.get(FIGURES)
    assert page.status_code == 200, page.text
    assert '<label for="f-month">' in page.text and f'value="{support.MONTH}"' in page.text
    assert page.text.count("<table>") >= 7 and "<svg" in page.text
    assert "信用修复" in page.text and "/api/v1/" not in page.text  # the console's own links

    csv_link = next(link for link in _links(page.text, "/console/figures.csv"))
    assert "table=applications" in csv_link
    answer = await browser.get(csv_link)
    assert answer.status_code == 200
    assert answer.headers["content-disposition"].startswith("attachment;")
    rows = _csv(answer.content)
    assert rows[0][:3] == ["类型", "收件", "办结"]
    assert {r[0]: r[1:] for r in rows[1:]}["信用修复"] == [
        "2", "2", "1", "1", "0", "0", "1", "1", "2.5"
    ]  # fmt: skip

    [xlsx_link] = _links(page.text, "/console/figures.xlsx")
    book_answer = await browser.get(xlsx_link)
    assert book_answer.status_code == 200
    assert book_answer.headers["content-disposition"].startswith("attachment;")
    assert book_answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(book_answer.content))
    assert book.sheetnames[0] == "说明" and len(book.sheetnames) >= 8

    css = await browser.get("/console/assets/console.css")
    assert ".figures-chart{width:100%;max-width:640px" in css.text
    assert ".figures-table{overflow-x:auto" in css.text


async def test_figures_default_month_bad_input_and_roles(browser, client, login, seeded):
    await scan_login(browser, client, login, "demo-admin")
    assert (await browser.get("/console/figures")).status_code == 200  # last month
    assert (await browser.get("/console/figures?month=2024-13")).status_code == 422
    assert (await browser.get(FIGURES + "x")).status_code == 422
    bad_table = await browser.get(f"/console/figures.csv?month={support.MONTH}&table=nope")
    assert bad_table.status_code == 422
    urls = (FIGURES, f"/console/figures.xlsx?month={support.MONTH}",
            f"/console/figures.csv?month={support.MONTH}&table=applications")  # fmt: skip
    # A citizen gets no console session at all (console_roles); without one, to the login page.
    browser.cookies.clear()
    for url in urls:
        assert (await browser.get(url)).status_code == 302, url
    await scan_login(browser, client, login, "demo-staff")
    for url in urls:
        assert (await browser.get(url)).status_code == 403, url
    assert 'href="/console/figures"' not in (await browser.get("/console")).text


async def test_audit_search_and_verification(browser, client, login, runtime):
    enterprise = await make_enterprise()
    await audit.append(
        runtime.redis,
        runtime.keys,
        audit.AuditEvent(
            action="credit.read", actor_kind="staff", actor_role="venue_staff",
            purpose="控制台检索用例", channel="api", actor_user_id=434343,
            subject_id=enterprise.id,
        ),
    )  # fmt: skip
    await scan_login(browser, client, login, "demo-reviewer")
    opened = await browser.get("/console/audit")
    assert opened.status_code == 200 and 'id="entries"' not in opened.text
    for control in ("a-subject", "a-actor", "a-purpose", "a-from", "a-to"):
        assert f'<label for="{control}">' in opened.text
    day = today().isoformat()
    found = await browser.get(
        f"/console/audit?run=1&subject={enterprise.uscc}&purpose=控制台检索&from={day}&to={day}"
    )
    assert found.status_code == 200, found.text
    assert "控制台检索用例" in found.text and enterprise.name in found.text
    assert "用户 434343" in found.text
    by_actor = await browser.get("/console/audit?run=1&actor_user_id=434343")
    assert "控制台检索用例" in by_actor.text
    assert (await browser.get("/console/audit?run=1&from=2024-02-30")).status_code == 422
    await audit.drain(runtime.redis, runtime.keys, wait=2)
    reviewer = await User.get(openid="demo-openid-reviewer")
    assert await AuditEntry.filter(
        action="audit.search", actor_user_id=reviewer.id, subject_id=enterprise.id,
        channel="console",
    ).exists()  # fmt: skip

    csrf = csrf_of(opened.text)
    verified = await browser.post("/console/audit/verify", data={"csrf": csrf})
    assert verified.status_code == 200 and "完整" in verified.text
    assert 'id="verification"' in verified.text
    assert (await browser.post("/console/audit/verify", data={})).status_code == 403
    assert (await browser.post("/console/audit/verify", data={"csrf": "x" * 20})).status_code == 403


async def test_audit_verification_shows_the_first_broken_link(browser, client, login, runtime):
    for n in range(2):
        await audit.append(
            runtime.redis,
            runtime.keys,
            audit.AuditEvent(
                action="credit.read", actor_kind="public", actor_role="public",
                purpose=f"控制台断链 {n}", channel="api",
            ),
        )  # fmt: skip
    await audit.drain(runtime.redis, runtime.keys, wait=2)
    _, second = await AuditEntry.filter(purpose__startswith="控制台断链").order_by("id")
    await scan_login(browser, client, login, "demo-reviewer")
    csrf = csrf_of((await browser.get("/console/audit")).text)
    await AuditEntry.filter(id=second.id).update(purpose="改过")
    try:
        broken = await browser.post("/console/audit/verify", data={"csrf": csrf})
    finally:
        await AuditEntry.filter(id=second.id).update(purpose=second.purpose)
    assert broken.status_code == 200
    assert f'<strong id="broken-id">{second.id}</strong>' in broken.text
    assert "本条内容在写入后被改动" in broken.text and "完整" not in broken.text


async def test_audit_pages_are_the_credit_office_s_only(browser, client, login):
    for code in ("demo-admin", "demo-staff"):
        browser.cookies.clear()
        await scan_login(browser, client, login, code)
        page = await browser.get("/console")
        assert 'href="/console/audit"' not in page.text
        assert (await browser.get("/console/audit?run=1")).status_code == 403, code
        verify = await browser.post("/console/audit/verify", data={"csrf": csrf_of(page.text)})
        assert verify.status_code == 403, code


async def test_exports_page_exports_once_and_downloads(browser, client, login):
    enterprise = await make_enterprise()
    user = await User.create(openid=f"console-export-{datetime.now(UTC).timestamp()}")
    decided = await Application.create(
        kind="registration", status="approved", applicant_id=user.id, subject_id=enterprise.id,
        text="控制台导出测试", due_on=today(), decided_at=datetime.now(UTC),
    )  # fmt: skip
    await scan_login(browser, client, login, "demo-reviewer")
    page = await browser.get("/console/exports")
    assert page.status_code == 200 and '<label for="e-since">' in page.text
    csrf = csrf_of(page.text)
    since = today().isoformat()
    assert (await browser.post("/console/exports", data={"since": since})).status_code == 403
    bad = await browser.post("/console/exports", data={"csrf": csrf, "since": "2026-02-30"})
    assert bad.status_code == 422
    made = await browser.post("/console/exports", data={"csrf": csrf, "since": since})
    assert made.status_code == 303
    batch_id = made.headers["location"].rsplit("=", 1)[1]
    listed = await browser.get(made.headers["location"])
    link = f"/console/exports/{batch_id}/decisions.csv"
    assert f'href="{link}"' in listed.text and "已生成导出批次" in listed.text
    download = await browser.get(link)
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith("attachment;")
    rows = _csv(download.content)
    assert rows[0] == list(export.CSV_COLUMNS)
    assert str(decided.id) in {r[1] for r in rows[1:]}
    again = await browser.post("/console/exports", data={"csrf": csrf, "since": since})
    second = again.headers["location"].rsplit("=", 1)[1]
    empty = _csv((await browser.get(f"/console/exports/{second}/decisions.csv")).content)
    assert str(decided.id) not in {r[1] for r in empty[1:]}  # nothing exported twice
    assert (await browser.get("/console/exports/999999999/decisions.csv")).status_code == 404

    browser.cookies.clear()
    await scan_login(browser, client, login, "demo-admin")
    assert (await browser.get("/console/exports")).status_code == 403
    assert (await browser.get(link)).status_code == 403
