"""The personal credit code: issuing it, its PNG, revoking its holder reference, and checking a
scanned code.

The server checks a code with a Redis lookup, not a signature check: issuing a code records its
nonce (holder, masked name, level, reasons, SHA-256 of the token) in Redis for its lifetime
(`CodeRecord`), and a scan compares the scanned token's hash with the recorded one in constant
time. One Ed25519 verification costs ~200 µs here, enough alone to cap the scan near its bench
goal; a Redis read is a fraction of that. Only a token whose nonce is not recorded (Redis lost
it, e.g. restarted without AOF) or whose hash differs is checked with Ed25519 — then the exact
error (tampered, unknown key, expired) is also told apart. Staff devices without network verify
the signature (qr/offline_verifier.py).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from credit.acting import acting_subject, acting_subject_ids
from credit.calendar_dates import SHANGHAI, today
from credit.models import Subject
from infra.cache import as_text
from infra.db import fetch_rows
from infra.errors import Invalid, NotFound
from infra.runtime import Runtime
from infra.security import ratelimit
from infra.security.sessions import Session
from infra.settings import RateLimit
from qr import credit_code
from qr.offline_verifier import CodeError, CreditCode, Expired, Revoked, parse
from scenarios.incentives.eligibility import Facts, Verdict, evaluate, holder_facts
from scenarios.incentives.holders import display_name, holder_ref_of, subject_brief
from scenarios.incentives.models import HolderRef
from scenarios.incentives.programmes import default_programmes
from scenarios.incentives.redis_formats import CodeRecord

CODE_TTL_SECONDS = credit_code.MAX_TTL_SECONDS
CODE_RATE = RateLimit(limit=30, window=60)  # per user, unless [rate_limits] credit_code is set
QR_PATH = "/api/v1/me/credit-code/qr.png"


async def issue_code(rt: Runtime, session: Session, uscc: str | None) -> dict[str, Any]:
    rule = rt.settings.rate_limits.get("credit_code", CODE_RATE)
    await ratelimit.enforce(rt.redis, rt.keys, "credit_code", str(session.user_id), rule)
    subject = await acting_subject(session, uscc)
    ref = await holder_ref_of(subject.id)
    on = today()
    facts = await holder_facts(subject, on)
    verdicts = {p.id: evaluate(p, facts, on) for p in default_programmes().policies.values()}
    signer = credit_code.signer_for(rt.settings)
    issued = signer.issue(ref, [pid for pid, v in verdicts.items() if v.eligible], CODE_TTL_SECONDS)
    await _remember(rt, issued, subject, facts, verdicts)
    return {
        "token": issued.token,
        "expires_at": datetime.fromtimestamp(issued.exp, SHANGHAI).isoformat(),
        "ttl": CODE_TTL_SECONDS,
        "holder": subject_brief(subject),
        "level": facts.level.as_dict(),
        "eligible": [pid for pid, v in verdicts.items() if v.eligible],
        # The PNG of this code (the caller's bearer token is still needed to fetch it).
        "qr_png": f"{rt.settings.public_base_url}{QR_PATH}?token={issued.token}",
    }


async def _remember(
    rt: Runtime,
    issued: credit_code.Issued,
    subject: Subject,
    facts: Facts,
    verdicts: dict[str, Verdict],
) -> None:
    """The issuance record the fast check reads, for the code's lifetime (+ clock leeway)."""
    reasons = {pid: v.reason for pid, v in verdicts.items() if not v.eligible}
    key = rt.keys.credit_code(issued.nonce)
    async with rt.redis.pipeline(transaction=False) as pipe:
        pipe.hset(
            key,
            mapping={
                CodeRecord.TOKEN_HASH: issued.token_hash,
                CodeRecord.SUBJECT: str(subject.id),
                CodeRecord.NAME: display_name(subject),
                CodeRecord.GRADE: facts.grade,
                CodeRecord.GRADE_LABEL: facts.level.label,
                CodeRecord.REASONS: json.dumps(reasons, ensure_ascii=False),
                CodeRecord.EXPIRES: str(issued.exp),
            },
        )
        pipe.expireat(key, issued.exp + default_programmes().offline.clock_leeway_seconds)
        await pipe.execute()


async def revoke_code(rt: Runtime, session: Session, uscc: str | None) -> dict[str, Any]:
    """The holder stops their current reference (lost phone, leaked screenshot): offline
    bundles list it as revoked; the next code carries a new one."""
    subject = await acting_subject(session, uscc)
    changed = await HolderRef.filter(active_key=f"s{subject.id}").update(
        active_key=None, revoked_at=datetime.now(UTC)
    )
    return {"revoked": changed > 0}


