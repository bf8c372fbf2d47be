"""Notifications: the user's message centre and WeChat subscribe messages through an outbox
(issue 11 items 2-5; templates and delivery rules in config/messages.toml).

A notification is one `OutboxMessage` row, written in the transaction of the change it reports.
It is the user's message-centre entry whatever WeChat does, and the outbox entry of its
subscribe message. WeChat counts what it accepts: a one-time template (一次性订阅) takes one
message per acceptance the user gave in `wx.requestSubscribeMessage`, so the service keeps a
credit per user and template (`SubscriptionCredit`) and only calls WeChat while one is left;
a long-term template (长期订阅) takes any number once accepted, until the user turns it off.

`deliver_due` claims due messages with an atomic conditional UPDATE (safe across workers and on
SQLite, where SELECT … FOR UPDATE does nothing); a claim is a lease, so a worker killed mid-send
leaves the message to be claimed again. Outcomes (sendMessage docs, errcode table:
https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html):

- no credit, or 43101 (WeChat has none: the count was wrong, it is set to 0): the message waits
  (`waiting`, or `refused` when the user's last answer for the template was not "accept") and is
  sent when a credit arrives, while it is still relevant (`[delivery] wait_days`), else `expired`;
- 40003, 40037, 47003, 41030: the request itself is wrong, retrying cannot help: `failed` at
  once, logged with the template key, and the credit given back (WeChat did not take it);
- -1, HTTP 5xx, network errors: retried with backoff, up to `[delivery] max_attempts`;
- a timeout: WeChat may have taken it. The message is `unconfirmed` until WeChat's
  `subscribe_msg_sent_event` for that user and template says it was sent, or until
  `[delivery] reconcile_seconds` pass without one: only then is it sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from infra.models import (
    OutboxMessage,
    SubscriptionCredit,
    SubscriptionGrant,
    User,
    WeChatPushReceipt,
)
from infra.settings import read_config
from infra.wechat.client import WeChatClient, WeChatError, WeChatTimeout

log = logging.getLogger(__name__)

NO_SUBSCRIPTION = 43101
# The request is wrong: openid, template id, a value, the page. Never retried.
PERMANENT_ERRCODES = frozenset({40003, 40037, 47003, 41030})
RESULTS = ("accept", "reject", "ban", "filter")  # wx.requestSubscribeMessage, per template
LEASE = timedelta(seconds=60)
DUE = ("pending", "unconfirmed")
PARKED = ("waiting", "refused")
# Template value limits by keyword type (sendMessage docs, 参数值限制), in characters.
FIELD_LIMITS = {
    "thing": 20, "name": 10, "phrase": 5, "character_string": 32, "number": 32,
    "letter": 32, "symbol": 5, "car_number": 8,
}  # fmt: skip


@dataclass(frozen=True)
class Template:
    """A subscribe-message template of config/messages.toml."""

    key: str
    template_id: str
    long_term: bool
    page: str
    fields: dict[str, str]  # what the service fills in -> the template's keyword


@dataclass(frozen=True)
class MessageRules:
    templates: dict[str, Template]
    pages: tuple[str, ...]
    wait: timedelta
    pair_window: timedelta
    reconcile: timedelta
    max_attempts: int

    def template(self, key: str) -> Template:
        return self.templates[key]

    def by_id(self, template_id: str) -> Template | None:
        for template in self.templates.values():
            if template.template_id == template_id:
                return template
        return None

    @classmethod
    def load(cls, path: Path | None = None) -> MessageRules:
        raw = read_config("messages.toml", path)
        delivery = raw["delivery"]
        pages = tuple(raw["miniprogram"]["pages"])
        templates = {
            key: Template(
                key=key,
                template_id=str(spec["template_id"]),
                long_term=bool(spec.get("long_term", False)),
                page=str(spec["page"]),
                fields=dict(spec["fields"]),
            )
            for key, spec in raw["templates"].items()
        }
        for template in templates.values():
            if template.page not in pages:
                raise ValueError(
                    f"config/messages.toml: 模板 {template.key} 的页面 {template.page} "
                    "不在 [miniprogram] pages 中（微信会返回 41030）"
                )
            unknown = [k for k in template.fields.values() if _keyword_type(k) is None]
            if unknown:
                raise ValueError(f"config/messages.toml: 模板 {template.key} 的字段 {unknown} 无效")
        return cls(
            templates=templates,
            pages=pages,
            wait=timedelta(days=int(delivery["wait_days"])),
            pair_window=timedelta(seconds=int(delivery["pair_window_seconds"])),
            reconcile=timedelta(seconds=int(delivery["reconcile_seconds"])),
            max_attempts=int(delivery["max_attempts"]),
        )


KEYWORD_TYPES = (*FIELD_LIMITS, "time", "date", "amount", "phone_number", "enum")


def _keyword_type(keyword: str) -> str | None:
    prefix = keyword.rstrip("0123456789")
    return prefix if prefix in KEYWORD_TYPES and prefix != keyword else None


@lru_cache(maxsize=1)
def default_rules() -> MessageRules:
    return MessageRules.load()


def fit_value(key: str, value: str) -> str:
    """Cut a template value to its type's limit (a `thing` over 20 characters is refused)."""
    prefix = key.rstrip("0123456789")
    limit = FIELD_LIMITS.get(prefix)
    if limit is None or len(value) <= limit:
        return value
    return value[: limit - 1] + "…" if limit > 5 else value[:limit]


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


