"""Merchants of the demonstration zones (API.md "Merchants and zones"): registration by an operator
with a bound identity, staff review, the integrity commitment, and the plate images.

Status changes are conditional UPDATEs on the status they start from, so two staff members acting
at once leave one winner and a 409 for the other. Every change drops the merchant's cached public
views; plates are cached under a fingerprint of what they show, so a new level prints a new plate.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from credit.acting import may_act_for, user_may_act_for
from credit.calendar_dates import shanghai_iso, shanghai_minute, today
from credit.identifiers import require_uscc
from credit.models import MARKET_ENTITY_KINDS, Subject
from infra import notifications
from infra.bilingual import mongolian_of
from infra.cache import as_bytes
from infra.errors import (
    ApiError,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    ServiceUnavailable,
)
from infra.i18n import mongolian_text_problem
from infra.models import User
from infra.pagination import page
from infra.params import cursor_id, path_id, status_filter
from infra.runtime import Runtime
from infra.security.sessions import Session, refresh_user_sessions
from qr.mongolian import LayoutError
from qr.plate import FontMissing, PosterContent, new_code, plate_url, poster_png, qr_png
from scenarios.merchants.evaluation import evaluate
from scenarios.merchants.models import Merchant, MerchantStatus
from scenarios.merchants.rules import MerchantRules, default_rules

STAFF_ROLES = ("admin", "reviewer")
OPERATOR_ROLE = "merchant"
POSTER_TTL_SECONDS = 7 * 24 * 3600
STATUS_LABELS = {
    MerchantStatus.PENDING: "待审核",
    MerchantStatus.ACTIVE: "正常亮码",
    MerchantStatus.SUSPENDED: "已暂停",
    MerchantStatus.REVOKED: "已撤销",
    MerchantStatus.REJECTED: "未通过审核",
}
# decision -> (statuses it starts from, status it ends in, note required)
DECISIONS: dict[str, tuple[tuple[MerchantStatus, ...], MerchantStatus, bool]] = {
    "approve": ((MerchantStatus.PENDING,), MerchantStatus.ACTIVE, False),
    "reject": ((MerchantStatus.PENDING,), MerchantStatus.REJECTED, True),
    "suspend": ((MerchantStatus.ACTIVE,), MerchantStatus.SUSPENDED, True),
    "reinstate": ((MerchantStatus.SUSPENDED,), MerchantStatus.ACTIVE, False),
    "revoke": ((MerchantStatus.ACTIVE, MerchantStatus.SUSPENDED), MerchantStatus.REVOKED, True),
}
PAGE_SIZE = 20
UNKNOWN = ("商户不存在", "MERCHANT_NOT_FOUND")


async def visible_merchant(session: Session, merchant_id: str | int) -> Merchant:
    """The operator sees their own shops, staff see all; anyone else is told it does not exist."""
    merchant = await Merchant.get_or_none(id=path_id(merchant_id, *UNKNOWN))
    if merchant is None or not (
        merchant.operator_id == session.user_id or session.has_role(*STAFF_ROLES)
    ):
        raise NotFound("商户不存在", code="MERCHANT_NOT_FOUND")
    return merchant


async def drop_views(rt: Runtime, merchant: Merchant) -> None:
    await rt.redis.hdel(rt.keys.merchant_views(merchant.subject_id), *_view_fields(merchant.id))


def _view_fields(merchant_id: int) -> tuple[str, str]:
    return f"j:{merchant_id}", f"h:{merchant_id}"


# -- registration and review -----------------------------------------------------------------


async def register(
    session: Session,
    *,
    uscc: str,
    name: str,
    zone_id: str,
    address: str,
    category: str,
    name_mn: str = "",
) -> dict[str, Any]:
    rules = default_rules()
    if session.subject_id is None:
        raise Conflict("请先完成实名核验，再登记商户", code="IDENTITY_NOT_BOUND")
    fields: dict[str, str] = {}
    if zone_id not in rules.zones:
        fields["zone_id"] = "可选：" + "、".join(rules.zones)
    if category not in rules.categories:
        fields["category"] = "可选：" + "、".join(rules.categories)
    problem = mongolian_text_problem(name_mn) if name_mn else None
    if problem:
        fields["name_mn"] = problem
    if fields:
        raise Invalid("商户信息有误", fields=fields)
    subject = await Subject.get_or_none(
        uscc=require_uscc(uscc, "uscc"), kind__in=list(MARKET_ENTITY_KINDS)
    )
    if subject is None:
        raise Invalid(
            "信用信息平台中没有该统一社会信用代码的市场主体，请核对",
            code="SUBJECT_NOT_FOUND",
            fields={"uscc": "未找到该市场主体"},
        )
    if not await may_act_for(session, subject.id):
        raise Forbidden(
            "请先认证该企业（法定代表人或经营者本人实名即可；受托经办人须上传授权委托书和"
            "营业执照并经审核通过），再登记商户",
            code="NOT_SUBJECT_OPERATOR",
        )
    if await Merchant.exists(
        subject_id=subject.id,
        zone_id=zone_id,
        name=name,
        status__in=[MerchantStatus.PENDING, MerchantStatus.ACTIVE, MerchantStatus.SUSPENDED],
    ):
        raise Conflict("该商户已登记", code="MERCHANT_EXISTS")
    merchant = await Merchant.create(
        subject_id=subject.id,
        operator_id=session.user_id,
        name=name,
        zone_id=zone_id,
        address=address,
        category=category,
        name_mn=name_mn,
        name_mn_by="merchant" if name_mn else "",
    )
    return await merchant_json(merchant, rules)


async def correct_name_mn(rt: Runtime, merchant_id: str, name_mn: str) -> dict[str, Any]:
    """Staff set or correct the shop's Mongolian name ("" removes it); the plate follows."""
    merchant = await Merchant.get_or_none(id=path_id(merchant_id, *UNKNOWN))
    if merchant is None:
        raise NotFound("商户不存在", code="MERCHANT_NOT_FOUND")
    problem = mongolian_text_problem(name_mn) if name_mn else None
    if problem:
        raise Invalid("蒙古文名称有误", fields={"name_mn": problem})
    await Merchant.filter(id=merchant.id).update(
        name_mn=name_mn, name_mn_by="staff" if name_mn else "", updated_at=datetime.now(UTC)
    )
    await drop_views(rt, merchant)
    await merchant.refresh_from_db()
    return await merchant_json(merchant, default_rules())