async def qr_png_for(rt: Runtime, session: Session, token: str) -> bytes:
    """The caller's own code as a PNG (the token must be theirs and still valid)."""
    code = open_code(rt, token)
    record = await rt.redis.hmget(
        rt.keys.credit_code(code.nonce), [CodeRecord.TOKEN_HASH, CodeRecord.SUBJECT]
    )
    subjects = await acting_subject_ids(session)
    if (
        record[0] is None
        or record[1] is None
        or not hmac.compare_digest(as_text(record[0]), credit_code.token_hash(token))
        or int(record[1]) not in subjects
    ):
        raise NotFound("信用码不存在或已过期", code="CODE_NOT_FOUND")
    return await asyncio.to_thread(credit_code.qr_png, token)


def open_code(rt: Runtime, token: Any) -> CreditCode:
    """The code, its claims opened (a 4xx for a malformed, foreign-key or altered code)."""
    try:
        return credit_code.signer_for(rt.settings).open(parse(token))
    except CodeError as exc:
        raise code_error(exc) from exc


def code_error(exc: CodeError) -> Invalid:
    return Invalid(exc.message, code=exc.code, fields={"token": exc.message})


@dataclass(frozen=True)
class Holder:
    subject_id: int
    name: str
    grade: str
    grade_label: str
    reasons: dict[str, str]  # policy id -> why not eligible (when issued)


def _holder_from_record(record: list[Any]) -> Holder:
    """From the CodeRecord.HOLDER fields, in that order."""
    return Holder(
        subject_id=int(record[1]),
        name=record[2].decode(),
        grade=record[3].decode(),
        grade_label=record[4].decode() if record[4] else "",
        reasons=_reasons(record[5]) if record[5] else {},
    )


_REASONS: dict[bytes, dict[str, str]] = {}


def _reasons(raw: bytes) -> dict[str, str]:
    """The issuance record's reasons, decoded once per distinct value: holders share a few
    combinations. Callers only read the dict."""
    reasons = _REASONS.get(raw)
    if reasons is None:
        reasons = json.loads(raw)
        if len(_REASONS) >= 1024:
            _REASONS.clear()
        _REASONS[raw] = reasons
    return reasons


# The reference's subject in one round trip (this path runs for every scan while Redis lacks the
# issuance records).
_HOLDER_SUBJECT = (
    "SELECT subject.*, holder_ref.revoked_at IS NOT NULL AS holder_revoked FROM holder_ref"
    " JOIN subject ON subject.id = holder_ref.subject_id WHERE holder_ref.ref = $1"
)


async def _holder_by_signature(rt: Runtime, code: CreditCode, now: float) -> Holder:
    """No usable issuance record: check the signature (and tell the exact error apart), then
    find the holder by reference and recompute the reasons."""
    try:
        credit_code.signer_for(rt.settings).check(code)
        if now > code.exp:
            raise Expired
    except CodeError as exc:
        raise code_error(exc) from exc
    found = await fetch_rows(_HOLDER_SUBJECT, [code.holder])
    if not found:
        raise code_error(CodeError())
    if found[0]["holder_revoked"]:
        raise code_error(Revoked())
    subject = Subject._init_from_db(**found[0])
    on = today()
    facts = await holder_facts(subject, on)
    reasons = {
        p.id: v.reason
        for p in default_programmes().policies.values()
        if not (v := evaluate(p, facts, on)).eligible
    }
    return Holder(subject.id, display_name(subject), facts.grade, facts.level.label, reasons)


async def check_code(rt: Runtime, token: str, code: CreditCode) -> Holder:
    """The holder behind a valid, unexpired code (redeem's check; verify has a faster one)."""
    record = await rt.redis.hmget(rt.keys.credit_code(code.nonce), list(CodeRecord.HOLDER))
    return await resolve_holder(rt, token, code, record, time.time())


async def resolve_holder(
    rt: Runtime,
    token: str,
    code: CreditCode,
    record: list[Any],
    now: float,
    digest: str | None = None,
) -> Holder:
    """`record`: the CodeRecord.HOLDER fields as read; `digest`: the token's hash when the
    caller has it already."""
    if record[0] is not None and hmac.compare_digest(
        record[0], (digest or credit_code.token_hash(token)).encode()
    ):
        if now > code.exp:
            raise code_error(Expired())
        return _holder_from_record(record)
    return await _holder_by_signature(rt, code, now)
