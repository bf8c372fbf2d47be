"""Redeeming an incentive, and its limits: per visit (one code), per holder per day, and the
policy's total quota.

The limits are unique slot keys (see models.Redemption) and the quota a conditional UPDATE, so
racing redemptions leave exactly one winner on SQLite and PostgreSQL alike; the idempotency key
is unique too, so a retried request gets the same row. Scans, offline syncs and 信易租
confirmations all go through `claim`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from credit.acting import acting_subject_ids
from credit.calendar_dates import SHANGHAI, shanghai_iso
from infra.audit import AuditEvent
from infra.audit import append as append_audit
from infra.db import fetch_models, fetch_rows
from infra.errors import Conflict
from infra.pagination import page
from infra.params import cursor_id
from infra.runtime import Runtime
from infra.security.sessions import Session
from qr.offline_verifier import CreditCode
from scenarios.incentives.codes import check_code, open_code
from scenarios.incentives.models import (
    PolicyCounter,
    Redemption,
    RedemptionSource,
    RedemptionStatus,
)
from scenarios.incentives.programmes import SCENARIOS, Policy, default_programmes, policy_or_404
from scenarios.incentives.redis_formats import USED_CACHE_SECONDS
from scenarios.incentives.staff import STAFF_ROLE, require_policy_staff

PAGE_SIZE = 20


class Replayed(Exception):
    def __init__(self, redemption: Redemption) -> None:
        self.redemption = redemption


async def redeem_scan(
    rt: Runtime,
    session: Session,
    *,
    token: str,
    policy_id: str,
    idempotency_key: str,
    channel: str,
) -> tuple[dict[str, Any], bool]:
    """(redemption, created). The same idempotency key again returns the same redemption."""
    policy = policy_or_404(policy_id)
    await require_policy_staff(rt, session, policy)
    idem = f"{policy.venue}:{idempotency_key}"
    code = open_code(rt, token)
    existing = await _by_idem_key(idem)
    if existing is not None:
        return replay_of(existing, policy, code), False
    holder = await check_code(rt, token, code)
    at = datetime.now(UTC)
    day = at.astimezone(SHANGHAI).date()
    if not policy.active_on(day):
        raise Conflict("该优惠不在有效期内", code="POLICY_NOT_ACTIVE")
    if policy.id not in code.policies:
        raise Conflict(holder.reasons.get(policy.id, "不符合该优惠的条件"), code="NOT_ELIGIBLE")
    values = {
        "policy_id": policy.id, "venue_id": policy.venue, "scenario": policy.scenario,
        "holder_id": holder.subject_id, "holder_ref": code.holder, "grade": holder.grade,
        "status": RedemptionStatus.REDEEMED, "source": RedemptionSource.SCAN,
        "token_nonce": code.nonce, "staff_user_id": session.user_id, "day": day,
        "redeemed_at": at, "idem_key": idem,
    }  # fmt: skip
    try:
        redemption = await claim(
            policy, holder.subject_id, code.nonce, day, creator(values), idem_key=idem
        )
    except Replayed as replay:
        return replay_of(replay.redemption, policy, code), False
    await after_redeem(rt, redemption, session.user_id, channel)
    return redemption_json(redemption), True


def replay_of(existing: Redemption, policy: Policy, code: CreditCode) -> dict[str, Any]:
    if existing.policy_id != policy.id or existing.token_nonce != code.nonce:
        raise Conflict("该幂等键已用于另一次核销", code="IDEMPOTENCY_KEY_REUSED")
    return redemption_json(existing) | {"replayed": True}


def creator(values: dict[str, Any]) -> Callable[[str | None, str | None], Awaitable[Redemption]]:
    async def create(day_slot: str | None, visit_slot: str | None) -> Redemption:
        return await Redemption.create(day_slot=day_slot, visit_slot=visit_slot, **values)

    return create


async def claim(
    policy: Policy,
    holder_id: int,
    visit: str,
    day: date,
    write: Callable[[str | None, str | None], Awaitable[Redemption]],
    idem_key: str | None = None,
) -> Redemption:
    """Take the next free per-day and per-visit slot and count the quota, in one transaction.
    A unique slot key lost to a racing redemption means: count again and retry, until the limit
    says no. Raises Conflict (limit or quota) or Replayed (the idempotency key won elsewhere)."""
    for _ in range(policy.per_day + policy.per_visit + 4):
        day_used, visit_used = await _used(policy, holder_id, day, visit)
        day_full = policy.per_day and day_used >= policy.per_day
        if day_full or (policy.per_visit and visit_used >= policy.per_visit):
            await _raise_if_replayed(idem_key)  # a racing retry of this very request won
            if day_full:
                raise Conflict("该持码人今日已享受过此优惠", code="ALREADY_REDEEMED")
            raise Conflict("该信用码已核销过此优惠", code="ALREADY_REDEEMED")
        day_slot = f"{policy.id}|{holder_id}|{day}|{day_used + 1}" if policy.per_day else None
        visit_slot = f"{policy.id}|{visit}|{visit_used + 1}" if policy.per_visit else None
        try:
            async with in_transaction():
                redemption = await write(day_slot, visit_slot)
                if policy.quota:
                    counted = await PolicyCounter.filter(
                        policy_id=policy.id, used__lt=policy.quota
                    ).update(used=F("used") + 1)
                    if counted != 1:
                        if not await PolicyCounter.exists(policy_id=policy.id):
                            raise _NoCounter
                        raise Conflict("该优惠名额已用完", code="QUOTA_EXHAUSTED")
            return redemption
        except _NoCounter:  # the policy's first redemption: its counter, outside a transaction
            await PolicyCounter.get_or_create(policy_id=policy.id)
            continue
        except IntegrityError:
            await _raise_if_replayed(idem_key)
            continue
    raise Conflict("该持码人已享受过此优惠", code="ALREADY_REDEEMED")


class _NoCounter(Exception):
    """The quota's counter row does not exist yet (rolls the transaction back)."""


