"""政务失信 reports in the console: the queue (overdue first, status filter), a report's page and
the decisions its state allows, with the API's roles and the CSRF check."""

from __future__ import annotations

from datetime import timedelta

from credit.calendar_dates import today
from credit.integrity.models import IntegrityReport
from tests.console.test_login import csrf_of, scan_login
from tests.miniprogram_api.test_integrity import URL, body


async def test_queue_overdue_first_page_and_decisions(browser, client, login):
    late = (await client.post(URL, json=body(agency_name="控制台测试甲局"))).json()["id"]
    fresh = (await client.post(URL, json=body(agency_name="控制台测试乙局"))).json()["id"]
    await IntegrityReport.filter(id=late).update(due_on=today() - timedelta(days=10))
    await scan_login(browser, client, login, "demo-reviewer")
    page = await browser.get("/console/integrity-reports")
    assert page.status_code == 200, page.text
    overdue, _, rest = page.text.partition('id="queue-heading"')
    assert f'data-id="{late}"' in overdue and "已超期" in overdue
    assert f'data-id="{fresh}"' in rest and f'data-id="{late}"' not in rest
    assert '<label for="status">' in page.text
    filtered = await browser.get("/console/integrity-reports?status=rejected")
    assert f'data-id="{fresh}"' not in filtered.text
    assert (await browser.get("/console/integrity-reports?status=done")).status_code == 422

    path = f"/console/integrity-reports/{fresh}"
    detail = await browser.get(path)
    assert detail.status_code == 200 and "控制台测试乙局" in detail.text
    assert 'id="decision-accept"' in detail.text and 'id="decision-conclude"' not in detail.text
    csrf = csrf_of(detail.text)
    decide = f"{path}/decision"
    assert (await browser.post(decide, data={"decision": "accept"})).status_code == 403
    assert (await browser.post(decide, data={"csrf": csrf, "decision": "x"})).status_code == 422
    no_reason = await browser.post(decide, data={"csrf": csrf, "decision": "reject"})
    assert no_reason.status_code == 422
    accepted = await browser.post(decide, data={"csrf": csrf, "decision": "accept"})
    assert accepted.status_code == 303
    assert (await IntegrityReport.get(id=fresh)).status == "accepted"
    shown = await browser.get(accepted.headers["location"])
    assert "已受理" in shown.text and 'id="decision-conclude"' in shown.text
    assert (
        await browser.post(decide, data={"csrf": csrf, "decision": "accept"})
    ).status_code == 409
    done = await browser.post(decide, data={"csrf": csrf, "decision": "conclude", "note": "已督促"})
    assert done.status_code == 303
    report = await IntegrityReport.get(id=fresh)
    assert report.status == "concluded" and report.result == "已督促"
    assert (await browser.get("/console/integrity-reports/999999999")).status_code == 404

    # An admin sees the queue and the report but decides nothing; venue staff see neither.
    browser.cookies.clear()
    await scan_login(browser, client, login, "demo-admin")
    seen = await browser.get(f"/console/integrity-reports/{late}")
    assert seen.status_code == 200 and 'id="decision-form"' not in seen.text
    refused = await browser.post(
        f"/console/integrity-reports/{late}/decision",
        data={"csrf": csrf_of(seen.text), "decision": "accept"},
    )
    assert refused.status_code == 403
    browser.cookies.clear()
    await scan_login(browser, client, login, "demo-staff")
    assert (await browser.get("/console/integrity-reports")).status_code == 403
    assert (await browser.get(f"/console/integrity-reports/{late}")).status_code == 403
