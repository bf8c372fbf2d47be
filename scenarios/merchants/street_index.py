"""The street credit index of a zone (formula in config/merchants.toml [street_index]), kept as
one snapshot per zone and day. The first read of a day takes the day's snapshot if the daily
job (`python -m server index-snapshot`) has not yet; a unique (zone, day) key keeps it to one."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tortoise.exceptions import IntegrityError

from credit.calendar_dates import today
from infra.errors import NotFound
from scenarios.merchants.evaluation import evaluate
from scenarios.merchants.models import (
    Complaint,
    ComplaintStatus,
    Merchant,
    MerchantStatus,
    ZoneIndexSnapshot,
)
from scenarios.merchants.rules import MerchantRules, Zone, default_rules

GOOD_GRADES = ("A", "B")


async def compute(
    zone_id: str, rules: MerchantRules | None = None
) -> tuple[Decimal | None, dict[str, Any]]:
    rules = rules or default_rules()
    formula = rules.index
    merchants = await Merchant.filter(zone_id=zone_id, status=MerchantStatus.ACTIVE)
    if not merchants:
        return None, {"merchants": 0}
    evaluations = [await evaluate(m, rules) for m in merchants]
    count = len(merchants)
    average = sum(e.score for e in evaluations) / count
    good_share = sum(1 for e in evaluations if e.grade.grade in GOOD_GRADES) / count
    commitment_share = sum(1 for m in merchants if m.commitment_accepted_at) / count
    since = datetime.now(UTC) - timedelta(days=formula.complaint_days)
    upheld = await Complaint.filter(
        merchant_id__in=[m.id for m in merchants],
        status=ComplaintStatus.UPHELD,
        decided_at__gte=since,
    ).count()
    penalty = min(formula.complaint_penalty_cap, formula.complaint_penalty * upheld / count)
    raw = (
        100
        * (
            formula.score_weight * average / 1000
            + formula.good_weight * good_share
            + formula.commitment_weight * commitment_share
        )
        - penalty
    )
    value = Decimal(str(round(max(0.0, min(100.0, raw)), 2)))
    parts = {
        "merchants": count,
        "average_score": round(average, 1),
        "good_share": round(good_share, 4),
        "commitment_share": round(commitment_share, 4),
        "upheld_complaints": upheld,
        "complaint_penalty": round(penalty, 2),
    }
    return value, parts


async def take_snapshot(
    zone_id: str, day: date | None = None, *, replace: bool = False
) -> ZoneIndexSnapshot | None:
    """Today's snapshot of a zone; `replace` recomputes one that exists (the daily job)."""
    day = day or today()
    existing = await ZoneIndexSnapshot.get_or_none(zone_id=zone_id, day=day)
    if existing is not None and not replace:
        return existing
    value, parts = await compute(zone_id)
    if value is None:
        return None
    if existing is not None:
        existing.value, existing.parts = value, parts
        await existing.save(update_fields=["value", "parts"])
        return existing
    try:
        return await ZoneIndexSnapshot.create(zone_id=zone_id, day=day, value=value, parts=parts)
    except IntegrityError:  # another worker took it first
        return await ZoneIndexSnapshot.get(zone_id=zone_id, day=day)


async def snapshot_all(day: date | None = None) -> dict[str, Decimal | None]:
    results: dict[str, Decimal | None] = {}
    for zone_id in default_rules().zones:
        snapshot = await take_snapshot(zone_id, day, replace=True)
        results[zone_id] = snapshot.value if snapshot else None
    return results


def _zone_json(zone: Zone, snapshot: ZoneIndexSnapshot | None) -> dict[str, Any]:
    return {
        "id": zone.id,
        "name": zone.name,
        "kind": zone.kind,
        "region": zone.region,
        "index": float(snapshot.value) if snapshot else None,
    }


async def list_zones() -> dict[str, Any]:
    zones = default_rules().zones.values()
    return {"items": [_zone_json(z, await take_snapshot(z.id)) for z in zones], "next": None}


async def zone_index(zone_id: str) -> dict[str, Any]:
    rules = default_rules()
    zone = rules.zones.get(zone_id)
    if zone is None:
        raise NotFound("示范区不存在", code="ZONE_NOT_FOUND")
    current = await take_snapshot(zone_id)
    since = today() - timedelta(days=rules.index.history_days)
    history = await ZoneIndexSnapshot.filter(zone_id=zone_id, day__gte=since).order_by("day")
    return _zone_json(zone, current) | {
        "parts": current.parts if current else {"merchants": 0},
        "as_of": current.day.isoformat() if current else None,
        "formula": {
            "score_weight": rules.index.score_weight,
            "good_weight": rules.index.good_weight,
            "commitment_weight": rules.index.commitment_weight,
            "complaint_penalty": rules.index.complaint_penalty,
            "complaint_penalty_cap": rules.index.complaint_penalty_cap,
            "complaint_days": rules.index.complaint_days,
        },
        "history": [{"day": s.day.isoformat(), "value": float(s.value)} for s in history],
    }