# -- writing notifications ----------------------------------------------------------------------


async def notify(
    user_id: int,
    template_key: str,
    values: dict[str, str],
    *,
    title: str,
    content: str,
    page_query: str = "",
    dedupe_key: str | None = None,
    rules: MessageRules | None = None,
) -> OutboxMessage | None:
    """A notification to a user: `values` by the template's field names (config). Call inside
    the transaction that makes the change it reports. With `dedupe_key`, a second notification
    under the same key is not made (None); call that one outside a transaction."""
    rules = rules or default_rules()
    template = rules.template(template_key)
    user = await User.get(id=user_id).only("id", "openid")
    data = {template.fields[name]: value for name, value in values.items()}
    page = f"{template.page}?{page_query}" if page_query else template.page
    try:
        return await enqueue(
            user.openid, template, data, page=page, user_id=user_id, title=title,
            content=content, dedupe_key=dedupe_key, rules=rules,
        )  # fmt: skip
    except IntegrityError:
        if dedupe_key is None:
            raise
        return None


async def enqueue(
    openid: str,
    template: Template,
    data: dict[str, str],
    *,
    page: str | None = None,
    user_id: int | None = None,
    title: str | None = None,
    content: str | None = None,
    dedupe_key: str | None = None,
    rules: MessageRules | None = None,
) -> OutboxMessage:
    rules = rules or default_rules()
    now = datetime.now(UTC)
    return await OutboxMessage.create(
        openid=openid,
        user_id=user_id,
        template_key=template.key,
        template_id=template.template_id,
        page=page,
        data={key: fit_value(key, str(value)) for key, value in data.items()},
        title=title[:100] if title else None,
        content=content[:500] if content else None,
        next_attempt_at=now,
        relevant_until=now + rules.wait,
        dedupe_key=dedupe_key,
    )


# -- subscription credits -------------------------------------------------------------------------


async def record_results(
    openid: str,
    results: dict[str, str],
    *,
    source: str,
    rules: MessageRules | None = None,
) -> dict[str, int]:
    """What the user answered per template id (`source`: "client", the mini-program's report
    of wx.requestSubscribeMessage, or "push", WeChat's subscribe_msg_popup_event). An
    acceptance gives a credit, unless the other source already reported the same tap within
    `[delivery] pair_window_seconds`. Templates this service does not use are ignored. Returns
    the credits per template afterwards."""
    rules = rules or default_rules()
    now = datetime.now(UTC)
    credits: dict[str, int] = {}
    for template_id, result in results.items():
        template = rules.by_id(template_id)
        if template is None or result not in RESULTS:
            continue
        row = await _credit_row(openid, template_id)
        if result == "accept":
            if not await _pairs_with_other_report(openid, template_id, source, now, rules):
                increment: Any = 1 if template.long_term else F("credits") + 1
                await SubscriptionCredit.filter(id=row.id).update(
                    credits=increment, last_result=result
                )
                await _wake(openid, template_id, now)
            else:
                await SubscriptionCredit.filter(id=row.id).update(last_result=result)
        else:
            await SubscriptionCredit.filter(id=row.id).update(last_result=result)
        credits[template_id] = (await SubscriptionCredit.get(id=row.id)).credits
    return credits