async def my_merchants(session: Session) -> list[dict[str, Any]]:
    """For GET /me: the shops this user operates."""
    merchants = await Merchant.filter(operator_id=session.user_id).order_by("id")
    return [
        {"id": m.id, "name": m.name, "code": m.code, "status": str(m.status)} for m in merchants
    ]


async def list_merchants(
    session: Session, status: str | None, cursor: str | None
) -> dict[str, Any]:
    query = Merchant.all()
    if not session.has_role(*STAFF_ROLES):
        query = query.filter(operator_id=session.user_id)
    if status:
        query = query.filter(status=status_filter(MerchantStatus, status))
    after = cursor_id(cursor)
    if after is not None:
        query = query.filter(id__gt=after)
    rows = await query.order_by("id").limit(PAGE_SIZE + 1)
    rules = default_rules()
    return page(rows, PAGE_SIZE, lambda m: _summary(m, rules))


async def merchant_detail(session: Session, merchant_id: str) -> dict[str, Any]:
    merchant = await visible_merchant(session, merchant_id)
    return await merchant_json(merchant, default_rules())


async def decide(
    rt: Runtime, session: Session, merchant_id: str, *, decision: str, note: str | None
) -> dict[str, Any]:
    merchant = await Merchant.get_or_none(id=path_id(merchant_id, *UNKNOWN))
    if merchant is None:
        raise NotFound("商户不存在", code="MERCHANT_NOT_FOUND")
    starts, target, note_required = DECISIONS[decision]
    if merchant.status not in starts:
        raise Conflict(
            f"商户当前为“{STATUS_LABELS[merchant.status]}”，不能执行此操作",
            code="MERCHANT_STATE_CONFLICT",
        )
    if note_required and not note:
        raise Invalid("请填写理由", fields={"note": "此操作须填写理由"})
    if target == MerchantStatus.ACTIVE and not await user_may_act_for(
        merchant.operator_id, merchant.subject_id
    ):
        # The same proof as acting for the entity anywhere (credit/acting.py), checked again:
        # a legal representative's link lapses when the platform names someone else.
        raise Conflict(
            "经营者尚未认证为该市场主体的法定代表人（经营者）或受托经办人，不能亮码",
            code="OPERATOR_NOT_PROVEN",
        )
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "status": target,
        "status_note": note,
        "reviewed_by": session.user_id,
        "reviewed_at": now,
        "updated_at": now,
    }
    async with in_transaction():
        changed = await Merchant.filter(id=merchant.id, status=merchant.status).update(**values)
        if changed != 1:
            raise Conflict(
                "该商户已被其他工作人员处理，请刷新后查看", code="MERCHANT_STATE_CHANGED"
            )
        if decision == "approve":
            await _issue_code(merchant, default_rules())
        await _notify_operator(merchant, target, note, now)
    if decision == "approve":
        await _grant_operator_role(rt, merchant.operator_id)
    await drop_views(rt, merchant)
    await merchant.refresh_from_db()
    return await merchant_json(merchant, default_rules())


