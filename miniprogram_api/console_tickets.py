"""扫码登录's mini-program side (API.md "Console"): an official logged in to the mini-program
with a console role confirms the one-time ticket whose QR code the console shows. The browser
that holds the ticket's secret then receives the console session (console/login.py)."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from infra.errors import Conflict, NotFound
from infra.security.console import confirm_ticket
from miniprogram_api.common import json_body, require_session, runtime
from miniprogram_api.openapi_schemas import api_doc, enum, obj, path

bp = Blueprint("console_confirm", url_prefix="/api/v1")


@bp.post("/console-tickets/<ticket_id:str>/confirm")
@api_doc(
    "确认工作台扫码登录（小程序内，工作人员角色；票据 2 分钟内有效、只能确认一次）",
    "console",
    obj({"status": enum("confirmed")}),
    secured=True,
    params=[path("ticket_id", "二维码中的票据编号（链接 …/console/scan/{id} 的最后一段）")],
    errors=(409,),
)
async def confirm(request: Request, ticket_id: str) -> HTTPResponse:
    rt = runtime(request)
    session = await require_session(request, *rt.settings.console_roles)
    answer = await confirm_ticket(rt.redis, rt.keys, ticket_id, session)
    if answer == "missing":
        raise NotFound("二维码已过期或无效，请在电脑上刷新后重新扫码", code="TICKET_NOT_FOUND")
    if answer != "ok":
        raise Conflict("该二维码已确认过，请在电脑上刷新后重新扫码", code="TICKET_USED")
    return json_body({"status": "confirmed"})