async def turn_off(openid: str, template_id: str) -> None:
    """The user refused the template in WeChat's settings (subscribe_msg_change_event): its
    credits are gone, and messages waiting for it say so."""
    row = await _credit_row(openid, template_id)
    await SubscriptionCredit.filter(id=row.id).update(credits=0, last_result="reject")
    await OutboxMessage.filter(openid=openid, template_id=template_id, status="waiting").update(
        status="refused"
    )


async def credits_of(openid: str) -> dict[str, int]:
    rows = await SubscriptionCredit.filter(openid=openid)
    return {row.template_id: row.credits for row in rows}


async def _credit_row(openid: str, template_id: str) -> SubscriptionCredit:
    row = await SubscriptionCredit.get_or_none(openid=openid, template_id=template_id)
    if row is not None:
        return row
    try:
        return await SubscriptionCredit.create(openid=openid, template_id=template_id)
    except IntegrityError:  # a concurrent first report made it
        return await SubscriptionCredit.get(openid=openid, template_id=template_id)


async def _pairs_with_other_report(
    openid: str, template_id: str, source: str, now: datetime, rules: MessageRules
) -> bool:
    """Records this acceptance; True when it is the other source's report of one already
    counted. Two reports racing each other may both count: a credit too many is corrected by
    WeChat's 43101 (the count is then set to 0), a credit too few would lose a message."""
    other = "push" if source == "client" else "client"
    grant = await SubscriptionGrant.create(
        openid=openid, template_id=template_id, source=source, at=now
    )
    match = (
        await SubscriptionGrant.filter(
            openid=openid, template_id=template_id, source=other, paired_with=None,
            at__gte=now - rules.pair_window,
        )
        .order_by("at", "id")
        .first()
    )  # fmt: skip
    if match is None:
        return False
    if await SubscriptionGrant.filter(id=match.id, paired_with=None).update(paired_with=grant.id):
        await SubscriptionGrant.filter(id=grant.id).update(paired_with=match.id)
        return True
    return False


async def _wake(openid: str, template_id: str, now: datetime) -> None:
    """A credit arrived: the messages waiting for it are due again, while still relevant."""
    await OutboxMessage.filter(
        openid=openid, template_id=template_id, status__in=PARKED, relevant_until__gt=now
    ).update(status="pending", next_attempt_at=now)


async def _take_credit(openid: str, template: Template) -> bool:
    if template.long_term:
        return await SubscriptionCredit.exists(
            openid=openid, template_id=template.template_id, credits__gt=0
        )
    taken = await SubscriptionCredit.filter(
        openid=openid, template_id=template.template_id, credits__gt=0
    ).update(credits=F("credits") - 1)
    return taken == 1


async def _give_back_credit(openid: str, template: Template) -> None:
    """WeChat did not take the message, so the user's acceptance is still unused."""
    if not template.long_term:
        await SubscriptionCredit.filter(
            openid=openid, template_id=template.template_id, last_result="accept"
        ).update(credits=F("credits") + 1)


# -- delivery -----------------------------------------------------------------------------------


def _due(now: datetime) -> Q:
    return Q(status__in=DUE, next_attempt_at__lte=now) | Q(status="sending", claimed_until__lt=now)


async def _claim(message_id: int, now: datetime) -> bool:
    claimed = await OutboxMessage.filter(Q(id=message_id) & _due(now)).update(
        status="sending", claimed_until=now + LEASE
    )
    return claimed == 1


async def deliver_due(
    wechat: WeChatClient, *, limit: int = 50, rules: MessageRules | None = None
) -> int:
    """Send what is due; returns how many were sent."""
    rules = rules or default_rules()
    now = datetime.now(UTC)
    candidates = await OutboxMessage.filter(_due(now)).order_by("id").limit(limit)
    sent = 0
    for candidate in candidates:
        if not await _claim(candidate.id, now):
            continue  # another worker has it
        message = await OutboxMessage.get(id=candidate.id)
        sent += await _deliver(wechat, message, rules)
    return sent


