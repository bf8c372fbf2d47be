"""Binding a WeChat user to a real person (API.md "Login and identity", DESIGN.md §6), and
withdrawing it.

Separate consent first (recorded with time and text version, the text in config/consents.toml),
then WeChat face verification: `getverifyid` here, `wx.requestFacialVerify` on the phone,
`queryverifyinfo` here. One person per WeChat user and one user per person, held by unique
constraints on both sides of the binding. Withdrawing the consent (PIPL art. 15, 47) unbinds:
the binding goes, and so does what only the binding brought (the person's encrypted ID number),
while the platform's records about the person stay.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from credit.calendar_dates import shanghai_iso, today
from credit.identifiers import id_birth_date, is_valid_id_number, normalise_id_number
from credit.models import (
    ID_NUMBER_FIELD,
    Consent,
    IdentityBinding,
    Record,
    Subject,
    SubjectKind,
)
from credit.person_names import ERASED_NAME, seal_person_name
from infra.audit import AuditEvent
from infra.audit import append as append_audit
from infra.cache import invalidate_subjects
from infra.errors import ApiError, Conflict, Forbidden, Invalid, NotFound, ServiceUnavailable
from infra.models import User
from infra.runtime import Runtime
from infra.security import ratelimit
from infra.security.crypto import mask_id_number, mask_name
from infra.security.sessions import Session, refresh_user_sessions
from infra.settings import read_config
from infra.wechat.client import FaceOutcome, VerifyResult, WeChatError, WeChatUnavailable

log = logging.getLogger(__name__)

PENDING_SECONDS = 1800  # the consent text's "至多保存 30 分钟" (config/consents.toml)
_REQUIRED_SECTIONS = ("processor", "purpose", "recipient", "retention", "withdrawal", "minors")


@dataclass(frozen=True)
class ConsentSection:
    key: str
    heading: str
    body: str


@dataclass(frozen=True)
class ConsentText:
    """A versioned consent text (config/consents.toml): what the user is shown and accepts."""

    purpose: str
    version: str
    title: str
    sections: tuple[ConsentSection, ...]
    guardian_required_under_age: int

    @property
    def text(self) -> str:
        return "\n".join([self.title, *(f"{s.heading}：{s.body}" for s in self.sections)])

    @property
    def text_hash(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def as_dict(self) -> dict[str, Any]:
        return {
            "purpose": self.purpose,
            "version": self.version,
            "title": self.title,
            "sections": [
                {"key": s.key, "heading": s.heading, "body": s.body} for s in self.sections
            ],
            "text": self.text,
            "text_hash": self.text_hash,
        }

    @classmethod
    def load(cls, path: Path | None = None) -> ConsentText:
        raw = read_config("consents.toml", path)["identity"]
        sections = tuple(
            ConsentSection(
                key=str(s["key"]),
                heading=str(s["heading"]).strip(),
                # TOML wraps long lines; Chinese text joins without spaces.
                body="".join(line.strip() for line in str(s["body"]).splitlines()),
            )
            for s in raw["sections"]
        )
        missing = set(_REQUIRED_SECTIONS) - {s.key for s in sections}
        if missing:
            raise ValueError(f"config/consents.toml [identity] lacks sections {sorted(missing)}")
        return cls(
            purpose=str(raw["purpose"]),
            version=str(raw["version"]),
            title=str(raw["title"]).strip(),
            sections=sections,
            guardian_required_under_age=int(raw["guardian_required_under_age"]),
        )


@lru_cache(maxsize=1)
def identity_consent() -> ConsentText:
    return ConsentText.load()


# Names as the ID card prints them (issue 10 item 10): CJK unified ideographs of every block,
# 〇, and the middle dot of ethnic-minority names (巴特尔·朝鲁), which phones type in several forms.
# The name is NFC-normalised first: the compatibility ideographs that have a canonical
# equivalent (U+F900–FAFF, U+2F800–2FA1F) become that unified ideograph; the twelve of
# U+FA0E–FA29 without one are unified ideographs themselves and are accepted as they are.
# Radicals (U+2E80–2FDF) and strokes are not name characters and are refused.
_IDEOGRAPH_RANGES = (
    (0x3400, 0x4DBF),  # Extension A
    (0x4E00, 0x9FFF),  # the basic block
    (0x20000, 0x2A6DF),  # Extension B
    (0x2A700, 0x2EE5F),  # Extensions C, D, E, F, I
    (0x30000, 0x3347F),  # Extensions G, H, J
)
_UNIFIED_IN_COMPATIBILITY_BLOCK = frozenset(
    "\ufa0e\ufa0f\ufa11\ufa13\ufa14\ufa1f\ufa21\ufa23\ufa24\ufa27\ufa28\ufa29"
)
IDEOGRAPHIC_ZERO = "\u3007"  # 〇
MIDDLE_DOT = "\u00b7"  # ·, as the ID card prints it
# • bullet, ・ katakana middle dot, ･ halfwidth katakana middle dot, ‧ hyphenation point,
# ∙ bullet operator: what input methods and copied text put in place of ·.
_MIDDLE_DOT_VARIANTS = "\u2022\u30fb\uff65\u2027\u2219"
_DOTS = str.maketrans(dict.fromkeys(_MIDDLE_DOT_VARIANTS, MIDDLE_DOT))
NAME_MIN, NAME_MAX = 2, 30


def _is_name_character(char: str) -> bool:
    point = ord(char)
    return (
        any(low <= point <= high for low, high in _IDEOGRAPH_RANGES)
        or char == IDEOGRAPHIC_ZERO
        or char in _UNIFIED_IN_COMPATIBILITY_BLOCK
    )


def normalise_name(name: str) -> str | None:
    """The name as bound and sent to WeChat, or None when it is not one: NFC, every middle dot
    as ·, no spaces around a dot; a dot only between two name characters."""
    name = unicodedata.normalize("NFC", name).strip().translate(_DOTS)
    parts = [part.strip() for part in name.split(MIDDLE_DOT)]
    if not all(parts) or not all(_is_name_character(c) for part in parts for c in part):
        return None
    name = MIDDLE_DOT.join(parts)
    return name if NAME_MIN <= len(name) <= NAME_MAX else None


def validate_person(name: str, id_number: str) -> tuple[str, str]:
    fields: dict[str, str] = {}
    normalised = normalise_name(name)
    if normalised is None:
        fields["name"] = "请填写身份证上的中文姓名（少数民族姓名中的间隔号请用“·”）"
    id_number = normalise_id_number(id_number)
    if not is_valid_id_number(id_number):
        fields["id_number"] = "公民身份号码有误，请核对（18 位，校验位与出生日期须正确）"
    if fields or normalised is None:
        raise Invalid("身份信息有误，请核对后重试", fields=fields)
    return normalised, id_number


def age_on(birth: date, day: date) -> int:
    """Full years on `day`; someone born on 29 February turns a year older on 1 March in a
    common year."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def require_no_guardian_needed(id_number: str, consent: ConsentText) -> None:
    """Under 14 by the ID's birth date (Shanghai calendar), binding needs a guardian's consent
    (PIPL art. 31), a route the service does not offer yet: 403."""
    if age_on(id_birth_date(id_number), today()) < consent.guardian_required_under_age:
        raise Forbidden(
            f"未满{consent.guardian_required_under_age}周岁的未成年人绑定实名身份须经父母或其他监护人同意，"
            "本小程序暂未开通监护人授权途径，目前无法绑定",
            code="GUARDIAN_REQUIRED",
        )