# Both limits' counts in one round trip. The code's redemptions are its holder's, so the visit
# count also narrows by holder: the (policy, holder, day) index serves both.
_USED = (
    "SELECT (SELECT count(*) FROM redemption WHERE policy_id = $1 AND status = $2"
    " AND holder_id = $3 AND day = $4) AS day_used,"
    " (SELECT count(*) FROM redemption WHERE policy_id = $1 AND status = $2"
    " AND holder_id = $3 AND token_nonce = $5) AS visit_used"
)
_BY_IDEM_KEY = "SELECT * FROM redemption WHERE idem_key = $1"


async def _used(policy: Policy, holder_id: int, day: date, visit: str) -> tuple[int, int]:
    """(redeemed by the holder that day, redeemed with this code) of the policy."""
    status = RedemptionStatus.REDEEMED.value
    row = (await fetch_rows(_USED, [policy.id, status, holder_id, day, visit]))[0]
    return int(row["day_used"]), int(row["visit_used"]) if policy.per_visit else 0


async def _by_idem_key(idem_key: str) -> Redemption | None:
    found = await fetch_models(Redemption, _BY_IDEM_KEY, [idem_key])
    return found[0] if found else None


async def _raise_if_replayed(idem_key: str | None) -> None:
    if idem_key is not None:
        existing = await _by_idem_key(idem_key)
        if existing is not None:
            raise Replayed(existing)


async def after_redeem(rt: Runtime, redemption: Redemption, staff_id: int, channel: str) -> None:
    """After the commit: the verify cache of today's use, and the audit entry."""
    if redemption.day is not None:
        key = rt.keys.incentive_used(redemption.holder_id, redemption.day.isoformat())
        async with rt.redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(key, redemption.policy_id, 1)
            pipe.expire(key, USED_CACHE_SECONDS)
            await pipe.execute()
    venue = default_programmes().venues.get(redemption.venue_id)
    await append_audit(
        rt.redis,
        rt.keys,
        AuditEvent(
            action="incentive.redeem", actor_kind="staff", actor_role=STAFF_ROLE,
            purpose=f"{SCENARIOS.get(redemption.scenario, '')}优惠核销", channel=channel,
            actor_user_id=staff_id, actor_org=venue.name if venue else None,
            subject_id=redemption.holder_id,
            detail={"redemption_id": redemption.id, "policy_id": redemption.policy_id},
        ),
    )  # fmt: skip


def redemption_json(redemption: Redemption) -> dict[str, Any]:
    policy = default_programmes().policies.get(redemption.policy_id)
    venue = default_programmes().venues.get(redemption.venue_id)
    return {
        "id": redemption.id,
        "policy_id": redemption.policy_id,
        "title": policy.title if policy else redemption.policy_id,
        "benefit": policy.benefit if policy else None,
        "venue": venue.brief() if venue else {"id": redemption.venue_id, "name": ""},
        "scenario": redemption.scenario,
        "status": str(redemption.status),
        "source": str(redemption.source),
        "day": redemption.day.isoformat() if redemption.day else None,
        "redeemed_at": shanghai_iso(redemption.redeemed_at),
        "created_at": shanghai_iso(redemption.created_at),
        "flag": redemption.flag,
    }


async def my_redemptions(session: Session, cursor: str | None) -> dict[str, Any]:
    """What the caller (and organisations they operate) received or applied for."""
    subjects = await acting_subject_ids(session)
    query = Redemption.filter(holder_id__in=list(subjects))
    after = cursor_id(cursor)
    if after is not None:
        query = query.filter(id__lt=after)
    rows = await query.order_by("-id").limit(PAGE_SIZE + 1)
    return page(rows, PAGE_SIZE, redemption_json)
