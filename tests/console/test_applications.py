"""The review pages (issue 14 item 2): queues with overdue first and due dates in working days,
an application's page with its subject, record, attachments and history, the decisions its
state allows (补正 included), and the API's role and object checks."""

from __future__ import annotations

import re
from datetime import timedelta

from credit.applications.models import Application
from credit.calendar_dates import today
from infra.audit import drain
from infra.models import AuditEntry
from tests.console.test_login import csrf_of, scan_login
from tests.helpers import bound_citizen, make_record
from tests.miniprogram_api.test_applications import repair, upload


async def _filed(client, login):  # type: ignore[no-untyped-def]
    headers, _, subject_id, _ = await bound_citizen(client, login)
    record = await make_record(subject_id)
    image = await upload(client, headers)
    filed = await repair(client, headers, record.id, attachments=[image])
    assert filed.status_code == 201, filed.text
    return headers, subject_id, filed.json()["id"], image


async def test_queue_shows_overdue_first_with_working_days(browser, client, login):
    _, _, late_id, _ = await _filed(client, login)
    _, _, fresh_id, _ = await _filed(client, login)
    await Application.filter(id=late_id).update(due_on=today() - timedelta(days=7))
    await scan_login(browser, client, login)
    home = (await browser.get("/console")).text
    table = home[home.index('id="queue-counts"') :]
    row = table[table.index('href="/console/applications/repairs"') :].split("</tr>", 1)[0]
    assert 'class="overdue"' in row  # the queues at a glance: overdue ones counted
    page = await browser.get("/console/applications/repairs")
    assert page.status_code == 200
    text = page.text
    assert text.index(f'data-id="{late_id}"') < text.index(f'data-id="{fresh_id}"')
    overdue_part = text[text.index("overdue-heading") : text.index("queue-heading")]
    assert f'data-id="{late_id}"' in overdue_part and "已超期" in overdue_part
    assert re.search(r"已超期 \d+ 个工作日", overdue_part)
    # a status filter
    filtered = await browser.get("/console/applications/repairs?status=accepted")
    assert f'data-id="{fresh_id}"' not in filtered.text
    bad = await browser.get("/console/applications/repairs?status=nonsense")
    assert bad.status_code == 422 and "status" in bad.text


async def test_detail_decide_and_supplement(browser, client, login, runtime):
    _, subject_id, application_id, image = await _filed(client, login)
    await scan_login(browser, client, login)
    path = f"/console/applications/repairs/{application_id}"
    page = await browser.get(path)
    assert page.status_code == 200
    assert f'<iframe src="/console/uploads/{image}"' in page.text  # the PDF inline
    assert 'id="decision-accept"' in page.text and 'id="decision-supplement"' in page.text
    assert 'id="decision-approve"' not in page.text  # not from 已提交
    picture = await browser.get(f"/console/uploads/{image}")
    assert picture.status_code == 200 and picture.headers["content-type"] == "application/pdf"
    assert picture.headers["x-frame-options"] == "SAMEORIGIN"
    assert picture.headers["content-disposition"] == "inline"
    # the read is audited as the API's is
    await drain(runtime.redis, runtime.keys, wait=2.0)
    assert await AuditEntry.filter(subject_id=subject_id, channel="console").exists()

    csrf = csrf_of(page.text)
    done = await browser.post(f"{path}/decision", data={"csrf": csrf, "decision": "accept"})
    assert done.status_code == 303 and done.headers["location"] == f"{path}?done=decided"
    assert (await Application.get(id=application_id)).status == "accepted"
    missing_note = await browser.post(
        f"{path}/decision", data={"csrf": csrf, "decision": "supplement"}
    )
    assert missing_note.status_code == 422 and "要求补正时必填" in missing_note.text
    asked = await browser.post(
        f"{path}/decision", data={"csrf": csrf, "decision": "supplement", "note": "请补充整改报告"}
    )
    assert asked.status_code == 303
    page = await browser.get(path)
    assert 'data-status="supplementing"' in page.text and "请补充整改报告" in page.text
    assert 'id="decision-form"' not in page.text
    again = await browser.post(f"{path}/decision", data={"csrf": csrf, "decision": "approve"})
    assert again.status_code == 409
    no_token = await browser.post(f"{path}/decision", data={"decision": "approve"})
    assert no_token.status_code == 403


async def test_roles_decide_what_a_page_shows(browser, client, login):
    _, _, application_id, image = await _filed(client, login)
    await scan_login(browser, client, login, "demo-staff")
    for path in (
        "/console/applications/repairs",
        f"/console/applications/repairs/{application_id}",
        f"/console/uploads/{image}",
    ):
        assert (await browser.get(path)).status_code == 403, path
    home = await browser.get("/console")
    assert "信用修复审核" not in home.text
    # an admin reads the queues but does not decide (the API's roles)
    browser.cookies.clear()
    await scan_login(browser, client, login, "demo-admin")
    page = await browser.get(f"/console/applications/repairs/{application_id}")
    assert page.status_code == 200 and 'id="decision-form"' not in page.text
    refused = await browser.post(
        f"/console/applications/repairs/{application_id}/decision",
        data={"csrf": csrf_of(page.text), "decision": "accept"},
    )
    assert refused.status_code == 403
    assert (await browser.get("/console/applications/repairs/999999999")).status_code == 404
