"""Credit lookups: a subject's own record (explained and masked) and the public view of
enterprises. Views are cached in Redis as ready JSON and dropped when the subject's records
change (infra.cache.invalidate_subjects)."""

from __future__ import annotations

from datetime import date
from typing import Any

from redis.asyncio import Redis
from tortoise.expressions import Q

from credit.applications.models import Application, ApplicationKind, ApplicationStatus
from credit.applications.rules import default_rules as default_application_rules
from credit.applications.rules import repair_eligibility
from credit.calendar_dates import now_iso, seconds_until_end_of, shanghai_iso, today
from credit.identifiers import parse_uscc, require_uscc
from credit.models import (
    ID_NUMBER_FIELD,
    MARKET_ENTITY_KINDS,
    SEVERITY_LABELS,
    Record,
    RecordClass,
    Subject,
    SubjectKind,
)
from credit.publication import Audience, is_published_kind, objection_labels
from credit.scoring import ScoringRules, score_subject
from infra.audit import AuditEvent
from infra.audit import append as append_audit
from infra.cache import Keys, as_bytes
from infra.db import fetch_models
from infra.errors import Invalid, NotFound
from infra.json_encoding import encode_json
from infra.params import CONTROL_CHARACTER_MESSAGE, cursor_id, has_control_characters
from infra.runtime import Runtime
from infra.security import ratelimit
from infra.security.crypto import FieldCipher, mask_id_number, mask_name

MAX_CACHE_SECONDS = 3600


def is_repairable(record: Record, subject_kind: str, on: date) -> bool:
    """Eligible for repair, here or in the national system (the eligibility call says which)."""
    return repair_eligibility(record, subject_kind, on).eligible