def _template_of(message: OutboxMessage, rules: MessageRules) -> Template:
    known = rules.by_id(message.template_id)
    if known is not None:
        return known
    # A template no longer in config (rows from before it changed): one-time, to be safe.
    return Template(
        key=message.template_key or "?", template_id=message.template_id, long_term=False,
        page=message.page or "", fields={},
    )  # fmt: skip


async def _finish(message: OutboxMessage, **values: Any) -> None:
    await OutboxMessage.filter(id=message.id, status="sending").update(claimed_until=None, **values)


async def _deliver(wechat: WeChatClient, message: OutboxMessage, rules: MessageRules) -> int:
    now = datetime.now(UTC)
    template = _template_of(message, rules)
    if not message.credit_held:
        if message.relevant_until is not None and message.relevant_until <= now:
            await _finish(message, status="expired")
            return 0
        async with in_transaction():  # a credit taken is a credit held, or neither
            taken = await _take_credit(message.openid, template)
            if taken:
                await OutboxMessage.filter(id=message.id).update(credit_held=True)
        if not taken:
            await _park(message)
            return 0
    attempts = message.attempts + 1
    try:
        msgid = await wechat.send_subscribe_message(
            openid=message.openid, template_id=message.template_id,
            data=message.data, page=message.page,
        )  # fmt: skip
    except WeChatTimeout:
        # WeChat may have taken it: wait for its subscribe_msg_sent_event before sending again.
        log.warning("outbox message %s (%s): timed out, awaiting WeChat's report", message.id,
                    template.key)  # fmt: skip
        await _finish(
            message, status="unconfirmed", attempts=attempts, last_error="timeout",
            next_attempt_at=now + rules.reconcile,
        )  # fmt: skip
        return 0
    except WeChatError as exc:
        await _failed_send(message, template, exc, attempts, rules)
        return 0
    await _finish(
        message, status="sent", attempts=attempts, sent_at=datetime.now(UTC), credit_held=False,
        last_error=None, wechat_msgid=msgid,
    )  # fmt: skip
    return 1


async def _failed_send(
    message: OutboxMessage, template: Template, exc: WeChatError, attempts: int, rules: MessageRules
) -> None:
    error = f"{exc.errcode} {exc.errmsg}"[:200]
    if exc.errcode == NO_SUBSCRIPTION:
        # WeChat holds no acceptance for it: our count was wrong. Wait for a new one.
        await SubscriptionCredit.filter(
            openid=message.openid, template_id=message.template_id
        ).update(credits=0)
        log.info("outbox message %s (%s): 43101, waits for a subscription", message.id,
                 template.key)  # fmt: skip
        await _finish(message, status="waiting", attempts=attempts, last_error=error,
                      credit_held=False)  # fmt: skip
        return
    if exc.errcode in PERMANENT_ERRCODES or attempts >= rules.max_attempts:
        why = "refused for good" if exc.errcode in PERMANENT_ERRCODES else "gave up"
        log.error("outbox message %s: template %s (%s) %s after %d attempt(s): %s", message.id,
                  template.key, message.template_id, why, attempts, error)  # fmt: skip
        await _give_back_credit(message.openid, template)
        await _finish(message, status="failed", attempts=attempts, last_error=error,
                      credit_held=False)  # fmt: skip
        return
    log.info("outbox message %s (%s): %s, retried later", message.id, template.key, error)
    await _finish(message, status="pending", attempts=attempts, last_error=error,
                  next_attempt_at=datetime.now(UTC) + backoff(attempts))  # fmt: skip


async def _park(message: OutboxMessage) -> None:
    credit = await SubscriptionCredit.get_or_none(
        openid=message.openid, template_id=message.template_id
    )
    refused = credit is not None and credit.last_result not in (None, "accept")
    await _finish(message, status="refused" if refused else "waiting")


# -- WeChat's reports -----------------------------------------------------------------------------