DEFAULT_NOTES = {
    MerchantStatus.ACTIVE: "审核通过，可下载商户码亮码经营",
    MerchantStatus.REJECTED: "未通过审核，请查看原因",
    MerchantStatus.SUSPENDED: "商户码已暂停，请查看原因",
    MerchantStatus.REVOKED: "商户码已撤销，请查看原因",
}


async def _notify_operator(
    merchant: Merchant, status: MerchantStatus, note: str | None, at: datetime
) -> None:
    """Staff decided about the shop: its operator is told (message centre and WeChat)."""
    label = STATUS_LABELS[status]
    short = {MerchantStatus.ACTIVE: "已通过", MerchantStatus.REJECTED: "未通过"}.get(status, label)
    text = note or DEFAULT_NOTES.get(status, label)
    await notifications.notify(
        merchant.operator_id,
        "merchant_status",
        {"title": merchant.name, "status": short, "time": shanghai_minute(at), "note": text},
        title=f"商户“{merchant.name}”{label}",
        content=text,
        page_query=f"id={merchant.id}",
    )


async def _issue_code(merchant: Merchant, rules: MerchantRules) -> None:
    if merchant.code:
        return
    for _ in range(5):  # 62^10 codes: a collision is rare, but the unique index decides
        code = new_code(rules.code_length)
        try:
            async with in_transaction():
                await Merchant.filter(id=merchant.id).update(code=code, code_issued_on=today())
            return
        except IntegrityError:
            continue
    raise ApiError("生成商户码失败，请重试", code="CODE_GENERATION_FAILED", status=503)


async def _grant_operator_role(rt: Runtime, user_id: int) -> None:
    user = await User.get(id=user_id)
    if OPERATOR_ROLE in user.roles:
        return
    user.roles = [*user.roles, OPERATOR_ROLE]
    await user.save(update_fields=["roles"])
    binding_subject = await _bound_subject(user_id)
    await refresh_user_sessions(rt.redis, rt.keys, user_id, list(user.roles), binding_subject)


async def _bound_subject(user_id: int) -> int | None:
    from credit.models import IdentityBinding

    binding = await IdentityBinding.get_or_none(user_id=user_id)
    return binding.subject_id if binding else None


async def sign_commitment(
    rt: Runtime, session: Session, merchant_id: str, *, accepted: bool, version: str
) -> dict[str, Any]:
    rules = default_rules()
    merchant = await visible_merchant(session, merchant_id)
    if merchant.operator_id != session.user_id:
        raise Forbidden("只有商户经营者本人可以签署诚信承诺", code="NOT_MERCHANT_OPERATOR")
    if not accepted:
        raise Invalid("请阅读并同意诚信经营承诺", fields={"accepted": "须同意承诺"})
    if version != rules.commitment_version:
        raise Conflict(
            f"承诺书已更新为 {rules.commitment_version} 版，请重新阅读后签署",
            code="COMMITMENT_VERSION_CHANGED",
        )
    if merchant.status in (MerchantStatus.REVOKED, MerchantStatus.REJECTED):
        raise Conflict("该商户已撤销或未通过审核", code="MERCHANT_STATE_CONFLICT")
    await Merchant.filter(id=merchant.id).update(
        commitment_version=rules.commitment_version,
        commitment_hash=rules.commitment_hash,
        commitment_accepted_at=datetime.now(UTC),
    )
    await drop_views(rt, merchant)
    await merchant.refresh_from_db()
    return commitment_json(merchant)