def _outdated(consent: ConsentText) -> Conflict:
    return Conflict(
        f"授权书已更新（当前版本 {consent.version}），请阅读并同意最新的授权书后重新发起核验",
        code="CONSENT_OUTDATED",
        fields={"consent_version": f"当前版本为 {consent.version}"},
    )


def _wechat_failure(exc: WeChatError) -> ApiError:
    if isinstance(exc, WeChatUnavailable):
        return ServiceUnavailable(
            "微信人脸核身服务暂时不可用，请稍后再试",
            code="WECHAT_UNAVAILABLE",
            retry_after=exc.retry_after,
        )
    return ApiError("微信人脸核身请求失败，请稍后再试", code="FACE_VERIFY_ERROR", status=502)


_AGAIN = "后重新发起核验"
# What the user is told for each outcome of queryverifyinfo that is not a pass (FaceOutcome in
# infra/wechat/client.py, from the interface's verify_ret enum). Only a face that does not match
# is "未通过"; the 9xxxx outcomes happened on the phone before any comparison and say what to do.
_FACE_OUTCOMES: dict[str, tuple[str, str]] = {
    FaceOutcome.FACE_MISMATCH: ("FACE_VERIFY_FAILED", "人脸核身未通过，请确认是本人操作后重试"),
    FaceOutcome.ID_MISMATCH: (
        "FACE_VERIFY_ID_MISMATCH",
        f"姓名与公民身份号码不一致，请核对身份证上的姓名和号码{_AGAIN}",
    ),
    FaceOutcome.CANCELLED: (
        "FACE_VERIFY_CANCELLED",
        f"您已退出人脸核身，核验未完成；如需绑定实名身份，请{_AGAIN[1:]}并完成人脸识别",
    ),
    FaceOutcome.PERMISSION: (
        "FACE_VERIFY_PERMISSION",
        f"人脸核身需要使用相机和麦克风：请在手机“设置”中允许微信访问相机和麦克风{_AGAIN}",
    ),
    FaceOutcome.TIMEOUT: (
        "FACE_VERIFY_TIMEOUT",
        f"人脸识别超时：请在光线充足处正对手机，按提示完成动作{_AGAIN}",
    ),
    FaceOutcome.CAPTURE: (
        "FACE_VERIFY_CAPTURE",
        f"未采集到清晰的人脸：请摘下帽子、口罩等遮挡，在光线充足处{_AGAIN[1:]}",
    ),
    FaceOutcome.NETWORK: (
        "FACE_VERIFY_NETWORK",
        f"网络不稳定，人脸核身未完成：请在网络良好时{_AGAIN[1:]}",
    ),
    FaceOutcome.DEVICE: (
        "FACE_VERIFY_DEVICE_UNSUPPORTED",
        f"当前手机不支持微信人脸核身，请换一部手机{_AGAIN}",
    ),
    FaceOutcome.CLIENT_ERROR: (
        "FACE_VERIFY_CLIENT_ERROR",
        f"微信人脸核身在手机上出现异常：请将微信更新到最新版本或重启微信{_AGAIN}",
    ),
}


