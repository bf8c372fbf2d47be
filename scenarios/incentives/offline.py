"""Offline venues (issue 5 item 5): the bundle a staff device keeps to verify codes without a
network, and the sync of what it redeemed meanwhile.

The bundle holds the public keys, the venue's policies, the revoked holder references and its
validity; its id is signed, so at sync time the server knows when the bundle a redemption was
made with stopped being valid. Sync applies the same limits as a scan (unique slots): the same
holder redeemed at two gates while offline gives one `accepted` and one `duplicate`. A redemption
made after its bundle's validity is recorded but flagged (BUNDLE_EXPIRED) for the venue to check.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from credit.calendar_dates import SHANGHAI
from infra.audit import AuditEvent
from infra.audit import append as append_audit
from infra.errors import Conflict
from infra.runtime import Runtime
from infra.security.sessions import Session
from qr import credit_code
from qr.offline_verifier import CodeError, parse
from scenarios.incentives.models import (
    HolderRef,
    Redemption,
    RedemptionSource,
    RedemptionStatus,
)
from scenarios.incentives.programmes import CHECK_PURPOSES, default_programmes
from scenarios.incentives.redemptions import (
    Replayed,
    after_redeem,
    claim,
    creator,
    redemption_json,
    replay_of,
)
from scenarios.incentives.staff import STAFF_ROLE, require_venue_access, staff_venue_ids

MAX_ITEMS = 500


async def bundle_for(rt: Runtime, session: Session, venue_id: str) -> dict[str, Any]:
    venue = await require_venue_access(rt, session, venue_id)
    rules = default_programmes().offline
    signer = credit_code.signer_for(rt.settings)
    now = int(time.time())
    valid_until = now + rules.bundle_valid_hours * 3600
    since = datetime.now(UTC) - timedelta(days=rules.revoked_days)
    revoked = (
        await HolderRef.filter(revoked_at__gte=since).order_by("id").values_list("ref", flat=True)
    )
    return {
        "bundle_id": signer.bundle_id(venue.id, now, valid_until),
        "format": "C1",
        "venue": venue.brief() | {"kind": venue.kind},
        "keys": signer.bundle_keys(),
        "policies": [p.as_dict() for p in default_programmes().policies_of([venue.id])],
        "revoked": list(revoked),
        "issued_at": _iso(now),
        "valid_until": _iso(valid_until),
        "leeway_seconds": rules.clock_leeway_seconds,
        "max_code_ttl_seconds": credit_code.MAX_TTL_SECONDS,
    }


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


class Rejected(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


async def sync(
    rt: Runtime, session: Session, items: list[dict[str, Any]], channel: str
) -> dict[str, Any]:
    venues = await staff_venue_ids(rt, session.user_id)
    bundles: dict[str, tuple[str, int, int]] = {}
    results = []
    for item in items[:MAX_ITEMS]:
        key = item["idempotency_key"]
        try:
            redemption, replayed = await _sync_one(rt, session, venues, bundles, item, channel)
        except Rejected as rejected:
            results.append(
                {"idempotency_key": key, "status": "rejected", "code": rejected.code,
                 "reason": rejected.reason}
            )  # fmt: skip
            continue
        except Conflict as conflict:
            status = "duplicate" if conflict.code == "ALREADY_REDEEMED" else "rejected"
            results.append(
                {"idempotency_key": key, "status": status, "code": conflict.code,
                 "reason": conflict.message}
            )  # fmt: skip
            continue
        result = {"idempotency_key": key, "status": "accepted", "redemption": redemption}
        if replayed:
            result["replayed"] = True
        if redemption["flag"]:
            result["flagged"] = redemption["flag"]
            result["reason"] = "核销时离线核验包已过有效期，已记录待核查"
        results.append(result)
    counts = {s: sum(1 for r in results if r["status"] == s) for s in ("accepted", "duplicate")}
    counts["rejected"] = len(results) - counts["accepted"] - counts["duplicate"]
    return {"items": results, "summary": counts}


async def _sync_one(
    rt: Runtime,
    session: Session,
    venues: list[str],
    bundles: dict[str, tuple[str, int, int]],
    item: dict[str, Any],
    channel: str,
) -> tuple[dict[str, Any], bool]:
    signer = credit_code.signer_for(rt.settings)
    leeway = default_programmes().offline.clock_leeway_seconds
    bundle_id = item["bundle_id"]
    if bundle_id not in bundles:
        try:
            bundles[bundle_id] = signer.open_bundle_id(bundle_id)
        except CodeError as exc:
            raise Rejected("BUNDLE_INVALID", "离线核验包标识无效") from exc
    bundle_venue, _issued, valid_until = bundles[bundle_id]
    policy = default_programmes().policies.get(item["policy_id"])
    if policy is None:
        raise Rejected("POLICY_NOT_FOUND", "优惠政策不存在")
    if policy.venue not in venues or bundle_venue != policy.venue:
        raise Rejected("NOT_VENUE_STAFF", "该优惠不属于您所在的场所")
    idem = f"{policy.venue}:{item['idempotency_key']}"
    existing = await Redemption.get_or_none(idem_key=idem)
    try:
        code = parse(item["token"])
        if existing is not None:
            return replay_of(existing, policy, code), True
        signer.check(code)
        code = signer.open(code)
    except CodeError as exc:
        raise Rejected(exc.code, exc.message) from exc
    at: datetime = item["redeemed_at"]
    moment = at.timestamp()
    if moment > time.time() + leeway:
        raise Rejected("CLOCK_AHEAD", "核销时间晚于当前时间，请校准设备时钟")
    if moment > code.exp + leeway or moment < code.exp - credit_code.MAX_TTL_SECONDS - leeway:
        raise Rejected("CODE_EXPIRED", "核销时信用码不在有效期内")
    ref = await HolderRef.get_or_none(ref=code.holder)
    if ref is None:
        raise Rejected("CODE_INVALID", "信用码的持有人未知")
    if ref.revoked_at is not None and ref.revoked_at.timestamp() <= moment:
        raise Rejected("CODE_REVOKED", "该信用码已被持有人停用")
    day = at.astimezone(SHANGHAI).date()
    if not policy.active_on(day):
        raise Rejected("POLICY_NOT_ACTIVE", "核销当日该优惠不在有效期内")
    if policy.id not in code.policies:
        raise Rejected("NOT_ELIGIBLE", "信用码签发时持有人不符合该优惠的条件")
    flag = "BUNDLE_EXPIRED" if moment > valid_until + leeway else None
    values = {
        "policy_id": policy.id, "venue_id": policy.venue, "scenario": policy.scenario,
        "holder_id": ref.subject_id, "holder_ref": code.holder,
        "status": RedemptionStatus.REDEEMED, "source": RedemptionSource.OFFLINE,
        "token_nonce": code.nonce, "staff_user_id": session.user_id, "day": day,
        "redeemed_at": at.astimezone(UTC), "idem_key": idem, "flag": flag,
        "device_id": item.get("device_id"),
    }  # fmt: skip
    venue = default_programmes().venues[policy.venue]
    # The device read the holder's credit when it scanned: the holder sees it among the reads.
    await append_audit(
        rt.redis,
        rt.keys,
        AuditEvent(
            action="credit.read", actor_kind="staff", actor_role=STAFF_ROLE,
            purpose=CHECK_PURPOSES[venue.scenario] + "（离线）", channel="offline",
            actor_user_id=session.user_id, actor_org=venue.name,
            subject_id=ref.subject_id,
            detail={"venue_id": venue.id, "nonce": code.nonce, "synced_via": channel},
        ),
    )  # fmt: skip
    try:
        redemption = await claim(
            policy,
            ref.subject_id,
            code.nonce,
            day,
            creator(values),
            idem_key=idem,
        )
    except Replayed as replay:
        return replay_of(replay.redemption, policy, code), True
    await after_redeem(rt, redemption, session.user_id, "offline")
    return redemption_json(redemption), False
