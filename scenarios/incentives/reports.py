"""Reports (issue 5 item 7): redemptions per venue, day and policy, and the credit checks made
(the plan counts "credit checks in administrative matters"), as JSON or CSV for the monthly
report. Credit checks are the audit log's staff reads (`credit.read`, actor_kind staff), so the
number is the one the holders see in GET /me/credit/queries."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from credit.calendar_dates import SHANGHAI, today
from infra.audit import drain
from infra.errors import Forbidden, Invalid
from infra.models import AuditEntry
from infra.params import query_date
from infra.runtime import Runtime
from infra.security.sessions import Session
from scenarios.incentives.models import Redemption, RedemptionSource, RedemptionStatus
from scenarios.incentives.programmes import default_programmes
from scenarios.incentives.staff import ADMIN_ROLE, require_venue_access

MAX_DAYS = 366
CSV_COLUMNS = (
    "日期", "场所编号", "场所名称", "优惠编号", "优惠名称",
    "核销次数", "其中离线核销", "其中待核查", "信用核查次数",
)  # fmt: skip


def date_range(start: str | None, end: str | None) -> tuple[date, date]:
    """Default: the current month up to today (Asia/Shanghai)."""
    now = today()
    first = query_date(start, now.replace(day=1), "from")
    last = query_date(end, now, "to")
    if last < first:
        raise Invalid("结束日期早于开始日期", fields={"to": "不能早于开始日期"})
    if (last - first).days >= MAX_DAYS:
        raise Invalid("统计区间过长", fields={"to": f"不超过 {MAX_DAYS} 天"})
    return first, last


async def report(
    rt: Runtime, session: Session, venue_id: str | None, start: str | None, end: str | None
) -> dict[str, Any]:
    """One venue (its staff or an admin), or every venue (admin only)."""
    if venue_id is None:
        if not session.has_role(ADMIN_ROLE):
            raise Forbidden("仅管理员可查看全部场所的统计", code="ROLE_REQUIRED")
        venue_ids = list(default_programmes().venues)
    else:
        venue_ids = [(await require_venue_access(rt, session, venue_id)).id]
    first, last = date_range(start, end)
    rows = await Redemption.filter(
        venue_id__in=venue_ids, status=RedemptionStatus.REDEEMED, day__gte=first, day__lte=last
    ).values_list("day", "venue_id", "policy_id", "source", "flag")
    totals: Counter[tuple[date, str, str]] = Counter()
    offline: Counter[tuple[date, str, str]] = Counter()
    flagged: Counter[tuple[date, str, str]] = Counter()
    for day, venue, policy, source, flag in rows:
        key = (day, venue, policy)
        totals[key] += 1
        offline[key] += source == RedemptionSource.OFFLINE
        flagged[key] += flag is not None
    checks = await credit_checks(rt, set(venue_ids), first, last)
    venues = default_programmes().venues
    policies = default_programmes().policies
    redemptions = [
        {
            "day": day.isoformat(),
            "venue_id": venue,
            "venue_name": venues[venue].name if venue in venues else venue,
            "policy_id": policy,
            "title": policies[policy].title if policy in policies else policy,
            "redemptions": totals[(day, venue, policy)],
            "offline": offline[(day, venue, policy)],
            "flagged": flagged[(day, venue, policy)],
        }
        for day, venue, policy in sorted(totals)
    ]
    credit_check_rows = [
        {
            "day": day.isoformat(),
            "venue_id": venue,
            "venue_name": venues[venue].name,
            "count": count,
        }
        for (day, venue), count in sorted(checks.items())
    ]
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "venues": [venues[v].brief() for v in venue_ids],
        "redemptions": redemptions,
        "credit_checks": credit_check_rows,
        "totals": {
            "redemptions": sum(totals.values()),
            "offline": sum(offline.values()),
            "flagged": sum(flagged.values()),
            "credit_checks": sum(checks.values()),
        },
    }


async def credit_checks(
    rt: Runtime, venue_ids: set[str], first: date, last: date
) -> Counter[tuple[date, str]]:
    await drain(rt.redis, rt.keys, wait=2.0)  # include checks still in the audit stream
    # In UTC, as timestamps are stored: SQLite compares them as text, and a Shanghai-offset
    # bound there moved the days' edges by eight hours.
    start = datetime.combine(first, time.min, tzinfo=SHANGHAI).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=SHANGHAI).astimezone(UTC)
    entries = await AuditEntry.filter(
        action="credit.read", actor_kind="staff", at__gte=start, at__lt=end
    ).values_list("at", "detail")
    counts: Counter[tuple[date, str]] = Counter()
    for at, detail in entries:
        values = detail if isinstance(detail, dict) else json.loads(detail or "{}")
        venue = values.get("venue_id")
        if venue in venue_ids:
            counts[(at.astimezone(SHANGHAI).date(), venue)] += 1
    return counts


def as_csv(data: dict[str, Any]) -> bytes:
    """UTF-8 with a BOM (spreadsheets), one row per day, venue and policy, and one row per day
    and venue with the day's totals and its credit checks."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    per_day: dict[tuple[str, str], dict[str, Any]] = {}
    for row in data["redemptions"]:
        writer.writerow(
            [row["day"], row["venue_id"], row["venue_name"], row["policy_id"], row["title"],
             row["redemptions"], row["offline"], row["flagged"], ""]
        )  # fmt: skip
        total = per_day.setdefault(
            (row["day"], row["venue_id"]),
            {"name": row["venue_name"], "redemptions": 0, "offline": 0, "flagged": 0, "checks": 0},
        )
        for field in ("redemptions", "offline", "flagged"):
            total[field] += row[field]
    for row in data["credit_checks"]:
        total = per_day.setdefault(
            (row["day"], row["venue_id"]),
            {"name": row["venue_name"], "redemptions": 0, "offline": 0, "flagged": 0, "checks": 0},
        )
        total["checks"] = row["count"]
    for (day, venue), total in sorted(per_day.items()):
        writer.writerow(
            [day, venue, total["name"], "", "当日合计", total["redemptions"], total["offline"],
             total["flagged"], total["checks"]]
        )  # fmt: skip
    return ("\ufeff" + out.getvalue()).encode()
