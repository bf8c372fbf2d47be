"""The message centre, subscriptions (API.md "Messages") and WeChat's message push."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, text
from sanic_ext import openapi

from miniprogram_api.common import BEARER, json_body, parse_body, require_session, runtime
from scenarios import messages

bp = Blueprint("messages", url_prefix="/api/v1")
push = Blueprint("wechat_push")

TemplateId = Annotated[str, Field(min_length=1, max_length=128)]


class SubscriptionsBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    # what wx.requestSubscribeMessage's success callback gives, per template id
    results: Annotated[
        dict[TemplateId, Literal["accept", "reject", "ban", "filter"]],
        Field(min_length=1, max_length=20),
    ]


@bp.post("/me/subscriptions")
@openapi.definition(
    summary="上报订阅消息授权结果（wx.requestSubscribeMessage 的返回，每个模板一项）",
    body={"application/json": SubscriptionsBody.model_json_schema()},
    tag="messages",
    secured=BEARER,
)
async def report_subscriptions(request: Request) -> HTTPResponse:
    session = await require_session(request)
    body = parse_body(request, SubscriptionsBody)
    return json_body(await messages.report_subscriptions(session, dict(body.results)))


@bp.get("/me/subscriptions")
@openapi.definition(summary="各订阅消息模板的剩余可发送次数", tag="messages", secured=BEARER)
async def my_subscriptions(request: Request) -> HTTPResponse:
    session = await require_session(request)
    return json_body(await messages.subscriptions(session))


@bp.get("/me/messages")
@openapi.definition(
    summary="消息中心：全部通知（无论微信是否送达）及未读数", tag="messages", secured=BEARER
)
async def my_messages(request: Request) -> HTTPResponse:
    session = await require_session(request)
    return json_body(await messages.inbox(session, request.args.get("cursor")))


@bp.post("/me/messages/<message_id:str>/read")
@openapi.definition(summary="将一条消息标为已读", tag="messages", secured=BEARER)
async def read_message(request: Request, message_id: str) -> HTTPResponse:
    session = await require_session(request)
    return json_body(await messages.mark_read(session, message_id))


def _query(request: Request) -> dict[str, str]:
    return {name: values[0] for name, values in request.args.items() if values}


@push.get("/wechat/push")
@openapi.definition(summary="微信消息推送：服务器地址校验（返回 echostr）", tag="wechat")
async def push_check(request: Request) -> HTTPResponse:
    return text(messages.push_check(runtime(request), _query(request)))


@push.post("/wechat/push")
@openapi.definition(
    summary="微信消息推送：订阅消息事件（JSON 或 XML，明文或安全模式）", tag="wechat"
)
async def push_receive(request: Request) -> HTTPResponse:
    await messages.receive_push(runtime(request), _query(request), request.body or b"")
    return text("success")
