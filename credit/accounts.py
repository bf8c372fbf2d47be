"""WeChat login and logout: the user behind an openid, and a session that carries their roles
and bound identity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from credit.models import ID_NUMBER_FIELD, IdentityBinding
from infra.errors import ApiError, Forbidden, RateLimited, ServiceUnavailable, Unauthorized
from infra.models import User
from infra.runtime import Runtime
from infra.security import ratelimit
from infra.security.crypto import mask_id_number, mask_name
from infra.security.sessions import Session, create_session, revoke_session
from infra.wechat.client import WeChatError, WeChatUnavailable

DEFAULT_ROLES = ["citizen"]
CODE_INVALID_ERRCODES = {40029, 40163}
# code2Session: "40226 code blocked：高风险等级用户，小程序登录拦截". Logging in again cannot help,
# so it must not read as an invalid code (which the mini-program answers with a new wx.login).
HIGH_RISK_ERRCODE = 40226
QUOTA_ERRCODES = {45011}


@dataclass(frozen=True)
class LoginResult:
    token: str
    expires_in: int
    user: dict[str, Any]


async def wechat_login(rt: Runtime, code: str, client_ip: str) -> LoginResult:
    await ratelimit.enforce(rt.redis, rt.keys, "login", client_ip, rt.settings.rate_limits["login"])
    try:
        wx = await rt.wechat.code_to_session(code)
    except WeChatUnavailable as exc:
        raise ServiceUnavailable(
            "微信服务暂时不可用，请稍后再试", code="WECHAT_UNAVAILABLE", retry_after=exc.retry_after
        ) from exc
    except WeChatError as exc:
        if exc.errcode in QUOTA_ERRCODES:
            raise RateLimited(60, "微信登录请求过于频繁，请稍后再试") from exc
        if exc.errcode == HIGH_RISK_ERRCODE:
            raise Forbidden(
                "微信安全策略判定当前微信账号存在风险，暂时无法登录本小程序。"
                "重新进入小程序不能解决，请在微信中按安全提示处理后再试",
                code="WECHAT_USER_HIGH_RISK",
            ) from exc
        if exc.errcode in CODE_INVALID_ERRCODES:
            raise Unauthorized(
                "登录凭证无效或已使用，请重新进入小程序", code="WECHAT_CODE_INVALID"
            ) from exc
        raise ApiError("微信登录失败，请稍后再试", code="WECHAT_LOGIN_FAILED", status=502) from exc
    user = await _user_for_openid(wx.openid, wx.unionid)
    binding = await IdentityBinding.get_or_none(user_id=user.id)
    ttl = rt.settings.session_ttl_seconds
    token = await create_session(
        rt.redis,
        rt.keys,
        user_id=user.id,
        roles=list(user.roles),
        subject_id=binding.subject_id if binding else None,
        ttl_seconds=ttl,
    )  # WeChat's session_key is not kept: no feature decrypts user data with it (PIPL art. 6)
    return LoginResult(
        token=token,
        expires_in=ttl,
        user={"id": user.id, "roles": list(user.roles), "identity_bound": binding is not None},
    )


async def _user_for_openid(openid: str, unionid: str | None) -> User:
    now = datetime.now(UTC)
    user = await User.get_or_none(openid=openid)
    if user is None:
        try:
            user = await User.create(
                openid=openid, unionid=unionid, roles=list(DEFAULT_ROLES), last_login_at=now
            )
        except IntegrityError:  # the same user logging in twice at once
            user = await User.get(openid=openid)
        return user
    user.last_login_at = now
    if unionid and not user.unionid:
        user.unionid = unionid
    await user.save(update_fields=["last_login_at", "unionid"])
    return user


async def logout(rt: Runtime, session: Session) -> None:
    await revoke_session(rt.redis, rt.keys, session)


async def account(rt: Runtime, session: Session) -> dict[str, Any]:
    """The caller's user, roles and bound identity (masked), for GET /me."""
    user = await User.get(id=session.user_id)
    binding = await IdentityBinding.get_or_none(user_id=user.id).prefetch_related("subject")
    identity = None
    if binding is not None:
        subject = binding.subject
        id_number = rt.cipher.decrypt(subject.id_number_enc, ID_NUMBER_FIELD)
        identity = {
            "name_masked": mask_name(subject.name),
            "id_number_masked": mask_id_number(id_number),
        }
    return {
        "id": user.id,
        "roles": list(user.roles),
        "identity_bound": binding is not None,
        "identity": identity,
    }