def record_json(
    record: Record, on: date, objection: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`objection`: the record's label while an objection is open (credit.publication)."""
    return {
        "id": record.id,
        "class": str(record.record_class),
        "type": str(record.type),
        "title": record.title,
        "decided_on": record.decided_on.isoformat(),
        "authority": record.authority,
        "status": str(record.status),
        "publish_until": record.publish_max_until.isoformat() if record.publish_max_until else None,
        "source": str(record.source),
        "objection": objection,
        "severity": str(record.severity) if record.severity else None,
        "severity_label": SEVERITY_LABELS[record.severity] if record.severity else None,
        "published": is_published_kind(record),  # False: the subject's to see only (minor)
    }


def subject_json(subject: Subject, cipher: FieldCipher) -> dict[str, Any]:
    if subject.kind == SubjectKind.PERSON:
        id_number = (
            cipher.decrypt(subject.id_number_enc, ID_NUMBER_FIELD) if subject.id_number_enc else ""
        )
        return {
            "kind": str(subject.kind),
            "name": mask_name(subject.name),
            "id_masked": mask_id_number(id_number),
        }
    # A USCC is public; an individual business without one shows its registration number.
    return {
        "kind": str(subject.kind),
        "name": subject.name,
        "id_masked": subject.uscc or subject.registration_no or "",
        "uscc": subject.uscc,
    }


async def build_view(
    subject: Subject,
    audience: Audience,
    cipher: FieldCipher,
    rules: ScoringRules | None = None,
    on: date | None = None,
) -> tuple[dict[str, Any], int]:
    """(view, seconds it stays valid): valid until the first shown record leaves its window."""
    on = on or today()
    scored = await score_subject(subject.id, audience, on, rules)
    shown = scored.shown
    grouped: dict[str, list[dict[str, Any]]] = {c.value: [] for c in RecordClass}
    objections = await objection_labels(shown)
    for record in shown:
        shaped = record_json(record, on, objections.get(record.id))
        shaped["repairable"] = is_repairable(record, str(subject.kind), on)
        grouped[str(record.record_class)].append(shaped)
    ttl = MAX_CACHE_SECONDS
    # The view changes when a shown record leaves its window, or becomes repairable.
    ends = [r.publish_max_until for r in shown if r.publish_max_until is not None]
    ends += [
        r.publish_min_until  # repairable from the next day on
        for r in shown
        if r.publish_min_until is not None and r.publish_min_until >= on
    ]
    if ends:
        ttl = min(ttl, seconds_until_end_of(min(ends)))
    view = {
        "subject": subject_json(subject, cipher),
        "level": scored.level.as_dict(),
        "factors": [factor.as_dict() for factor in scored.factors],
        "records": grouped,
        # Public views exist for market entities only: a person's repairs reach the person alone.
        "repairs": await repair_history(subject.id),
        "as_of": now_iso(),
    }
    return view, ttl


_APPROVED_REPAIRS = (
    "SELECT * FROM application WHERE subject_id = $1 AND kind = $2 AND status = $3"
    " ORDER BY decided_at DESC, id DESC"
)
_SUBJECT = "SELECT * FROM subject WHERE id = $1"


async def repair_history(subject_id: int) -> list[dict[str, Any]]:
    """The subject's completed repairs, each with the credit commitment (信用承诺) it signed:
    the commitment is made public with the repair (issue 10 item 5)."""
    rules = default_application_rules()
    repairs = await fetch_models(
        Application, _APPROVED_REPAIRS, [subject_id, ApplicationKind.REPAIR.value,
                                         ApplicationStatus.APPROVED.value]
    )  # fmt: skip
    if repairs:
        await Application.fetch_for_list(repairs, "record")
    return [
        {
            "record": {"title": repair.record.title, "type": str(repair.record.type)}
            if repair.record
            else None,
            "repaired_at": shanghai_iso(repair.decided_at),
            "commitment": {
                "version": repair.commitment_version,
                # The text of the version signed, while config still holds it; the hash always.
                "text": rules.commitment_text
                if repair.commitment_version == rules.commitment_version
                else None,
                "hash": repair.commitment_hash,
                "accepted_at": shanghai_iso(repair.commitment_accepted_at),
            },
        }
        for repair in repairs
    ]


async def cached_view_bytes(
    redis: Redis,
    keys: Keys,
    cipher: FieldCipher,
    subject_id: int,
    audience: Audience,
    *,
    known_missing: bool = False,
) -> bytes:
    """The cached JSON of a view, computing and storing it on a miss. `known_missing`: the
    caller has just seen the key missing (the hot-path script), so skip asking Redis again."""
    key = keys.credit_view(subject_id) if audience == "self" else keys.public_view(subject_id)
    if not known_missing:
        cached = await redis.get(key)
        if cached is not None:
            return as_bytes(cached)
    found = await fetch_models(Subject, _SUBJECT, [subject_id])
    if not found:
        raise NotFound("未找到该信用主体", code="SUBJECT_NOT_FOUND")
    view, ttl = await build_view(found[0], audience, cipher)
    body = encode_json(view)
    await redis.set(key, body, ex=ttl)
    return body


def normalise_query(q: str | None) -> str:
    q = (q or "").strip()
    if not q:
        raise Invalid("请输入企业名称或统一社会信用代码", fields={"q": "不能为空"})
    if len(q) > 60:
        raise Invalid("查询内容过长", fields={"q": "不超过 60 个字符"})
    if has_control_characters(q):
        raise Invalid("查询内容有误", fields={"q": CONTROL_CHARACTER_MESSAGE})
    return q


async def search_public_subjects(
    rt: Runtime, q: str | None, cursor: str | None, *, client: str, limit: int = 20
) -> dict[str, Any]:
    """Enterprises and individual businesses by name or USCC; never natural persons."""
    await _count_public_request(rt, client)
    text = normalise_query(q)
    after = cursor_id(cursor) or 0
    query = Subject.filter(kind__in=list(MARKET_ENTITY_KINDS), id__gt=after)
    uscc = parse_uscc(text)
    query = query.filter(
        Q(uscc=uscc[0]) | Q(name__icontains=text) if uscc else Q(name__icontains=text)
    )
    found = await query.order_by("id").limit(limit + 1)
    items = [
        {"uscc": s.uscc, "name": s.name, "kind": str(s.kind), "region": s.region}
        for s in found[:limit]
    ]
    next_cursor = str(found[limit - 1].id) if len(found) > limit else None
    return {"items": items, "next": next_cursor}


async def public_view_bytes(rt: Runtime, uscc: str, *, channel: str, client: str) -> bytes:
    """An enterprise's public view; every read is audited."""
    await _count_public_request(rt, client)
    subject_id = await public_subject_id(uscc)
    await append_audit(
        rt.redis,
        rt.keys,
        AuditEvent(
            action="credit.read", actor_kind="public", actor_role="public",
            purpose="公开查询", channel=channel, subject_id=subject_id,
        ),
    )  # fmt: skip
    return await cached_view_bytes(rt.redis, rt.keys, rt.cipher, subject_id, "public")


async def _count_public_request(rt: Runtime, client: str) -> None:
    rule = rt.settings.rate_limits["public_search"]
    await ratelimit.enforce(rt.redis, rt.keys, "public_search", client, rule)


async def public_subject_id(uscc: str) -> int:
    code = require_uscc(uscc, "uscc")
    subject = await Subject.get_or_none(uscc=code, kind__in=list(MARKET_ENTITY_KINDS))
    if subject is None:
        raise NotFound("未找到该企业", code="SUBJECT_NOT_FOUND")
    return int(subject.id)
