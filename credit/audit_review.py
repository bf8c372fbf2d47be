"""查询使用审查 (issue 14 item 4): the credit office searches the audit log (by subject, actor,
purpose and date range) and verifies its hash chain. Both are themselves written to the log.

Who may: the `reviewer` role. DESIGN.md §6 names it the credit centre (阿拉善盟信用中心, the
league credit office's working unit, which the audit entries name as `actor_org`); `admin` is the
system's operator (users, venues, merchants), not an office that oversees credit-data use, so it
gets 403 like every other role. Reviewers' own reads are in the log they search: the search and
the verification are logged too, and nobody can change an entry without breaking the chain."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from credit.applications.service import REVIEWER_UNIT
from credit.calendar_dates import SHANGHAI, shanghai_iso, today
from credit.identifiers import is_valid_id_number, normalise_id_number, parse_uscc
from credit.lookup import subject_json
from credit.models import ID_NUMBER_FIELD, Subject
from infra.audit import AuditEvent, check_chain, drain
from infra.audit import append as append_audit
from infra.errors import Forbidden, Invalid
from infra.models import AuditEntry
from infra.pagination import page
from infra.params import cursor_id, query_date, query_id, strip_control_characters
from infra.runtime import Runtime
from infra.security.sessions import Session

AUDIT_REVIEW_ROLE = "reviewer"
PAGE_SIZE = 50
MAX_PURPOSE = 100


def require_audit_reviewer(session: Session) -> None:
    if not session.has_role(AUDIT_REVIEW_ROLE):
        raise Forbidden("仅信用中心（盟信用办）可进行查询使用审查", code="ROLE_REQUIRED")


async def _subject_id(rt: Runtime, subject: str | None, subject_id: str | None) -> int | None:
    """`subject_id` (the store's id) or `subject`: a USCC or an ID number (found by its blind
    index, never stored or logged in the clear). An unknown one matches nothing (-1)."""
    if subject_id:
        return query_id(subject_id, "subject_id")
    if not subject:
        return None
    text = subject.strip()
    parsed = parse_uscc(text) if len(text) <= 40 else None
    person = is_valid_id_number(text)
    if parsed is None and not person:
        raise Invalid("主体须为统一社会信用代码或身份证号码", fields={"subject": "格式有误"})
    found = None
    if person:  # an ID number is also shaped like a USCC: look for the person first
        index = rt.cipher.blind_index(normalise_id_number(text), ID_NUMBER_FIELD)
        found = await Subject.filter(id_number_index=index).order_by("id").first()
    if found is None and parsed is not None:
        found = await Subject.filter(uscc=parsed[0]).order_by("id").first()
    return found.id if found is not None else -1


async def search(
    rt: Runtime,
    session: Session,
    *,
    subject: str | None = None,
    subject_id: str | None = None,
    actor_user_id: str | None = None,
    purpose: str | None = None,
    start: str | None = None,
    end: str | None = None,
    cursor: str | None = None,
    channel: str,
) -> dict[str, Any]:
    """Newest first. Dates are Shanghai days (default: the last 30 days up to today)."""
    require_audit_reviewer(session)
    last = query_date(end, today(), "to")
    first = query_date(start, last - timedelta(days=30), "from")
    if last < first:
        raise Invalid("结束日期早于开始日期", fields={"to": "不能早于开始日期"})
    wanted_subject = await _subject_id(rt, subject, subject_id)
    actor = query_id(actor_user_id, "actor_user_id")
    wanted_purpose = strip_control_characters(purpose or "").strip()[:MAX_PURPOSE]
    await drain(rt.redis, rt.keys, wait=2.0)  # entries still in the stream count too
    query = AuditEntry.filter(
        at__gte=_utc_start(first), at__lt=_utc_start(last + timedelta(days=1))
    )
    if wanted_subject is not None:
        query = query.filter(subject_id=wanted_subject)
    if actor is not None:
        query = query.filter(actor_user_id=actor)
    if wanted_purpose:
        query = query.filter(purpose__icontains=wanted_purpose)
    before = cursor_id(cursor)
    if before is not None:
        query = query.filter(id__lt=before)
    entries = await query.order_by("-id").limit(PAGE_SIZE + 1)
    subjects = {
        s.id: s
        for s in await Subject.filter(id__in={e.subject_id for e in entries if e.subject_id})
    }
    filters = {
        "subject_id": wanted_subject, "actor_user_id": actor, "purpose": wanted_purpose or None,
        "from": first.isoformat(), "to": last.isoformat(), "cursor": before,
    }  # fmt: skip
    await _log(rt, session, "audit.search", channel, wanted_subject, filters)

    def shape(entry: AuditEntry) -> dict[str, Any]:
        shown = subjects.get(entry.subject_id) if entry.subject_id else None
        return {
            "id": entry.id,
            "at": shanghai_iso(entry.at),
            "action": entry.action,
            "actor_kind": entry.actor_kind,
            "actor_role": entry.actor_role,
            "actor_org": entry.actor_org,
            "actor_user_id": entry.actor_user_id,
            "subject_id": entry.subject_id,
            "subject": subject_json(shown, rt.cipher) if shown else None,
            "purpose": entry.purpose,
            "channel": entry.channel,
            "detail": entry.detail,
        }

    result = page(entries, PAGE_SIZE, shape)
    result["filters"] = {k: v for k, v in filters.items() if k != "cursor"}
    return result


def _utc_start(day: date) -> datetime:
    """A Shanghai day's first instant, in UTC as timestamps are stored (SQLite compares text)."""
    return datetime.combine(day, time.min, tzinfo=SHANGHAI).astimezone(UTC)


async def verify(rt: Runtime, session: Session, *, channel: str) -> dict[str, Any]:
    """The whole chain, from the first entry: the result and the first broken link, if any."""
    require_audit_reviewer(session)
    result = await verify_result(rt)
    await _log(rt, session, "audit.verify", channel, None, {"ok": result["ok"]})
    return result


async def verify_result(rt: Runtime) -> dict[str, Any]:
    """The check itself, for the page and `python -m server audit verify`."""
    await drain(rt.redis, rt.keys, wait=2.0)
    check = await check_chain()
    broken = check.broken
    return {
        "ok": check.ok,
        "checked": check.checked,
        "last_id": check.last_id,
        "first_broken": None
        if broken is None
        else {
            "id": broken.id,
            "stream_id": broken.stream_id,
            "at": shanghai_iso(broken.at),
            "reason": broken.reason,
            "reason_label": "与前一条的链接不符（前一条被改动或删除）"
            if broken.reason == "prev_hash"
            else "本条内容在写入后被改动",
            "expected": broken.expected,
            "stored": broken.stored,
            "previous_id": broken.previous_id,
        },
        "checked_at": datetime.now(SHANGHAI).isoformat(timespec="seconds"),
    }


async def _log(
    rt: Runtime,
    session: Session,
    action: str,
    channel: str,
    subject_id: int | None,
    detail: dict[str, Any],
) -> None:
    await append_audit(
        rt.redis,
        rt.keys,
        AuditEvent(
            action=action,
            actor_kind="reviewer",
            actor_role=AUDIT_REVIEW_ROLE,
            actor_org=REVIEWER_UNIT,
            purpose="查询使用审查",
            channel=channel,
            actor_user_id=session.user_id,
            subject_id=subject_id if subject_id and subject_id > 0 else None,
            detail={k: v for k, v in detail.items() if v is not None},
        ),
    )
