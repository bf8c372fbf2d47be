"""The message centre, subscriptions (API.md "Messages") and WeChat's message push."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, text

from miniprogram_api.common import json_body, parse_body, require_session, runtime
from miniprogram_api.openapi_schemas import (
    ANY_OBJECT,
    BOOL,
    CURSOR,
    INT,
    STR,
    api_doc,
    array,
    enum,
    obj,
    page,
    path,
    query,
    ref,
)
from scenarios import messages

SUBSCRIPTIONS = obj(
    {"items": array(obj({"template": STR, "template_id": STR, "long_term": BOOL, "credits": INT}))}
)
# WeChat signs every push: signature = SHA-1 of the sorted token, timestamp and nonce.
PUSH_SIGNATURE = [
    query("signature", STR, "微信的签名"),
    query("timestamp", STR, "时间戳"),
    query("nonce", STR, "随机数"),
]

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
@api_doc(
    "上报订阅消息授权结果（wx.requestSubscribeMessage 的返回，每个模板一项）",
    "messages",
    SUBSCRIPTIONS,
    body=SubscriptionsBody,
    secured=True,
)
async def report_subscriptions(request: Request) -> HTTPResponse:
    session = await require_session(request)
    body = parse_body(request, SubscriptionsBody)
    return json_body(await messages.report_subscriptions(session, dict(body.results)))


@bp.get("/me/subscriptions")
@api_doc("各订阅消息模板的剩余可发送次数", "messages", SUBSCRIPTIONS, secured=True)
async def my_subscriptions(request: Request) -> HTTPResponse:
    session = await require_session(request)
    return json_body(await messages.subscriptions(session))


@bp.get("/me/messages")
@api_doc(
    "消息中心：全部通知（无论微信是否送达）及未读数",
    "messages",
    page(ref("Message"), unread=INT),
    secured=True,
    params=[CURSOR],
)
async def my_messages(request: Request) -> HTTPResponse:
    session = await require_session(request)
    return json_body(await messages.inbox(session, request.args.get("cursor")))


@bp.post("/me/messages/<message_id:str>/read")
@api_doc(
    "将一条消息标为已读",
    "messages",
    {"allOf": [ref("Message"), obj({"unread": INT})]},
    secured=True,
    params=[path("message_id", "消息编号")],
)
async def read_message(request: Request, message_id: str) -> HTTPResponse:
    session = await require_session(request)
    return json_body(await messages.mark_read(session, message_id))


def _query(request: Request) -> dict[str, str]:
    return {name: values[0] for name, values in request.args.items() if values}


@push.get("/wechat/push")
@api_doc(
    "微信消息推送：服务器地址校验（返回 echostr）",
    "wechat",
    STR,
    content_type="text/plain",
    params=[*PUSH_SIGNATURE, query("echostr", STR, "原样返回的随机字符串")],
    errors=(400, 403),
)
async def push_check(request: Request) -> HTTPResponse:
    return text(messages.push_check(runtime(request), _query(request)))


@push.post("/wechat/push")
@api_doc(
    "微信消息推送：订阅消息事件（JSON 或 XML，明文或安全模式）",
    "wechat",
    enum("success"),
    content_type="text/plain",
    raw_body={"application/json": ANY_OBJECT, "text/xml": STR},
    params=[
        *PUSH_SIGNATURE,
        query("encrypt_type", enum("aes"), "安全模式"),
        query("msg_signature", STR, "安全模式的消息签名"),
    ],
    errors=(403,),
)
async def push_receive(request: Request) -> HTTPResponse:
    await messages.receive_push(runtime(request), _query(request), request.body or b"")
    return text("success")
