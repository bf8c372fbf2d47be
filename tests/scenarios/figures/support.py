"""A hand-counted month of activity for the figures' tests: April 2024 (清明 4–6 April off,
Sunday 7 and 28 April working days), applications of region 152998 (no real region, so other
tests' applications never count), and zone and venue activity in that month (no other test
writes anything dated then)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from credit.applications.models import Application
from credit.calendar_dates import SHANGHAI
from credit.models import Subject
from infra.audit import AuditEvent, drain
from infra.models import AuditEntry, User
from scenarios.incentives.models import Redemption
from scenarios.merchants.models import Complaint, Merchant, ZoneIndexSnapshot
from scenarios.merchants.public import PLATE_SCAN_PURPOSE
from tests.helpers import make_record

MONTH = "2024-04"
REGION = "152998"
AUTHORITY_A, AUTHORITY_B = "测试甲局（统计）", "测试乙局（统计）"


def sh(day: str, clock: str = "10:00") -> datetime:
    """A Shanghai wall-clock time, in UTC as the service stores timestamps."""
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=SHANGHAI).astimezone(UTC)


async def _user() -> User:
    return await User.create(openid=f"figures-{uuid.uuid4().hex}", roles=["citizen"])


async def _application(
    kind: str,
    subject: Subject,
    user: User,
    *,
    created: datetime,
    status: str,
    due: str,
    record_id: int | None = None,
    decided: datetime | None = None,
    outcome: str | None = None,
    updated: datetime | None = None,
) -> Application:
    application = await Application.create(
        kind=kind, status=status, applicant_id=user.id, subject_id=subject.id,
        record_id=record_id, text="统计测试", due_on=date.fromisoformat(due),
        decided_at=decided, outcome=outcome,
    )  # fmt: skip
    await Application.filter(id=application.id).update(
        created_at=created, updated_at=updated or decided or created
    )
    return application


async def seed_applications() -> None:
    user = await _user()
    subject = await Subject.create(
        natural_key=f"test:{uuid.uuid4().hex}", kind="enterprise", name="统计测试有限公司",
        region=REGION,
    )  # fmt: skip
    r1 = await make_record(subject.id, authority=AUTHORITY_A)
    r2 = await make_record(subject.id, authority=AUTHORITY_B)
    r3 = await make_record(subject.id, authority=AUTHORITY_A)
    app = _application
    await app(
        "registration",
        subject,
        user,
        created=sh("2024-04-01"),
        status="approved",
        decided=sh("2024-04-03", "15:00"),
        due="2024-04-20",
    )  # 2 working days
    await app(
        "registration",
        subject,
        user,
        created=sh("2024-04-02"),
        status="rejected",
        decided=sh("2024-04-02", "16:00"),
        due="2024-04-20",
    )  # 0
    await app(
        "repair",
        subject,
        user,
        record_id=r1.id,
        created=sh("2024-04-03", "09:00"),
        status="approved",
        decided=sh("2024-04-08"),
        due="2024-04-07",
    )  # 2, overdue
    await app(
        "repair",
        subject,
        user,
        record_id=r2.id,
        created=sh("2024-03-28"),
        status="denied",
        decided=sh("2024-04-02"),
        due="2024-04-10",
    )  # 3
    await app(
        "repair",
        subject,
        user,
        record_id=r3.id,
        created=sh("2024-04-25"),
        status="submitted",
        due="2024-04-29",
    )  # open and overdue
    await app(
        "objection",
        subject,
        user,
        record_id=r1.id,
        created=sh("2024-04-09"),
        status="approved",
        outcome="corrected",
        decided=sh("2024-04-12"),
        due="2024-04-30",
    )  # 3
    await app(
        "objection",
        subject,
        user,
        record_id=r2.id,
        created=sh("2024-04-10"),
        status="denied",
        outcome="upheld",
        decided=sh("2024-04-30", "23:30"),
        due="2024-04-20",
    )  # 15, overdue; 15:30 UTC, still April in Shanghai
    await app(
        "objection",
        subject,
        user,
        record_id=r3.id,
        created=sh("2024-04-15"),
        status="withdrawn",
        updated=sh("2024-04-16"),
        due="2024-04-30",
    )
    await app(
        "objection",
        subject,
        user,
        record_id=r1.id,
        created=sh("2024-04-20"),
        status="approved",
        outcome="revoked",
        decided=sh("2024-05-01", "00:30"),
        due="2024-05-10",
    )  # decided in May (16:30 UTC on 30 April)
    await app(
        "registration",
        subject,
        user,
        created=sh("2024-03-31", "23:30"),
        status="submitted",
        due="2024-04-15",
    )  # received in March, open, overdue


async def _merchant(zone_id: str, user: User) -> Merchant:
    subject = await Subject.create(
        natural_key=f"test:{uuid.uuid4().hex}", kind="individual_business", name="统计测试商户",
        region="152921",
    )  # fmt: skip
    return await Merchant.create(
        subject_id=subject.id, operator_id=user.id, name="统计测试商户", zone_id=zone_id,
        address="测试路 1 号", category="餐饮", status="active",
    )  # fmt: skip


async def _complaint(merchant: Merchant, user: User, status: str, created: datetime) -> None:
    complaint = await Complaint.create(
        merchant_id=merchant.id, complainant_id=user.id, content="统计测试", status=status
    )
    await Complaint.filter(id=complaint.id).update(created_at=created)


async def _scan(rt: Any, merchant: Merchant, channel: str, at: datetime) -> None:
    event = AuditEvent(
        action="credit.read", actor_kind="public", actor_role="public",
        purpose=PLATE_SCAN_PURPOSE, channel=channel, subject_id=merchant.subject_id,
        detail={"merchant_id": merchant.id},
    )  # fmt: skip
    await rt.redis.xadd(rt.keys.audit_stream, {"e": event.payload(at=at)})


async def _redemption(holder: Subject, venue: str, policy: str, day: str, **kw: Any) -> None:
    await Redemption.create(
        policy_id=policy, venue_id=venue, scenario=kw.pop("scenario", "travel"),
        holder_id=holder.id, status=kw.pop("status", "redeemed"),
        source=kw.pop("source", "scan"), day=date.fromisoformat(day),
    )  # fmt: skip


async def seed_zones_and_venues(rt: Any) -> None:
    user = await _user()
    m1 = await _merchant("dingyuanying", user)
    m2 = await _merchant("ejina-huyang", user)
    await _complaint(m1, user, "upheld", sh("2024-04-05"))
    await _complaint(m1, user, "submitted", sh("2024-04-30", "23:00"))
    await _complaint(m1, user, "upheld", sh("2024-03-31", "23:00"))  # March
    await _complaint(m2, user, "dismissed", sh("2024-04-10"))
    await drain(rt.redis, rt.keys, wait=2.0)
    await _scan(rt, m1, "h5", sh("2024-04-02"))
    await _scan(rt, m1, "h5", sh("2024-04-03"))
    await _scan(rt, m1, "api", sh("2024-04-04"))
    await _scan(rt, m2, "api", sh("2024-04-05"))
    await _scan(rt, m1, "h5", sh("2024-05-01", "00:10"))  # May
    await drain(rt.redis, rt.keys, wait=2.0)
    holder = await Subject.create(
        natural_key=f"test:{uuid.uuid4().hex}", kind="person", name="统计测试", region="152921"
    )
    await _redemption(holder, "alxa-desert-park", "dp-ticket-a", "2024-04-02")
    await _redemption(holder, "alxa-desert-park", "dp-ticket-a", "2024-04-09", source="offline")
    await _redemption(holder, "alxa-desert-park", "dp-honour-free", "2024-04-09")
    await _redemption(holder, "alxa-desert-park", "dp-ticket-a", "2024-05-01")  # May
    await _redemption(holder, "bayan-hotel", "ht-deposit", "2024-04-30")
    await _redemption(holder, "hi-tech-park", "pk-factory", "2024-04-12", scenario="rental",
                      status="declined")  # fmt: skip
    for zone, day, value in (
        ("dingyuanying", "2024-04-01", "80.50"),
        ("dingyuanying", "2024-04-02", "81.00"),
        ("tengger-park", "2024-04-01", "70.00"),
        ("dingyuanying", "2024-03-31", "60.00"),
    ):
        await ZoneIndexSnapshot.create(
            zone_id=zone, day=date.fromisoformat(day), value=Decimal(value)
        )


async def plate_scan_entries() -> int:
    return await AuditEntry.filter(purpose=PLATE_SCAN_PURPOSE).count()


_SEEDED: list[bool] = []


async def seed_once(rt: Any) -> None:
    """The month above, seeded once per test session (the database is the session's)."""
    if not _SEEDED:
        await seed_applications()
        await seed_zones_and_venues(rt)
        _SEEDED.append(True)


def cli_env(settings: Any) -> dict[str, str]:
    """The environment `python -m server …` needs to work on the suite's database and cache."""
    import os

    from infra.settings import ENV_VARS

    env = {**os.environ}
    for name, attr in ENV_VARS.items():
        value = getattr(settings, attr, None)
        if value is not None and not isinstance(value, dict):
            env[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return env
