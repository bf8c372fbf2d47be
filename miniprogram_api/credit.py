"""Credit lookups (API.md "Credit"): my own record, who read it, public enterprise lookup."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from credit import lookup, reads, self_read
from infra.errors import Conflict
from miniprogram_api.common import (
    bearer_token,
    channel,
    client_ip,
    json_body,
    json_bytes,
    require_session,
    runtime,
)
from miniprogram_api.openapi_schemas import (
    CURSOR,
    DATETIME,
    STR,
    api_doc,
    array,
    nullable,
    obj,
    page,
    path,
    query,
    ref,
)

bp = Blueprint("credit", url_prefix="/api/v1")


@bp.get("/me/credit")
@api_doc(
    "本人信用记录（五类信息、等级与原因，均已脱敏）",
    "credit",
    ref("CreditView"),
    secured=True,
    errors=(409, 429),
)
async def my_credit(request: Request) -> HTTPResponse:
    body = await self_read.read_own_credit(
        runtime(request), bearer_token(request), channel=channel(request)
    )
    return json_bytes(body)


@bp.get("/me/credit/queries")
@api_doc(
    "谁查询了我的信用记录",
    "credit",
    page(
        obj(
            {
                "at": DATETIME,
                "actor_kind": STR,
                "actor_org": nullable(STR),
                "purpose": STR,
                "channel": STR,
            }
        )
    ),
    secured=True,
    params=[CURSOR],
    errors=(409,),
)
async def my_credit_queries(request: Request) -> HTTPResponse:
    session = await require_session(request)
    if session.subject_id is None:
        raise Conflict("请先完成实名核验", code="IDENTITY_NOT_BOUND")
    page = await reads.reads_of_subject(
        runtime(request), session.subject_id, request.args.get("cursor")
    )
    return json_body(page)


@bp.get("/subjects")
@api_doc(
    "查询企业与个体工商户（不含自然人）",
    "credit",
    page(obj({"uscc": nullable(STR), "name": STR, "kind": STR}, {"region": STR})),
    params=[
        query("q", {"type": "string", "minLength": 1}, "名称或统一社会信用代码", required=True),
        CURSOR,
    ],
    errors=(429,),
)
async def search_subjects(request: Request) -> HTTPResponse:
    found = await lookup.search_public_subjects(
        runtime(request),
        request.args.get("q"),
        request.args.get("cursor"),
        client=client_ip(request),
    )
    return json_body(found)


@bp.get("/subjects/<uscc:str>")
@api_doc(
    "企业公开信用信息（仅公示中的记录）",
    "credit",
    {"allOf": [ref("CreditView"), obj({"repairs": array(obj({}))})]},
    params=[path("uscc", "统一社会信用代码")],
    errors=(429,),
)
async def public_subject(request: Request, uscc: str) -> HTTPResponse:
    body = await lookup.public_view_bytes(
        runtime(request), uscc, channel=channel(request), client=client_ip(request)
    )
    return json_bytes(body)
