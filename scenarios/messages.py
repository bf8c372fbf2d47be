"""The message centre and WeChat subscriptions (issue 11 items 2-4; API.md "Messages"):
what the user accepted in `wx.requestSubscribeMessage`, every notification they were sent with
its WeChat delivery state, and WeChat's message push. The rules live in infra/notifications.py
and config/messages.toml; this module is the user's (and WeChat's) door to them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from credit.calendar_dates import shanghai_iso
from infra import notifications
from infra.errors import Invalid, NotFound
from infra.models import OutboxMessage, User
from infra.pagination import page
from infra.params import cursor_id, path_id
from infra.runtime import Runtime
from infra.security.sessions import Session
from infra.wechat.push import PushSettings, echo, read_push

PAGE_SIZE = 20
UNKNOWN = ("消息不存在", "MESSAGE_NOT_FOUND")
# outbox status -> (delivery state shown, its label)
DELIVERY: dict[str, tuple[str, str]] = {
    "pending": ("queued", "微信通知发送中"),
    "sending": ("queued", "微信通知发送中"),
    "unconfirmed": ("queued", "微信通知发送中"),
    "sent": ("sent", "已通过微信服务通知发送"),
    "waiting": ("waiting_for_subscription", "未订阅此类通知，订阅后将通过微信发送"),
    "refused": ("refused", "您已拒收此类微信通知，可在消息中心查看"),
    "failed": ("failed", "微信通知发送失败，可在消息中心查看"),
    "expired": ("expired", "订阅前已超过时效，未发送微信通知"),
}


async def report_subscriptions(session: Session, results: dict[str, str]) -> dict[str, Any]:
    """The mini-program's report of `wx.requestSubscribeMessage`: per template id what the user
    answered. Template ids this service does not use are refused (the mini-program asked for
    them by mistake)."""
    rules = notifications.default_rules()
    unknown = sorted(t for t in results if rules.by_id(t) is None)
    if unknown:
        raise Invalid(
            "订阅的消息模板不存在",
            fields={f"results.{t}": "不是本小程序使用的订阅消息模板" for t in unknown},
        )
    openid = await _openid(session.user_id)
    await notifications.record_results(openid, results, source="client", rules=rules)
    return await subscriptions(session)


async def subscriptions(session: Session) -> dict[str, Any]:
    """Per template the service uses: its key, whether it is long-term and the sends left."""
    rules = notifications.default_rules()
    credits = await notifications.credits_of(await _openid(session.user_id))
    return {
        "items": [
            {
                "template": template.key,
                "template_id": template.template_id,
                "long_term": template.long_term,
                "credits": credits.get(template.template_id, 0),
            }
            for template in rules.templates.values()
        ]
    }


async def inbox(session: Session, cursor: str | None) -> dict[str, Any]:
    """Newest first; `unread` counts all of the user's unread messages (the badge)."""
    query = OutboxMessage.filter(user_id=session.user_id)
    after = cursor_id(cursor)
    if after is not None:
        query = query.filter(id__lt=after)
    rows = await query.order_by("-id").limit(PAGE_SIZE + 1)
    shaped = page(rows, PAGE_SIZE, _message_json)
    shaped["unread"] = await _unread(session.user_id)
    return shaped


async def mark_read(session: Session, message_id: str) -> dict[str, Any]:
    """Someone else's message is "not found", so ids reveal nothing."""
    found = await OutboxMessage.get_or_none(
        id=path_id(message_id, *UNKNOWN), user_id=session.user_id
    )
    if found is None:
        raise NotFound(UNKNOWN[0], code=UNKNOWN[1])
    await OutboxMessage.filter(id=found.id, read_at=None).update(read_at=datetime.now(UTC))
    await found.refresh_from_db()
    return _message_json(found) | {"unread": await _unread(session.user_id)}


async def _unread(user_id: int) -> int:
    return await OutboxMessage.filter(user_id=user_id, read_at=None).count()


def _message_json(message: OutboxMessage) -> dict[str, Any]:
    delivery, label = DELIVERY.get(message.status, ("queued", DELIVERY["pending"][1]))
    return {
        "id": message.id,
        "template": message.template_key,
        "title": message.title,
        "content": message.content,
        "page": message.page,
        "created_at": shanghai_iso(message.created_at),
        "read": message.read_at is not None,
        "read_at": shanghai_iso(message.read_at),
        "delivery": delivery,
        "delivery_label": label,
        "sent_at": shanghai_iso(message.sent_at),
    }


async def _openid(user_id: int) -> str:
    return (await User.get(id=user_id).only("id", "openid")).openid


# -- WeChat's message push ------------------------------------------------------------------------


def _push_settings(rt: Runtime) -> PushSettings:
    token = rt.settings.wechat_push_token
    if not token:  # resolve_keys fills it; production refuses to start without it
        raise NotFound("未配置消息推送", code="PUSH_NOT_CONFIGURED")
    return PushSettings(token, rt.settings.wechat_push_aes_key, rt.settings.wechat_appid)


def push_check(rt: Runtime, query: dict[str, str]) -> str:
    """GET /wechat/push: the console's server-URL check."""
    return echo(_push_settings(rt), query)


async def receive_push(rt: Runtime, query: dict[str, str], body: bytes) -> None:
    """POST /wechat/push: verified, decrypted, acted on once (replays are ignored)."""
    message = read_push(_push_settings(rt), query, body)
    await notifications.handle_push(message)
