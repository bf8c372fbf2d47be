"""Consumer complaints about a shop: a logged-in citizen complains from the plate, the merchant
replies, staff uphold or dismiss. Upheld complaints lower the merchant's level. Text held for
review by WeChat content security (the complaint for the merchant, the merchant's reply for the
complainant) is shown to staff only until one of them has decided."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tortoise.transactions import in_transaction

from credit.calendar_dates import shanghai_iso, shanghai_minute
from infra import notifications
from infra.errors import Conflict, Forbidden, Invalid, NotFound
from infra.models import User
from infra.moderation import Moderation, moderate
from infra.pagination import page
from infra.params import cursor_id, path_id, status_filter
from infra.runtime import Runtime
from infra.security.sessions import Session
from infra.uploads import owned_upload_ids
from scenarios.merchants.models import Complaint, ComplaintStatus, Merchant, MerchantStatus
from scenarios.merchants.public import resolve_code
from scenarios.merchants.service import STAFF_ROLES, drop_views, visible_merchant

MODERATION_SCENE = 2  # comment
PAGE_SIZE = 20
STATUS_LABELS = {
    ComplaintStatus.SUBMITTED: "待处理",
    ComplaintStatus.REPLIED: "商户已回复",
    ComplaintStatus.UPHELD: "投诉成立",
    ComplaintStatus.DISMISSED: "投诉不成立",
}
DECISIONS = {"uphold": ComplaintStatus.UPHELD, "dismiss": ComplaintStatus.DISMISSED}
OPEN = (ComplaintStatus.SUBMITTED, ComplaintStatus.REPLIED)
HELD_TEXT = "（内容审核中）"
UNKNOWN = ("投诉不存在", "COMPLAINT_NOT_FOUND")


async def submit(
    rt: Runtime,
    session: Session,
    code: str,
    *,
    content: str,
    attachments: list[int],
    client: Callable[[], str],
) -> dict[str, Any]:
    merchant_id, _ = await resolve_code(rt, code, client)
    merchant = await Merchant.get(id=merchant_id)
    if merchant.status == MerchantStatus.REVOKED:
        raise Conflict("该商户码已撤销，不能再投诉", code="MERCHANT_REVOKED")
    if merchant.operator_id == session.user_id:
        raise Forbidden("不能投诉自己经营的商户", code="OWN_MERCHANT")
    attachment_ids = await owned_upload_ids(session, attachments)
    openid = (await User.get(id=session.user_id)).openid
    moderation = await moderate(rt, openid, {"content": content}, MODERATION_SCENE)
    complaint = await Complaint.create(
        merchant_id=merchant.id,
        complainant_id=session.user_id,
        content=content,
        attachments=attachment_ids,
        moderation=moderation,
    )
    await drop_views(rt, merchant)
    return _json(complaint, audience="complainant")


async def mine(session: Session, cursor: str | None) -> dict[str, Any]:
    query = Complaint.filter(complainant_id=session.user_id)
    after = cursor_id(cursor)
    if after is not None:
        query = query.filter(id__lt=after)
    rows = await query.order_by("-id").limit(PAGE_SIZE + 1)
    return page(rows, PAGE_SIZE, lambda c: _json(c, audience="complainant"))


async def of_merchant(session: Session, merchant_id: str, cursor: str | None) -> dict[str, Any]:
    merchant = await visible_merchant(session, merchant_id)
    audience = "staff" if session.has_role(*STAFF_ROLES) else "merchant"
    query = Complaint.filter(merchant_id=merchant.id)
    after = cursor_id(cursor)
    if after is not None:
        query = query.filter(id__lt=after)
    rows = await query.order_by("-id").limit(PAGE_SIZE + 1)
    return page(rows, PAGE_SIZE, lambda c: _json(c, audience=audience))


async def reply(rt: Runtime, session: Session, complaint_id: str, text: str) -> dict[str, Any]:
    complaint = await Complaint.get_or_none(id=path_id(complaint_id, *UNKNOWN)).prefetch_related(
        "merchant"
    )
    if complaint is None or complaint.merchant.operator_id != session.user_id:
        raise NotFound("投诉不存在", code="COMPLAINT_NOT_FOUND")
    if complaint.status not in OPEN:  # before asking WeChat: a closed one takes no reply
        raise Conflict("该投诉已处理完毕，不能再回复", code="COMPLAINT_CLOSED")
    openid = (await User.get(id=session.user_id)).openid
    moderation = await moderate(rt, openid, {"reply": text}, MODERATION_SCENE)
    changed = await Complaint.filter(id=complaint.id, status__in=list(OPEN)).update(
        status=ComplaintStatus.REPLIED,
        reply=text,
        reply_moderation=moderation,
        replied_at=datetime.now(UTC),
    )
    if changed != 1:
        raise Conflict("该投诉已处理完毕，不能再回复", code="COMPLAINT_CLOSED")
    await complaint.refresh_from_db()
    return _json(complaint, audience="merchant")


async def decide(
    rt: Runtime, session: Session, complaint_id: str, *, decision: str, note: str | None
) -> dict[str, Any]:
    complaint = await Complaint.get_or_none(id=path_id(complaint_id, *UNKNOWN)).prefetch_related(
        "merchant"
    )
    if complaint is None:
        raise NotFound("投诉不存在", code="COMPLAINT_NOT_FOUND")
    if decision == "dismiss" and not note:
        raise Invalid("请填写不成立的理由", fields={"note": "驳回投诉时必填"})
    async with in_transaction():
        changed = await Complaint.filter(id=complaint.id, status__in=list(OPEN)).update(
            status=DECISIONS[decision],
            decided_by=session.user_id,
            decided_at=datetime.now(UTC),
            decision_note=note,
            moderation=Moderation.PASSED,  # a staff member has read it, and the reply
            reply_moderation=Moderation.PASSED,
        )
        if changed != 1:
            raise Conflict("该投诉已被处理，请刷新后查看", code="COMPLAINT_CLOSED")
        await _notify_outcome(complaint, DECISIONS[decision], note)
    await drop_views(rt, complaint.merchant)  # the level may change
    await complaint.refresh_from_db()
    return _json(complaint, audience="staff")


async def _notify_outcome(complaint: Complaint, outcome: ComplaintStatus, note: str | None) -> None:
    """The complainant and the merchant's operator are told the outcome."""
    merchant = complaint.merchant
    label = STATUS_LABELS[outcome]
    short = "成立" if outcome == ComplaintStatus.UPHELD else "不成立"
    text = note or ("投诉成立，已计入商户信用评价" if outcome == ComplaintStatus.UPHELD else label)
    at = shanghai_minute(datetime.now(UTC))
    for user_id, title in (
        (complaint.complainant_id, f"您对“{merchant.name}”的投诉{label[2:]}"),
        (merchant.operator_id, f"“{merchant.name}”收到的投诉{label[2:]}"),
    ):
        await notifications.notify(
            user_id,
            "complaint_outcome",
            {"title": f"投诉：{merchant.name}", "status": short, "time": at, "note": text},
            title=title,
            content=text,
            page_query=f"id={complaint.id}",
        )


