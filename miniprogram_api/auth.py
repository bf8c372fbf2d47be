"""Login, logout, the caller's profile, identity binding and its withdrawal (API.md "Login and
identity")."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty

from credit import accounts, identity
from miniprogram_api.common import (
    channel,
    client_ip,
    json_body,
    parse_body,
    require_session,
    runtime,
)
from miniprogram_api.openapi_schemas import (
    BOOL,
    DATETIME,
    INT,
    STR,
    api_doc,
    array,
    nullable,
    obj,
)
from scenarios.profile import my_profile

bp = Blueprint("auth", url_prefix="/api/v1")

MASKED_IDENTITY = obj({"name_masked": STR, "id_number_masked": STR})
PROFILE = obj(
    {
        "id": INT,
        "roles": array(STR),
        "identity_bound": BOOL,
        "identity": nullable(MASKED_IDENTITY),
        "merchants": array(obj({"id": INT, "name": STR, "code": nullable(STR)}, {"status": STR})),
        "venues": array(obj({"id": STR, "name": STR})),
    }
)


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
@api_doc(
    "微信登录：wx.login 的 code 换取会话令牌",
    "auth",
    obj(
        {
            "token": STR,
            "expires_in": INT,
            "user": obj({"id": INT, "roles": array(STR), "identity_bound": BOOL}),
        }
    ),
    body=LoginBody,
    errors=(401, 429),
)
async def wechat_login(request: Request) -> HTTPResponse:
    body = parse_body(request, LoginBody)
    result = await accounts.wechat_login(runtime(request), body.code, client_ip(request))
    return json_body({"token": result.token, "expires_in": result.expires_in, "user": result.user})


@bp.post("/auth/logout")
@api_doc("退出登录：令牌立即失效", "auth", None, status=204, secured=True)
async def logout(request: Request) -> HTTPResponse:
    session = await require_session(request)
    await accounts.logout(runtime(request), session)
    return empty(status=204)


@bp.get("/me")
@api_doc("当前用户", "auth", PROFILE, secured=True)
async def me(request: Request) -> HTTPResponse:
    session = await require_session(request)
    return json_body(await my_profile(runtime(request), session))


@bp.post("/me/identity/verify-session")
@api_doc(
    "发起实名核验（须单独同意授权），返回 wx.requestFacialVerify 所需的 verify_id",
    "identity",
    obj({"verify_id": STR}),
    body=VerifySessionBody,
    secured=True,
    errors=(409, 429),
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
@api_doc(
    "人脸核身通过后绑定实名身份",
    "identity",
    MASKED_IDENTITY,
    body=BindBody,
    secured=True,
    errors=(404, 409),
)
async def bind_identity(request: Request) -> HTTPResponse:
    session = await require_session(request)
    body = parse_body(request, BindBody)
    return json_body(await identity.complete_binding(runtime(request), session, body.verify_id))


@bp.delete("/me/identity")
@api_doc(
    "撤回实名核验授权并解除绑定（删除绑定及仅为绑定保存的加密身份信息）",
    "identity",
    obj({"identity_bound": BOOL, "withdrawn_at": DATETIME, "records_kept": BOOL}),
    secured=True,
    errors=(409,),
)
async def withdraw_identity(request: Request) -> HTTPResponse:
    session = await require_session(request)
    result = await identity.withdraw_identity(runtime(request), session, channel=channel(request))
    return json_body(result)


@bp.get("/consents/identity")
@api_doc(
    "实名核验与人脸识别授权书（当前版本；发起核验时须提交所同意的版本）",
    "identity",
    obj(
        {
            "purpose": STR,
            "version": STR,
            "title": STR,
            "sections": array(obj({"key": STR, "heading": STR, "body": STR})),
            "text": STR,
            "text_hash": STR,
        }
    ),
)
async def identity_consent_text(request: Request) -> HTTPResponse:
    return json_body(identity.identity_consent().as_dict())
