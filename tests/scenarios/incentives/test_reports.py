"""Reports (scenarios/incentives/reports.py): redemptions and credit checks per venue, day and
policy, as JSON and CSV."""

from __future__ import annotations

import csv
import io

from credit.calendar_dates import today
from tests.scenarios.incentives.support import (
    HOTEL,
    SCENIC,
    code_of,
    honour_holder,
    redeem,
    staff_of,
    verify,
)


async def _report(client, headers, venue=SCENIC):  # type: ignore[no-untyped-def]
    return await client.get(f"/api/v1/venues/{venue}/report", headers=headers)


async def test_reports_count_redemptions_and_credit_checks_and_export_csv(client, login):
    staff = await login("demo-staff")
    before = (await _report(client, staff)).json()["totals"]
    holder, *_ = await honour_holder(client, login)
    token = (await code_of(client, holder))["token"]
    assert (await verify(client, staff, token)).status_code == 200
    assert (await redeem(client, staff, token, "dp-honour-free")).status_code == 201
    after = await _report(client, staff)
    assert after.status_code == 200, after.text
    totals = after.json()["totals"]
    assert totals["redemptions"] == before["redemptions"] + 1
    assert totals["credit_checks"] == before["credit_checks"] + 1
    day = today().isoformat()
    row = next(
        r
        for r in after.json()["redemptions"]
        if r["day"] == day and r["policy_id"] == "dp-honour-free"
    )
    assert row["venue_id"] == SCENIC and row["redemptions"] >= 1

    exported = await client.get(f"/api/v1/venues/{SCENIC}/report.csv", headers=staff)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    text = exported.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][0] == "日期" and rows[0][-1] == "信用核查次数"
    day_total = next(r for r in rows if r[0] == day and r[4] == "当日合计")
    assert int(day_total[8]) >= 1 and int(day_total[5]) >= 1

    hotel_staff, _ = await staff_of(client, login, HOTEL)
    assert (await _report(client, hotel_staff)).status_code == 403
    assert (await _report(client, await login("demo-citizen"))).status_code == 403
    admin = await login("demo-admin")
    assert (await _report(client, admin)).status_code == 200
    everything = await client.get("/api/v1/admin/incentives/report.csv", headers=admin)
    assert everything.status_code == 200
    assert (await client.get("/api/v1/admin/incentives/report", headers=staff)).status_code == 403
    bad = await client.get(f"/api/v1/venues/{SCENIC}/report?from=2026-13-01", headers=staff)
    assert bad.status_code == 422
    reversed_range = await client.get(
        f"/api/v1/venues/{SCENIC}/report?from=2026-05-02&to=2026-05-01", headers=staff
    )
    assert reversed_range.status_code == 422


async def test_credit_checks_count_by_shanghai_day_on_every_backend(runtime):
    """A check at 00:30 in Shanghai (16:30 UTC the day before) is that Shanghai day's."""
    from datetime import UTC, date, datetime

    from credit.calendar_dates import SHANGHAI
    from infra.audit import AuditEvent, drain
    from scenarios.incentives.reports import credit_checks

    await drain(runtime.redis, runtime.keys, wait=2.0)
    for clock in ("2024-06-02T00:30", "2024-06-01T23:30", "2024-06-03T00:10"):
        event = AuditEvent(
            action="credit.read", actor_kind="staff", actor_role="venue_staff",
            purpose="核查测试", channel="api", detail={"venue_id": SCENIC},
        )  # fmt: skip
        at = datetime.fromisoformat(clock).replace(tzinfo=SHANGHAI).astimezone(UTC)
        await runtime.redis.xadd(runtime.keys.audit_stream, {"e": event.payload(at=at)})
    day = date(2024, 6, 2)
    counts = await credit_checks(runtime, {SCENIC}, day, day)
    assert counts == {(day, SCENIC): 1}
