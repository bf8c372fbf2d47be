"""Credit lookups (API.md "Credit"): my own record, who read it, public enterprise lookup."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic_ext import openapi

from credit import lookup
from miniprogram_api.common import (
    bearer_token,
    channel,
    client_ip,
    json_body,
    json_bytes,
    require_session,
    runtime,
)
from server import audit
from server.errors import Conflict
from server.security import ratelimit

bp = Blueprint("credit", url_prefix="/api/v1")


@bp.get("/me/credit")
@openapi.definition(
    summary="本人信用记录（五类信息、等级与原因，均已脱敏）", tag="credit", secured="token"
)
async def my_credit(request: Request) -> HTTPResponse:
    read = await runtime(request).own_view_reader.read(
        bearer_token(request), channel=channel(request)
    )
    if read.session.subject_id is None:
        raise Conflict("请先完成实名核验，再查询本人信用", code="IDENTITY_NOT_BOUND")
    if read.cached_view is not None:
        return json_bytes(read.cached_view)
    rt = runtime(request)
    body = await lookup.cached_view_bytes(
        rt.redis, rt.keys, rt.cipher, read.session.subject_id, "self", known_missing=True
    )
    return json_bytes(body)


@bp.get("/me/credit/queries")
@openapi.definition(summary="谁查询了我的信用记录", tag="credit", secured="token")
async def my_credit_queries(request: Request) -> HTTPResponse:
    session = await require_session(request)
    if session.subject_id is None:
        raise Conflict("请先完成实名核验", code="IDENTITY_NOT_BOUND")
    rt = runtime(request)
    page = await audit.reads_of_subject(
        rt.redis, rt.keys, session.subject_id, request.args.get("cursor")
    )
    return json_body(page)


@bp.get("/subjects")
@openapi.definition(summary="查询企业与个体工商户（不含自然人）", tag="credit")
@openapi.parameter("q", str, "query", required=True, description="名称或统一社会信用代码")
async def search_subjects(request: Request) -> HTTPResponse:
    rt = runtime(request)
    await ratelimit.enforce(
        rt.redis,
        rt.keys,
        "public_search",
        client_ip(request),
        rt.settings.rate_limits["public_search"],
    )
    return json_body(
        await lookup.search_public_subjects(request.args.get("q"), request.args.get("cursor"))
    )


@bp.get("/subjects/<uscc:str>")
@openapi.definition(summary="企业公开信用信息（仅公示中的记录）", tag="credit")
async def public_subject(request: Request, uscc: str) -> HTTPResponse:
    rt = runtime(request)
    await ratelimit.enforce(
        rt.redis,
        rt.keys,
        "public_search",
        client_ip(request),
        rt.settings.rate_limits["public_search"],
    )
    subject_id = await lookup.public_subject_id(uscc)
    await audit.append(
        rt.redis,
        rt.keys,
        audit.AuditEvent(
            action="credit.read", actor_kind="public", actor_role="public",
            purpose="公开查询", channel=channel(request), subject_id=subject_id,
        ),
    )  # fmt: skip
    body = await lookup.cached_view_bytes(rt.redis, rt.keys, rt.cipher, subject_id, "public")
    return json_bytes(body)