def _json(complaint: Complaint, *, audience: str) -> dict[str, Any]:
    held = complaint.moderation == Moderation.REVIEW and audience == "merchant"
    # The merchant sees its own reply as written; the complainant not until it is cleared.
    reply_held = complaint.reply_moderation == Moderation.REVIEW and audience == "complainant"
    shaped: dict[str, Any] = {
        "id": complaint.id,
        "merchant_id": complaint.merchant_id,
        "content": HELD_TEXT if held else complaint.content,
        "attachments": [] if held else list(complaint.attachments or []),
        "status": str(complaint.status),
        "status_label": STATUS_LABELS[complaint.status],
        "reply": HELD_TEXT if reply_held and complaint.reply else complaint.reply,
        "decision_note": complaint.decision_note,
        "created_at": shanghai_iso(complaint.created_at),
        "replied_at": shanghai_iso(complaint.replied_at),
        "decided_at": shanghai_iso(complaint.decided_at),
    }
    if audience == "staff":
        shaped["moderation"] = str(complaint.moderation)
        shaped["reply_moderation"] = str(complaint.reply_moderation)
    return shaped


async def queue(status: str | None, cursor: str | None) -> dict[str, Any]:
    """Staff: oldest first; open complaints by default."""
    query = Complaint.all()
    if status:
        query = query.filter(status=status_filter(ComplaintStatus, status))
    else:
        query = query.filter(status__in=list(OPEN))
    after = cursor_id(cursor)
    if after is not None:
        query = query.filter(id__gt=after)
    rows = await query.order_by("id").limit(PAGE_SIZE + 1)
    return page(rows, PAGE_SIZE, lambda c: _json(c, audience="staff"))
