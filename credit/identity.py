"""Binding a WeChat user to a real person (API.md "Login and identity", DESIGN.md §6).

Separate consent first (recorded with time and text version), then WeChat face verification:
`getverifyid` here, `wx.requestFacialVerify` on the phone, `queryverifyinfo` here. One person per
WeChat user and one user per person, held by unique constraints on both sides of the binding.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from credit.identifiers import is_valid_id_number, normalise_id_number
from credit.models import ID_NUMBER_FIELD, Consent, IdentityBinding, Subject, SubjectKind
from infra.errors import ApiError, Conflict, Forbidden, Invalid, NotFound, ServiceUnavailable
from infra.models import User
from infra.runtime import Runtime
from infra.security import ratelimit
from infra.security.crypto import mask_id_number, mask_name
from infra.security.sessions import Session, refresh_user_sessions
from infra.wechat.client import WeChatError, WeChatUnavailable

CONSENT_PURPOSE = "identity_binding"
CONSENT_TEXT = (
    "为向您展示本人的公共信用信息，信用阿拉善将通过微信人脸核身核验您提交的姓名与公民身份号码，"
    "并加密保存核验结果。您可随时撤回本授权。"
)
NAME_PATTERN = re.compile(r"^[\u4e00-\u9fff·•]{2,30}$")
PENDING_SECONDS = 1800


def validate_person(name: str, id_number: str) -> tuple[str, str]:
    fields: dict[str, str] = {}
    name = name.strip()
    if not NAME_PATTERN.match(name):
        fields["name"] = "请填写身份证上的中文姓名"
    id_number = normalise_id_number(id_number)
    if not is_valid_id_number(id_number):
        fields["id_number"] = "公民身份号码有误，请核对（18 位，校验位与出生日期须正确）"
    if fields:
        raise Invalid("身份信息有误，请核对后重试", fields=fields)
    return name, id_number


def _wechat_failure(exc: WeChatError) -> ApiError:
    if isinstance(exc, WeChatUnavailable):
        return ServiceUnavailable(
            "微信人脸核身服务暂时不可用，请稍后再试", code="WECHAT_UNAVAILABLE"
        )
    return ApiError("微信人脸核身请求失败，请稍后再试", code="FACE_VERIFY_ERROR", status=502)


async def start_verification(
    rt: Runtime, session: Session, *, name: str, id_number: str, consent: bool
) -> str:
    if consent is not True:
        raise Invalid("请先阅读并同意身份核验授权", fields={"consent": "须同意授权"})
    name, id_number = validate_person(name, id_number)
    await ratelimit.enforce(
        rt.redis, rt.keys, "identity", str(session.user_id), rt.settings.rate_limits["identity"]
    )
    if await IdentityBinding.exists(user_id=session.user_id):
        raise Conflict("您已绑定实名身份", code="IDENTITY_ALREADY_BOUND")
    user = await User.get(id=session.user_id)
    consent_row = await Consent.create(
        user_id=user.id,
        purpose=CONSENT_PURPOSE,
        text_version=rt.settings.identity_consent_version,
        text_hash=hashlib.sha256(CONSENT_TEXT.encode()).hexdigest(),
    )
    out_seq_no = secrets.token_hex(16)
    try:
        verify_id, expires_in = await rt.wechat.get_verify_id(
            openid=user.openid, name=name, id_number=id_number, out_seq_no=out_seq_no
        )
    except WeChatError as exc:
        raise _wechat_failure(exc) from exc
    pending = {
        "uid": user.id,
        "consent_id": consent_row.id,
        "out_seq_no": out_seq_no,
        "name": rt.cipher.encrypt(name, "pending.name"),
        "id_number": rt.cipher.encrypt(id_number, "pending.id_number"),
    }
    await rt.redis.set(
        rt.keys.identity_pending(verify_id),
        json.dumps(pending),
        ex=max(60, min(expires_in or PENDING_SECONDS, PENDING_SECONDS)),
    )
    return verify_id


async def complete_binding(rt: Runtime, session: Session, verify_id: str) -> dict[str, Any]:
    verify_id = verify_id.strip()
    if not verify_id or len(verify_id) > 256:
        raise Invalid("核验编号无效", fields={"verify_id": "无效"})
    raw = await rt.redis.get(rt.keys.identity_pending(verify_id))
    if raw is None:
        raise NotFound("核验已过期或不存在，请重新发起人脸核身", code="VERIFY_SESSION_UNKNOWN")
    pending = json.loads(raw)
    if pending["uid"] != session.user_id:
        raise Forbidden("该核验不属于当前用户", code="VERIFY_SESSION_FOREIGN")
    name = rt.cipher.decrypt(pending["name"], "pending.name")
    id_number = rt.cipher.decrypt(pending["id_number"], "pending.id_number")
    user = await User.get(id=session.user_id)
    try:
        result = await rt.wechat.query_verify_info(
            openid=user.openid,
            verify_id=verify_id,
            name=name,
            id_number=id_number,
            out_seq_no=pending["out_seq_no"],
        )
    except WeChatError as exc:
        raise _wechat_failure(exc) from exc
    if not result.passed:
        raise Invalid(
            "人脸核身未通过，请确认是本人操作后重试", code="FACE_VERIFY_FAILED",
            fields={"verify_id": f"核验结果 {result.verify_ret}"},
        )  # fmt: skip
    subject = await _bind(rt, user, pending["consent_id"], name, id_number, verify_id)
    await rt.redis.delete(rt.keys.identity_pending(verify_id))
    await refresh_user_sessions(rt.redis, rt.keys, user.id, list(user.roles), subject.id)
    return {"name_masked": mask_name(subject.name), "id_number_masked": mask_id_number(id_number)}


async def _bind(
    rt: Runtime, user: User, consent_id: int, name: str, id_number: str, verify_id: str
) -> Subject:
    index = rt.cipher.blind_index(id_number, ID_NUMBER_FIELD)
    try:
        async with in_transaction():
            subject = await Subject.get_or_none(id_number_index=index)
            if subject is None:
                subject = await Subject.create(
                    kind=SubjectKind.PERSON,
                    name=name,
                    natural_key=f"id:{index}",
                    id_number_enc=rt.cipher.encrypt(id_number, ID_NUMBER_FIELD),
                    id_number_index=index,
                    region=id_number[:6],
                )
            if await IdentityBinding.exists(subject_id=subject.id):
                raise Conflict("该身份已绑定其他微信用户", code="IDENTITY_TAKEN")
            if await IdentityBinding.exists(user_id=user.id):
                raise Conflict("您已绑定实名身份", code="IDENTITY_ALREADY_BOUND")
            await IdentityBinding.create(
                user_id=user.id,
                subject_id=subject.id,
                consent_id=consent_id,
                verify_id_hash=hashlib.sha256(verify_id.encode()).hexdigest(),
            )
    except IntegrityError as exc:  # a concurrent binding won the unique constraint
        raise Conflict("该身份或用户已完成绑定", code="IDENTITY_TAKEN") from exc
    return subject
