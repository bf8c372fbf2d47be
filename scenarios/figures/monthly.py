"""One month's 调度 figures for the league or one region (旗区), each table counted by GROUP BY
in the database (SQLite and PostgreSQL alike); Python only adds up the few grouped rows and
turns day pairs into working days (credit/workdays.py knows the holidays, the database does not).

The scope is a region (6-digit 行政区划代码) because it is the one place every table shares:
applications by their subject's region, repairs and objections too, complaints, plate scans and
the street index by their zone's region (config/zones.toml), redemptions by their venue's region
(config/programmes.toml). Definitions (also in README "Monthly figures"):

- received: created in the month; decided: its final decision (通过 / 未通过 / 不予受理) in the
  month; withdrawn: withdrawn in the month;
- overdue decided: decided in the month after its due date; overdue open: still open now and due
  before the month's end (the backlog as the report is run, not as it was on the month's last day);
- average working days: from the day it was received to the day it was decided, counted by the
  working-day calendar (the day of receipt does not count).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from tortoise import connections
from tortoise.expressions import RawSQL
from tortoise.functions import Count

from credit.applications.models import (
    OPEN_STATUSES,
    Application,
    ApplicationKind,
    ApplicationStatus,
    ObjectionOutcome,
)
from credit.applications.service import KIND_LABELS, OUTCOME_LABELS
from credit.calendar_dates import SHANGHAI, add_months, today
from credit.workdays import default_calendar
from infra.audit import drain
from infra.errors import Forbidden, Invalid
from infra.models import AuditEntry
from infra.params import query_month
from infra.runtime import Runtime
from infra.security.sessions import Session
from scenarios.incentives.models import Redemption, RedemptionSource, RedemptionStatus
from scenarios.incentives.programmes import default_programmes
from scenarios.merchants.models import Complaint, ComplaintStatus, Merchant, ZoneIndexSnapshot
from scenarios.merchants.public import PLATE_SCAN_PURPOSE
from scenarios.merchants.rules import default_rules as merchant_rules

# Who may read the figures: the credit centre's reviewers and the administrators.
FIGURES_ROLES = ("reviewer", "admin")
# Region codes of GB/T 2260 for the three banners; a development zone's code shows as itself.
REGION_NAMES = {"152921": "阿拉善左旗", "152922": "阿拉善右旗", "152923": "额济纳旗"}
FINAL = (ApplicationStatus.APPROVED, ApplicationStatus.DENIED, ApplicationStatus.REJECTED)
_REGION = re.compile(r"\d{6}", re.ASCII)

Cell = str | int | float | None
TABLE_KEYS = (
    "applications", "repairs_by_authority", "objections_by_outcome", "complaints",
    "plate_scans", "redemptions", "street_index",
)  # fmt: skip


@dataclass
class Table:
    key: str  # stable: the CSV's file name and the workbook's sheet order
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Cell, ...]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "columns": list(self.columns),
            "rows": [list(row) for row in self.rows],
        }


@dataclass
class MonthlyFigures:
    month: date  # the first day
    region: str | None
    tables: dict[str, Table]
    # The street index trend: zone name -> [(day, value)], for the line chart.
    index_trend: dict[str, list[tuple[date, float]]]
    generated_at: datetime

    @property
    def month_text(self) -> str:
        return f"{self.month:%Y-%m}"

    @property
    def scope_label(self) -> str:
        if self.region is None:
            return "全盟"
        return REGION_NAMES.get(self.region, self.region)

    def as_dict(self) -> dict[str, Any]:
        return {
            "month": self.month_text,
            "region": self.region,
            "scope": self.scope_label,
            "generated_at": self.generated_at.isoformat(timespec="seconds"),
            "tables": [table.as_dict() for table in self.tables.values()],
        }


def require_figures_role(session: Session) -> None:
    if not any(session.has_role(role) for role in FIGURES_ROLES):
        raise Forbidden("仅信用中心审核人员和管理员可查看调度统计", code="ROLE_REQUIRED")


def parse_scope(month: str | None, region: str | None) -> tuple[date, str | None]:
    """`?month=YYYY-MM` (required) and `?region=` (6 digits, optional: the whole league)."""
    first = query_month(month)
    if region in (None, ""):
        return first, None
    if not _REGION.fullmatch(region):
        raise Invalid("地区代码有误", fields={"region": "须为 6 位行政区划代码"})
    return first, region


def parse_table(value: str | None) -> str:
    if value not in TABLE_KEYS:
        raise Invalid("统计表名称有误", fields={"table": "可选：" + "、".join(TABLE_KEYS)})
    return value


async def figures_for(
    rt: Runtime, session: Session, month: str | None, region: str | None
) -> MonthlyFigures:
    require_figures_role(session)
    first, scope = parse_scope(month, region)
    return await monthly_figures(rt, first, scope)


def _dialect() -> str:
    return str(connections.get("default").capabilities.dialect)


def _day(column: str) -> RawSQL:
    """The Asia/Shanghai calendar day of a stored UTC timestamp, in the database."""
    if _dialect() == "postgres":
        return RawSQL(f"CAST(({column} AT TIME ZONE 'Asia/Shanghai') AS DATE)")
    return RawSQL(f"date({column}, '+8 hours')")


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


async def monthly_figures(rt: Runtime, month: date, region: str | None) -> MonthlyFigures:
    # Bounds in UTC, as timestamps are stored: SQLite compares them as text, so a bound with
    # another offset would shift the month by eight hours there.
    start = datetime.combine(month, time.min, tzinfo=SHANGHAI).astimezone(UTC)
    next_month = add_months(month, 1)
    end = datetime.combine(next_month, time.min, tzinfo=SHANGHAI).astimezone(UTC)
    zones = {
        z.id: z for z in merchant_rules().zones.values() if region is None or z.region == region
    }
    venues = {
        v.id: v
        for v in default_programmes().venues.values()
        if region is None or v.region == region
    }
    tables = [
        await _applications(start, end, next_month, region),
        await _repairs_by_authority(start, end, region),
        await _objections_by_outcome(start, end, region),
        await _complaints(start, end, zones),
        await _plate_scans(rt, start, end, zones),
        await _redemptions(month, next_month, venues),
    ]
    index_table, trend = await _street_index(month, next_month, zones)
    tables.append(index_table)
    return MonthlyFigures(
        month=month,
        region=region,
        tables={t.key: t for t in tables},
        index_trend=trend,
        generated_at=datetime.now(SHANGHAI),
    )


def _applications_in(region: str | None, kinds: tuple[ApplicationKind, ...] | None = None) -> Any:
    query = Application.all()
    if region is not None:
        query = query.filter(subject__region=region)
    if kinds is not None:
        query = query.filter(kind__in=list(kinds))
    return query


APPLICATION_COLUMNS = (
    "类型", "收件", "办结", "其中通过", "其中未通过", "其中不予受理", "撤回",
    "超期办结", "超期未办", "平均办理工作日",
)  # fmt: skip


async def _applications(
    start: datetime, end: datetime, next_month: date, region: str | None
) -> Table:
    received = Counter(
        {
            row["kind"]: row["n"]
            for row in await _applications_in(region)
            .filter(created_at__gte=start, created_at__lt=end)
            .annotate(n=Count("id"))
            .group_by("kind")
            .values("kind", "n")
        }
    )
    withdrawn = Counter(
        {
            row["kind"]: row["n"]
            for row in await _applications_in(region)
            .filter(status=ApplicationStatus.WITHDRAWN, updated_at__gte=start, updated_at__lt=end)
            .annotate(n=Count("id"))
            .group_by("kind")
            .values("kind", "n")
        }
    )
    # Decided in the month, grouped down to the day pairs the working days are counted from.
    decided_rows = (
        await _applications_in(region)
        .filter(status__in=list(FINAL), decided_at__gte=start, decided_at__lt=end)
        .annotate(
            received_on=_day('"application"."created_at"'),
            decided_on=_day('"application"."decided_at"'),
            n=Count("id"),
        )
        .group_by("kind", "status", "received_on", "decided_on", "due_on")
        .values("kind", "status", "received_on", "decided_on", "due_on", "n")
    )
    due_before = min(next_month, today())
    overdue_open = Counter(
        {
            row["kind"]: row["n"]
            for row in await _applications_in(region)
            .filter(status__in=list(OPEN_STATUSES), due_on__lt=due_before)
            .annotate(n=Count("id"))
            .group_by("kind")
            .values("kind", "n")
        }
    )
    calendar = default_calendar()
    decided: Counter[str] = Counter()
    by_status: Counter[tuple[str, str]] = Counter()
    overdue_decided: Counter[str] = Counter()
    workdays: Counter[str] = Counter()
    for row in decided_rows:
        kind, n = str(row["kind"]), int(row["n"])
        received_on, decided_on = _as_date(row["received_on"]), _as_date(row["decided_on"])
        decided[kind] += n
        by_status[(kind, str(row["status"]))] += n
        overdue_decided[kind] += n if decided_on > _as_date(row["due_on"]) else 0
        workdays[kind] += n * calendar.working_days_between(received_on, decided_on)
    table = Table("applications", "申请办理情况（按类型、结果）", APPLICATION_COLUMNS)
    for kind in ApplicationKind:
        k = str(kind)
        table.rows.append(
            (
                KIND_LABELS[kind],
                received[k],
                decided[k],
                by_status[(k, ApplicationStatus.APPROVED.value)],
                by_status[(k, ApplicationStatus.DENIED.value)],
                by_status[(k, ApplicationStatus.REJECTED.value)],
                withdrawn[k],
                overdue_decided[k],
                overdue_open[k],
                round(workdays[k] / decided[k], 1) if decided[k] else None,
            )
        )
    return table


async def _repairs_by_authority(start: datetime, end: datetime, region: str | None) -> Table:
    repairs = _applications_in(region, (ApplicationKind.REPAIR,))
    received = await (
        repairs.filter(created_at__gte=start, created_at__lt=end)
        .annotate(n=Count("id"))
        .group_by("record__authority")
        .values("record__authority", "n")
    )
    decided = await (
        _applications_in(region, (ApplicationKind.REPAIR,))
        .filter(status__in=list(FINAL), decided_at__gte=start, decided_at__lt=end)
        .annotate(n=Count("id"))
        .group_by("record__authority", "status")
        .values("record__authority", "status", "n")
    )
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for row in received:
        counts[row["record__authority"] or "未注明"]["received"] += row["n"]
    for row in decided:
        counts[row["record__authority"] or "未注明"][str(row["status"])] += row["n"]
    table = Table(
        "repairs_by_authority",
        "信用修复（按处罚机关）",
        ("处罚机关", "收件", "修复通过", "未通过", "不予受理"),
    )
    for authority in sorted(counts):
        c = counts[authority]
        table.rows.append((authority, c["received"], c["approved"], c["denied"], c["rejected"]))
    return table


async def _objections_by_outcome(start: datetime, end: datetime, region: str | None) -> Table:
    rows = await (
        _applications_in(region, (ApplicationKind.OBJECTION,))
        .filter(status__in=list(FINAL), decided_at__gte=start, decided_at__lt=end)
        .annotate(n=Count("id"))
        .group_by("status", "outcome")
        .values("status", "outcome", "n")
    )
    counts: Counter[str] = Counter()
    for row in rows:
        key = str(row["outcome"]) if row["outcome"] else str(row["status"])
        counts[key] += int(row["n"])
    table = Table("objections_by_outcome", "信用异议（按办理结果）", ("办理结果", "件数"))
    for outcome in ObjectionOutcome:
        table.rows.append((OUTCOME_LABELS[outcome], counts[str(outcome)]))
    table.rows.append(("不予受理", counts[ApplicationStatus.REJECTED.value]))
    return table


COMPLAINT_STATUS_LABELS = {
    ComplaintStatus.SUBMITTED: "待处理",
    ComplaintStatus.REPLIED: "商户已回复",
    ComplaintStatus.UPHELD: "投诉成立",
    ComplaintStatus.DISMISSED: "投诉不成立",
}


async def _complaints(start: datetime, end: datetime, zones: dict[str, Any]) -> Table:
    rows = await (
        Complaint.filter(
            created_at__gte=start, created_at__lt=end, merchant__zone_id__in=list(zones)
        )
        .annotate(n=Count("id"))
        .group_by("merchant__zone_id", "status")
        .values("merchant__zone_id", "status", "n")
    )
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        counts[row["merchant__zone_id"]][str(row["status"])] += int(row["n"])
    columns = ("示范区", "收到投诉", *COMPLAINT_STATUS_LABELS.values())
    table = Table("complaints", "消费投诉（本月收到，按当前状态）", columns)
    for zone_id, zone in zones.items():
        c = counts[zone_id]
        table.rows.append(
            (zone.name, sum(c.values()), *(c[str(s)] for s in COMPLAINT_STATUS_LABELS))
        )
    return table


def _merchant_of_entry() -> RawSQL:
    if _dialect() == "postgres":
        return RawSQL("(\"detail\"->>'merchant_id')")
    return RawSQL("json_extract(\"detail\", '$.merchant_id')")


async def _plate_scans(rt: Runtime, start: datetime, end: datetime, zones: dict[str, Any]) -> Table:
    """Plate scans are the audit log's public reads with the plate's purpose (one per scan, H5
    or API), grouped by the merchant the entry names."""
    await drain(rt.redis, rt.keys, wait=2.0)  # scans still in the audit stream count too
    rows = await (
        AuditEntry.filter(
            action="credit.read",
            actor_kind="public",
            purpose=PLATE_SCAN_PURPOSE,
            at__gte=start,
            at__lt=end,
        )
        .annotate(merchant=_merchant_of_entry(), n=Count("id"))
        .group_by("merchant", "channel")
        .values("merchant", "channel", "n")
    )
    merchant_ids = {int(row["merchant"]) for row in rows if row["merchant"] is not None}
    zone_of = dict(await Merchant.filter(id__in=list(merchant_ids)).values_list("id", "zone_id"))
    scans: Counter[str] = Counter()
    h5: Counter[str] = Counter()
    for row in rows:
        zone_id = zone_of.get(int(row["merchant"])) if row["merchant"] is not None else None
        if zone_id in zones:
            scans[zone_id] += int(row["n"])
            h5[zone_id] += int(row["n"]) if row["channel"] == "h5" else 0
    table = Table("plate_scans", "一店一码扫码查询", ("示范区", "扫码次数", "其中 H5 页面"))
    for zone_id, zone in zones.items():
        table.rows.append((zone.name, scans[zone_id], h5[zone_id]))
    return table


async def _redemptions(month: date, next_month: date, venues: dict[str, Any]) -> Table:
    rows = await (
        Redemption.filter(
            status=RedemptionStatus.REDEEMED,
            day__gte=month,
            day__lt=next_month,
            venue_id__in=list(venues),
        )
        .annotate(n=Count("id"))
        .group_by("venue_id", "policy_id", "source")
        .values("venue_id", "policy_id", "source", "n")
    )
    policies = default_programmes().policies
    totals: Counter[tuple[str, str]] = Counter()
    offline: Counter[tuple[str, str]] = Counter()
    for row in rows:
        key = (row["venue_id"], row["policy_id"])
        totals[key] += int(row["n"])
        offline[key] += int(row["n"]) if row["source"] == RedemptionSource.OFFLINE else 0
    scenario_labels = {"travel": "信易游", "rental": "信易租"}
    table = Table(
        "redemptions",
        "信易游 / 信易租 核销（按场所、优惠政策）",
        ("场景", "场所", "优惠政策", "核销次数", "其中离线"),
    )
    for venue_id, policy_id in sorted(totals):
        venue = venues[venue_id]
        policy = policies.get(policy_id)
        table.rows.append(
            (
                scenario_labels.get(venue.scenario, venue.scenario),
                venue.name,
                policy.title if policy else policy_id,
                totals[(venue_id, policy_id)],
                offline[(venue_id, policy_id)],
            )
        )
    return table


async def _street_index(
    month: date, next_month: date, zones: dict[str, Any]
) -> tuple[Table, dict[str, list[tuple[date, float]]]]:
    rows = await ZoneIndexSnapshot.filter(
        zone_id__in=list(zones), day__gte=month, day__lt=next_month
    ).values_list("zone_id", "day", "value")
    trend: dict[str, list[tuple[date, float]]] = {}
    table = Table("street_index", "街区信用指数走势（每日）", ("示范区", "日期", "指数"))
    for zone_id, day, value in sorted(rows, key=lambda r: (r[0], r[1])):
        name = zones[zone_id].name
        trend.setdefault(name, []).append((_as_date(day), float(value)))
        table.rows.append((name, _as_date(day).isoformat(), float(value)))
    return table, trend
