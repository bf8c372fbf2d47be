"""WeChat login and logout: the user behind an openid, and a session that carries their roles
and bound identity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from credit.models import ID_NUMBER_FIELD, IdentityBinding
from infra.audit import AuditEvent
from infra.audit import append as append_audit
from infra.errors import (
    ApiError,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
)
from infra.models import User
from infra.runtime import Runtime
from infra.security import ratelimit
from infra.security.crypto import mask_id_number, mask_name
from infra.security.sessions import (
    Session,
    create_session,
    refresh_user_sessions,
    revoke_session,
)
from infra.wechat.client import WeChatError, WeChatUnavailable

DEFAULT_ROLES = ["citizen"]
# Roles an admin grants or takes away by hand. The others follow from a fact: venue_staff from a
# venue assignment (scenarios/incentives/staff.py), merchant from an approved shop.
ASSIGNABLE_ROLES = ("reviewer", "admin")
ADMIN_ROLE = "admin"
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


async def user_roles(user_id: int) -> dict[str, Any]:
    """Admin: a user's roles (no personal data: ids and roles only)."""
    user = await User.get_or_none(id=user_id)
    if user is None:
        raise NotFound("用户不存在", code="USER_NOT_FOUND")
    return {"id": user.id, "roles": list(user.roles), "assignable": list(ASSIGNABLE_ROLES)}


async def change_role(
    rt: Runtime, session: Session, user_id: int, role: str, *, grant: bool, channel: str
) -> dict[str, Any]:
    """Admin: grant or take away a reviewer or admin role. Every live session of the user sees
    it at once; an admin cannot take their own admin role (someone must keep it); audited."""
    if role not in ASSIGNABLE_ROLES:
        raise Invalid("该角色不能手动分配", fields={"role": "可选：" + "、".join(ASSIGNABLE_ROLES)})
    if not grant and role == ADMIN_ROLE and user_id == session.user_id:
        raise Conflict("不能取消自己的管理员角色", code="OWN_ADMIN_ROLE")
    user = await User.get_or_none(id=user_id)
    if user is None:
        raise NotFound("用户不存在", code="USER_NOT_FOUND")
    roles = [r for r in user.roles if r != role] + ([role] if grant else [])
    if roles != list(user.roles):
        user.roles = roles
        await user.save(update_fields=["roles"])
        binding = await IdentityBinding.get_or_none(user_id=user.id)
        await refresh_user_sessions(
            rt.redis, rt.keys, user.id, roles, binding.subject_id if binding else None
        )
        await append_audit(
            rt.redis,
            rt.keys,
            AuditEvent(
                action="user.role_granted" if grant else "user.role_removed",
                actor_kind="staff",
                actor_role=ADMIN_ROLE,
                purpose="用户角色管理",
                channel=channel,
                actor_user_id=session.user_id,
                detail={"user_id": user.id, "role": role},
            ),
        )
    return await user_roles(user.id)