def commitment_json(merchant: Merchant) -> dict[str, Any]:
    signed = merchant.commitment_accepted_at
    return {
        "signed": signed is not None,
        "version": merchant.commitment_version,
        "signed_at": shanghai_iso(signed),
        "hash": merchant.commitment_hash,
    }


def commitment_text() -> dict[str, str]:
    rules = default_rules()
    return {"version": rules.commitment_version, "text": rules.commitment_text}


def _summary(merchant: Merchant, rules: MerchantRules) -> dict[str, Any]:
    zone = rules.zones.get(merchant.zone_id)
    return {
        "id": merchant.id,
        "name": merchant.name,
        "name_mn": merchant.name_mn or None,
        "name_mn_by": merchant.name_mn_by or None,
        "zone": {
            "id": merchant.zone_id,
            "name": zone.name if zone else merchant.zone_id,
            "name_mn": zone.name_mn if zone and zone.name_mn else None,
        },
        "address": merchant.address,
        "category": merchant.category,
        "status": str(merchant.status),
        "status_label": STATUS_LABELS[merchant.status],
        "status_note": merchant.status_note,
        "code": merchant.code,
    }


async def merchant_json(merchant: Merchant, rules: MerchantRules) -> dict[str, Any]:
    evaluation = await evaluate(merchant, rules)
    subject = await Subject.get(id=merchant.subject_id)
    return _summary(merchant, rules) | {
        "subject": {"name": subject.name, "uscc": subject.uscc},
        "level": evaluation.level,
        "factors": evaluation.factors,
        "commitment": commitment_json(merchant),
    }


# -- plates ----------------------------------------------------------------------------------


async def plate_image(rt: Runtime, session: Session, merchant_id: str, kind: str) -> bytes:
    """`qr`: the bare code; `poster`: the printable plate. Rendered off the loop, cached."""
    merchant = await visible_merchant(session, merchant_id)
    if not merchant.code:
        raise Conflict("商户尚未通过审核，还没有商户码", code="MERCHANT_NOT_ACTIVE")
    rules = default_rules()
    url = plate_url(rt.settings.public_base_url, merchant.code)
    if kind == "qr":
        key = rt.keys.poster(merchant.id, "qr-" + hashlib.sha256(url.encode()).hexdigest()[:16])
        cached = await rt.redis.get(key)
        if cached is not None:
            return as_bytes(cached)
        image = await asyncio.to_thread(qr_png, url)
        await rt.redis.set(key, image, ex=POSTER_TTL_SECONDS)
        return image
    evaluation = await evaluate(merchant, rules)
    zone = rules.zones.get(merchant.zone_id)
    content = PosterContent(
        name=merchant.name,
        zone=zone.name if zone else merchant.zone_id,
        grade=evaluation.grade.grade,
        grade_label=evaluation.grade.label,
        colour=evaluation.grade.colour,
        url=url,
        caption=rules.caption,
        issued_on=merchant.code_issued_on or today(),
        code=merchant.code,
        name_mn=merchant.name_mn,
        zone_mn=zone.name_mn if zone else "",
        grade_caption_mn=mongolian_of(f"信用等级：{evaluation.grade.label}"),
        caption_mn=mongolian_of(rules.caption),
    )
    font = rules.font(rt.settings.plate_font_path)
    mongolian_font = rules.mongolian_font()
    fingerprint = hashlib.sha256(
        repr((content, str(font), str(mongolian_font))).encode()
    ).hexdigest()[:24]
    key = rt.keys.poster(merchant.id, fingerprint)
    cached = await rt.redis.get(key)
    if cached is not None:
        return as_bytes(cached)
    try:
        image = await asyncio.to_thread(poster_png, content, font, mongolian_font)
    except LayoutError as exc:
        raise Conflict(
            "商户或街区的蒙古文名称过长，无法排入信用牌，请工作人员更正蒙古文名称",
            code="MONGOLIAN_TOO_LONG",
        ) from exc
    except FontMissing as exc:
        raise ServiceUnavailable(
            f"服务器缺少中文或蒙古文字体，暂不能生成商户码海报（{exc}）。"
            "请安装 fonts-wqy-microhei、fonts-noto-core 或设置 PLATE_FONT_PATH",
            code="FONT_MISSING",
        ) from exc
    await rt.redis.set(key, image, ex=POSTER_TTL_SECONDS)
    return image