async def record_sent(
    openid: str, template_id: str, msgid: str, errcode: int, status_text: str
) -> bool:
    """subscribe_msg_sent_event: the delivery result on the outbox row, found by its msgid or,
    for a send that timed out (no msgid known), as the oldest unconfirmed one of that user and
    template. False when no row matches."""
    row = await OutboxMessage.filter(wechat_msgid=msgid).first()
    if row is None:
        row = (
            await OutboxMessage.filter(openid=openid, template_id=template_id, status="unconfirmed")
            .order_by("id")
            .first()
        )
    if row is None:
        log.info("subscribe_msg_sent_event for msgid %s matches no outbox message", msgid)
        return False
    values: dict[str, Any] = {
        "wechat_msgid": msgid,
        "delivery_result": f"{errcode} {status_text}"[:100],
        "credit_held": False,
        "claimed_until": None,
    }
    if errcode == 0:
        values.update(status="sent", sent_at=row.sent_at or datetime.now(UTC), last_error=None)
    else:
        values.update(status="failed", last_error=f"{errcode} {status_text}"[:200])
    await OutboxMessage.filter(id=row.id).update(**values)
    return True


def push_dedupe_key(message: dict[str, Any]) -> str:
    """WeChat's advice for retried pushes: a message by its MsgId, an event by sender and
    creation time (message-push docs, 消息排重)."""
    msgid = message.get("MsgId") or message.get("MsgID")
    if msgid:
        return f"msg:{msgid}"[:120]
    parts = (message.get("FromUserName"), message.get("CreateTime"), message.get("Event"))
    return "event:" + "|".join(str(part) for part in parts)[:110]


async def handle_push(message: dict[str, Any], rules: MessageRules | None = None) -> bool:
    """One message pushed by WeChat (already verified and decrypted, in the JSON shape). False
    for a replay, which is answered but not acted on again."""
    rules = rules or default_rules()
    event = str(message.get("Event") or message.get("MsgType") or "")
    openid = str(message.get("FromUserName") or "")
    items = push_items(message)
    try:
        async with in_transaction():
            await WeChatPushReceipt.create(dedupe_key=push_dedupe_key(message), event=event[:40])
            if event == "subscribe_msg_popup_event":
                await record_results(
                    openid,
                    {str(i.get("TemplateId")): str(i.get("SubscribeStatusString")) for i in items},
                    source="push",
                    rules=rules,
                )
            elif event == "subscribe_msg_change_event":
                for item in items:
                    if item.get("SubscribeStatusString") == "reject":
                        await turn_off(openid, str(item.get("TemplateId")))
            elif event == "subscribe_msg_sent_event":
                for item in items:
                    await record_sent(
                        openid,
                        str(item.get("TemplateId")),
                        str(item.get("MsgID") or item.get("MsgId") or ""),
                        _int(item.get("ErrorCode")),
                        str(item.get("ErrorStatus") or ""),
                    )
            else:
                log.info("WeChat push %r ignored", event)
    except IntegrityError:
        log.info("WeChat push replayed (%s): ignored", push_dedupe_key(message))
        return False
    return True


def push_items(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-template list of a subscribe-message event. JSON pushes carry it as "List" (an
    object when there is one item); XML under the event's element (SubscribeMsgPopupEvent,
    SubscribeMsgChangeEvent — or, as WeChat's own example has it, SubscribeMsgPopupEvent for a
    change too — and SubscribeMsgSentEvent)."""
    found: Any = message.get("List")
    if found is None:
        for name in ("SubscribeMsgPopupEvent", "SubscribeMsgChangeEvent", "SubscribeMsgSentEvent"):
            holder = message.get(name)
            if isinstance(holder, dict):
                found = holder.get("List")
                break
    if isinstance(found, dict):
        found = [found]
    return [item for item in found or [] if isinstance(item, dict)]


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


async def run_outbox(wechat: WeChatClient, stop: asyncio.Event, interval: float = 2.0) -> None:
    """Background task in every worker; claims keep them from sending a message twice."""
    while not stop.is_set():
        try:
            await deliver_due(wechat)
        except Exception:
            log.exception("outbox delivery failed; messages stay pending and are retried")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