def _face_not_passed(result: VerifyResult) -> ApiError:
    known = _FACE_OUTCOMES.get(result.outcome)
    if known is None:  # 10001 (our request was wrong) or a value the enum does not list
        log.error("queryverifyinfo answered verify_ret %d", result.verify_ret)
        return ApiError("微信人脸核身结果异常，请稍后再试", code="FACE_VERIFY_ERROR", status=502)
    code, message = known
    return Invalid(message, code=code, fields={"verify_id": f"核验结果 {result.verify_ret}"})


async def start_verification(
    rt: Runtime,
    session: Session,
    *,
    name: str,
    id_number: str,
    consent: bool,
    consent_version: str,
) -> str:
    """Records the separate consent to the current text and starts WeChat face verification."""
    if consent is not True:
        raise Invalid("请先阅读并同意身份核验授权", fields={"consent": "须同意授权"})
    text = identity_consent()
    if consent_version.strip() != text.version:
        raise _outdated(text)
    name, id_number = validate_person(name, id_number)
    require_no_guardian_needed(id_number, text)
    await ratelimit.enforce(
        rt.redis, rt.keys, "identity", str(session.user_id), rt.settings.rate_limits["identity"]
    )
    if await IdentityBinding.exists(user_id=session.user_id):
        raise Conflict("您已绑定实名身份", code="IDENTITY_ALREADY_BOUND")
    user = await User.get(id=session.user_id)
    consent_row = await Consent.create(
        user_id=user.id,
        purpose=text.purpose,
        text_version=text.version,
        text_hash=text.text_hash,
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
    await _require_live_consent(pending["consent_id"])
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
        raise _face_not_passed(result)
    subject = await _bind(rt, user, pending["consent_id"], name, id_number, verify_id)
    await rt.redis.delete(rt.keys.identity_pending(verify_id))
    await refresh_user_sessions(rt.redis, rt.keys, user.id, list(user.roles), subject.id)
    return {"name_masked": mask_name(subject.name), "id_number_masked": mask_id_number(id_number)}


def _withdrawn() -> Conflict:
    return Conflict(
        "该核验所依据的授权已撤回，请重新阅读并同意授权后发起核验", code="CONSENT_WITHDRAWN"
    )


async def _require_live_consent(consent_id: int) -> None:
    """The consent a verification started under: neither withdrawn since, nor to a text that
    has changed since (the user accepts the current one first)."""
    row = await Consent.get_or_none(id=consent_id)
    if row is None or row.withdrawn_at is not None:
        raise _withdrawn()
    text = identity_consent()
    if row.text_version != text.version:
        raise _outdated(text)


async def _bind(
    rt: Runtime, user: User, consent_id: int, name: str, id_number: str, verify_id: str
) -> Subject:
    index = rt.cipher.blind_index(id_number, ID_NUMBER_FIELD)
    try:
        async with in_transaction():
            subject = await Subject.get_or_none(id_number_index=index)
            if subject is None:
                masked_name, name_enc = seal_person_name(rt.cipher, name)
                subject = await Subject.create(
                    kind=SubjectKind.PERSON,
                    name=masked_name,
                    name_enc=name_enc,
                    natural_key=f"id:{index}",
                    id_number_enc=rt.cipher.encrypt(id_number, ID_NUMBER_FIELD),
                    id_number_index=index,
                    region=id_number[:6],
                )
            if await IdentityBinding.exists(subject_id=subject.id):
                raise Conflict("该身份已绑定其他微信用户", code="IDENTITY_TAKEN")
            if await IdentityBinding.exists(user_id=user.id):
                raise Conflict("您已绑定实名身份", code="IDENTITY_ALREADY_BOUND")
            if not await Consent.exists(id=consent_id, withdrawn_at=None):
                raise _withdrawn()  # withdrawn while the face check ran
            await IdentityBinding.create(
                user_id=user.id,
                subject_id=subject.id,
                consent_id=consent_id,
                verify_id_hash=hashlib.sha256(verify_id.encode()).hexdigest(),
            )
    except IntegrityError as exc:  # a concurrent binding won the unique constraint
        raise Conflict("该身份或用户已完成绑定", code="IDENTITY_TAKEN") from exc
    return subject


# An erased person subject stays (incentive redemptions and the audit log refer to it) but holds
# nothing about the person any more: its name is credit.person_names.ERASED_NAME.


async def withdraw_identity(rt: Runtime, session: Session, *, channel: str) -> dict[str, Any]:
    """DELETE /me/identity: the consent is withdrawn (PIPL art. 15) and the user unbound. The
    binding row goes; the person's name and encrypted ID number go too unless the platform holds
    records about the person (then they are the platform's data, kept with those records: the
    consent text says so). Every session of the user loses the subject at once, the subject's
    cached views are dropped, and the audit log keeps that it happened (no ID number)."""
    text = identity_consent()
    now = datetime.now(UTC)
    async with in_transaction():
        binding = await IdentityBinding.get_or_none(user_id=session.user_id)
        # A conditional delete: of two withdrawals at once, one deletes and the other is told.
        if binding is None or not await IdentityBinding.filter(id=binding.id).delete():
            raise Conflict("您尚未绑定实名身份，无需撤回", code="IDENTITY_NOT_BOUND")
        accepted = await Consent.get(id=binding.consent_id)
        # Every consent of this purpose still open, including verifications started and not
        # finished: none can complete a binding any more.
        await Consent.filter(
            user_id=session.user_id, purpose=text.purpose, withdrawn_at=None
        ).update(withdrawn_at=now)
        erased = await _erase_person_unless_platform_data(binding.subject_id)
    await invalidate_subjects(rt.redis, rt.keys, {binding.subject_id})
    user = await User.get(id=session.user_id)
    await refresh_user_sessions(rt.redis, rt.keys, user.id, list(user.roles), None)
    await append_audit(
        rt.redis,
        rt.keys,
        AuditEvent(
            action="identity.withdraw",
            actor_kind="self",
            actor_role="citizen",
            purpose="撤回实名核验授权并解除绑定",
            channel=channel,
            actor_user_id=user.id,
            subject_id=binding.subject_id,
            detail={
                "consent_id": binding.consent_id,
                "consent_version": accepted.text_version,  # the text withdrawn from
                "personal_data_erased": erased,
            },
        ),
    )
    return {
        "identity_bound": False,
        "withdrawn_at": shanghai_iso(now),
        "records_kept": not erased,
    }


async def _erase_person_unless_platform_data(subject_id: int) -> bool:
    """Erase what only the binding brought: a person subject no record refers to. Its row stays
    (others may refer to it) with no name, ID number, blind index or region; its natural key no
    longer matches the ID, so a later import or binding of the same person starts afresh."""
    if await Record.exists(subject_id=subject_id):
        return False
    await Subject.filter(id=subject_id, kind=SubjectKind.PERSON).update(
        name=ERASED_NAME,
        name_enc=None,
        natural_key=f"erased:{subject_id}",
        id_number_enc=None,
        id_number_index=None,
        region=None,
    )
    return True
