"""Login, logout, the caller's profile, identity binding and its withdrawal (API.md "Login and
identity")."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty
from sanic_ext import openapi

from credit import accounts, identity
from miniprogram_api.common import (
    BEARER,
    channel,
    client_ip,
    json_body,
    parse_body,
    require_session,
    runtime,
)
from scenarios.profile import my_profile

bp = Blueprint("auth", url_prefix="/api/v1")


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    code: str = Field(min_length=1, max_length=128)


class VerifySessionBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=40)
    id_number: str = Field(min_length=1, max_length=32)
    consent: StrictBool
    # The version of the consent text the user read and accepted (GET /consents/identity).
    consent_version: str = Field(min_length=1, max_length=20)


class BindBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    verify_id: str = Field(min_length=1, max_length=256)


@bp.post("/auth/wechat-login")
@openapi.definition(
    summary="微信登录：wx.login 的 code 换取会话令牌",
    body={"application/json": LoginBody.model_json_schema()},
    tag="auth",
)
async def wechat_login(request: Request) -> HTTPResponse:
    body = parse_body(request, LoginBody)
    result = await accounts.wechat_login(runtime(request), body.code, client_ip(request))
    return json_body({"token": result.token, "expires_in": result.expires_in, "user": result.user})


@bp.post("/auth/logout")
@openapi.definition(summary="退出登录：令牌立即失效", tag="auth", secured=BEARER)
async def logout(request: Request) -> HTTPResponse:
    session = await require_session(request)
    await accounts.logout(runtime(request), session)
    return empty(status=204)


@bp.get("/me")
@openapi.definition(summary="当前用户", tag="auth", secured=BEARER)
async def me(request: Request) -> HTTPResponse:
    session = await require_session(request)
    return json_body(await my_profile(runtime(request), session))


@bp.post("/me/identity/verify-session")
@openapi.definition(
    summary="发起实名核验（须单独同意授权），返回 wx.requestFacialVerify 所需的 verify_id",
    body={"application/json": VerifySessionBody.model_json_schema()},
    tag="identity",
    secured=BEARER,
)
async def verify_session(request: Request) -> HTTPResponse:
    session = await require_session(request)
    body = parse_body(request, VerifySessionBody)
    verify_id = await identity.start_verification(
        runtime(request),
        session,
        name=body.name,
        id_number=body.id_number,
        consent=body.consent,
        consent_version=body.consent_version,
    )
    return json_body({"verify_id": verify_id})


@bp.post("/me/identity")
@openapi.definition(
    summary="人脸核身通过后绑定实名身份",
    body={"application/json": BindBody.model_json_schema()},
    tag="identity",
    secured=BEARER,
)
async def bind_identity(request: Request) -> HTTPResponse:
    session = await require_session(request)
    body = parse_body(request, BindBody)
    return json_body(await identity.complete_binding(runtime(request), session, body.verify_id))


@bp.delete("/me/identity")
@openapi.definition(
    summary="撤回实名核验授权并解除绑定（删除绑定及仅为绑定保存的加密身份信息）",
    tag="identity",
    secured=BEARER,
)
async def withdraw_identity(request: Request) -> HTTPResponse:
    session = await require_session(request)
    result = await identity.withdraw_identity(runtime(request), session, channel=channel(request))
    return json_body(result)


@bp.get("/consents/identity")
@openapi.definition(
    summary="实名核验与人脸识别授权书（当前版本；发起核验时须提交所同意的版本）", tag="identity"
)
async def identity_consent_text(request: Request) -> HTTPResponse:
    return json_body(identity.identity_consent().as_dict())
