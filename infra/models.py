"""Infrastructure tables: users and their sessions, the hash-chained audit log, uploads and the
WeChat outbox. Domain tables live with their domain (credit/, scenarios/); all share the tortoise
app "credit", so foreign keys name models as "credit.<Model>" wherever they are defined. Each
foreign key's column is declared too (`owner_id: int`), so type checkers know the attribute
tortoise adds."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class User(Model):
    id = fields.BigIntField(primary_key=True)
    openid = fields.CharField(max_length=64, unique=True)
    unionid = fields.CharField(max_length=64, null=True)
    roles: fields.JSONField[list[str]] = fields.JSONField(default=list)
    is_demo = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_login_at = fields.DatetimeField(null=True)

    class Meta:
        table = "app_user"


class SessionRecord(Model):
    """Durable trace of a login, while Redis holds the live session keyed by the token hash."""

    id = fields.BigIntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "credit.User", related_name="sessions", on_delete=fields.RESTRICT
    )
    user_id: int
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "session"


class AuditEntry(Model):
    """Append-only, hash-chained: the hash of each entry covers its fields and the previous hash."""

    id = fields.BigIntField(primary_key=True)
    stream_id = fields.CharField(max_length=40, unique=True)  # idempotent drain from Redis
    at = fields.DatetimeField()
    action = fields.CharField(max_length=40)
    actor_user_id = fields.BigIntField(null=True)
    actor_kind = fields.CharField(max_length=20)
    actor_role = fields.CharField(max_length=20)
    actor_org = fields.CharField(max_length=200, null=True)
    subject_id = fields.BigIntField(null=True, db_index=True)
    purpose = fields.CharField(max_length=100)
    channel = fields.CharField(max_length=40)
    detail: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    prev_hash = fields.CharField(max_length=64)
    # No index: nothing looks an entry up by its hash (verify_chain walks by id), and a unique
    # index on random 64-character keys was the costliest part of every drained insert.
    hash = fields.CharField(max_length=64)

    class Meta:
        table = "audit_entry"


class Upload(Model):
    """A file a user attached to an application: checked by content, images re-encoded."""

    id = fields.BigIntField(primary_key=True)
    owner: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "credit.User", related_name="uploads", on_delete=fields.RESTRICT
    )
    owner_id: int
    content_type = fields.CharField(max_length=40)
    size = fields.IntField()
    sha256 = fields.CharField(max_length=64)
    storage_path = fields.CharField(max_length=255)
    original_name = fields.CharField(max_length=120, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "upload"


class OutboxMessage(Model):
    """A notification: the user's message-centre entry and the WeChat subscribe message that
    reports it, committed with the change it reports and sent later by the outbox worker, so
    nothing is lost when WeChat fails, the user has no subscription left, or the process dies
    between commit and send (infra/notifications.py)."""

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharField(max_length=30, default="subscribe_message")
    user_id = fields.BigIntField(null=True, db_index=True)  # the message centre's owner
    openid = fields.CharField(max_length=64)
    template_key = fields.CharField(max_length=40, null=True)  # config/messages.toml
    template_id = fields.CharField(max_length=64)
    page = fields.CharField(max_length=200, null=True)
    data: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    title = fields.CharField(max_length=100, null=True)  # shown in the message centre, uncut
    content = fields.CharField(max_length=500, null=True)
    # pending, sending, unconfirmed (timed out: waiting for subscribe_msg_sent_event), sent,
    # waiting (no subscription credit), refused (no credit and the user refused the template),
    # failed, expired (waited past config/messages.toml [delivery] wait_days)
    status = fields.CharField(max_length=16, default="pending", db_index=True)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    claimed_until = fields.DatetimeField(null=True)
    # a subscription credit is reserved for it (consumed, not yet confirmed by WeChat)
    credit_held = fields.BooleanField(default=False, db_default=False)
    relevant_until = fields.DatetimeField(null=True)
    last_error = fields.CharField(max_length=200, null=True)
    wechat_msgid = fields.CharField(max_length=32, null=True, db_index=True)
    delivery_result = fields.CharField(max_length=100, null=True)  # subscribe_msg_sent_event
    dedupe_key = fields.CharField(max_length=100, null=True, unique=True)
    read_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "outbox_message"


class SubscriptionCredit(Model):
    """How many messages of a template WeChat will take for a user (one per acceptance of a
    one-time template; for a long-term one, any number while `credits` > 0), and the user's
    last answer for it."""

    id = fields.BigIntField(primary_key=True)
    openid = fields.CharField(max_length=64)
    template_id = fields.CharField(max_length=64)
    credits = fields.IntField(default=0)
    last_result = fields.CharField(max_length=10, null=True)  # accept | reject | ban | filter
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "subscription_credit"
        unique_together = (("openid", "template_id"),)


class SubscriptionGrant(Model):
    """One acceptance as one source reported it: the mini-program (`client`) or WeChat's push
    (`push`). The two reports of one tap pair up, so a tap is one credit."""

    id = fields.BigIntField(primary_key=True)
    openid = fields.CharField(max_length=64)
    template_id = fields.CharField(max_length=64)
    source = fields.CharField(max_length=8)
    paired_with = fields.BigIntField(null=True)
    at = fields.DatetimeField()

    class Meta:
        table = "subscription_grant"
        indexes = (("openid", "template_id", "at"),)


class WeChatPushReceipt(Model):
    """A message WeChat pushed to /wechat/push, by its MsgId (or sender and time for events):
    WeChat retries a push it got no answer to, and a replay is answered but not acted on."""

    id = fields.BigIntField(primary_key=True)
    dedupe_key = fields.CharField(max_length=120, unique=True)
    event = fields.CharField(max_length=40)
    received_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "wechat_push_receipt"
