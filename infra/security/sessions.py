"""Opaque session tokens. The client holds a random token; Redis holds a hash keyed by the token's
SHA-256, so a leaked cache dump yields no usable tokens. Logout deletes it: the token stops
working at once, in every worker."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from string import Template

from redis.asyncio import Redis

from infra.cache import Keys, as_text
from infra.models import SessionRecord


class SessionHash:
    """The session hash under `Keys.session`: its field names, which the hot paths' Lua scripts
    read too (they are rendered from these), and how roles are joined."""

    UID = "uid"
    ROLES = "roles"
    SUBJECT = "subject"  # "" when no identity is bound
    ROLE_SEPARATOR = ","
    # WeChat's session_key is not kept (no feature needs it). Sessions made before kept it
    # encrypted under "wxsk": login drops that field from the user's live sessions.
    RETIRED_FIELDS = ("wxsk",)


_FIELDS = (SessionHash.UID, SessionHash.ROLES, SessionHash.SUBJECT)
_REFRESH = Template(
    "if redis.call('EXISTS', KEYS[1]) == 1 then "
    "redis.call('HSET', KEYS[1], '$roles', ARGV[1], '$subject', ARGV[2]) end return 0"
).substitute(roles=SessionHash.ROLES, subject=SessionHash.SUBJECT)


@dataclass(frozen=True)
class Session:
    token_hash: str
    user_id: int
    roles: tuple[str, ...]
    subject_id: int | None

    def has_role(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_fields(user_id: int, roles: list[str], subject_id: int | None) -> dict[str, str]:
    return {
        SessionHash.UID: str(user_id),
        SessionHash.ROLES: SessionHash.ROLE_SEPARATOR.join(roles),
        SessionHash.SUBJECT: str(subject_id) if subject_id else "",
    }


def parse_session(
    token_hash: str, raw: dict[bytes, bytes] | Sequence[bytes | str | None]
) -> Session | None:
    """From HGETALL (dict) or HMGET uid, roles, subject (list)."""
    values: list[bytes | str | None]
    if isinstance(raw, dict):
        values = [raw.get(name.encode()) for name in _FIELDS]
    else:
        values = list(raw)  # HMGET: in _FIELDS order
    uid, roles, subject = values
    if not uid:
        return None
    return Session(
        token_hash=token_hash,
        user_id=int(uid),
        roles=tuple(r for r in as_text(roles or b"").split(SessionHash.ROLE_SEPARATOR) if r),
        subject_id=int(subject) if subject else None,
    )


async def create_session(
    redis: Redis,
    keys: Keys,
    *,
    user_id: int,
    roles: list[str],
    subject_id: int | None,
    ttl_seconds: int,
) -> str:
    token = secrets.token_urlsafe(32)
    token_hash = hash_token(token)
    fields = session_fields(user_id, roles, subject_id)
    earlier = await redis.smembers(keys.user_sessions(user_id))
    async with redis.pipeline(transaction=True) as pipe:
        for other in earlier:  # HDEL on a session gone since is a no-op
            pipe.hdel(keys.session(as_text(other)), *SessionHash.RETIRED_FIELDS)
        pipe.hset(keys.session(token_hash), items=[v for pair in fields.items() for v in pair])
        pipe.expire(keys.session(token_hash), ttl_seconds)
        pipe.sadd(keys.user_sessions(user_id), token_hash)
        # Never shortened by a shorter-lived session (a console's idle timeout): NX gives a new
        # set its TTL, GT only lengthens it.
        pipe.expire(keys.user_sessions(user_id), ttl_seconds, nx=True)
        pipe.expire(keys.user_sessions(user_id), ttl_seconds, gt=True)
        await pipe.execute()
    await SessionRecord.create(
        token_hash=token_hash,
        user_id=user_id,
        expires_at=datetime.now(UTC) + timedelta(seconds=ttl_seconds),
    )
    return token


async def load_session(redis: Redis, keys: Keys, token: str) -> Session | None:
    token_hash = hash_token(token)
    raw = await redis.hmget(keys.session(token_hash), list(_FIELDS))
    return parse_session(token_hash, raw)


async def revoke_session(redis: Redis, keys: Keys, session: Session) -> None:
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(keys.session(session.token_hash))
        pipe.srem(keys.user_sessions(session.user_id), session.token_hash)
        await pipe.execute()
    await SessionRecord.filter(token_hash=session.token_hash, revoked_at=None).update(
        revoked_at=datetime.now(UTC)
    )


async def refresh_user_sessions(
    redis: Redis, keys: Keys, user_id: int, roles: list[str], subject_id: int | None
) -> None:
    """After the user's identity or roles change, every live session of theirs sees it."""
    hashes = await redis.smembers(keys.user_sessions(user_id))
    fields = session_fields(user_id, roles, subject_id)
    async with redis.pipeline(transaction=False) as pipe:
        for token_hash in hashes:
            name = keys.session(as_text(token_hash))
            # Only sessions that still exist: HSET on a missing key would resurrect it.
            pipe.eval(_REFRESH, 1, name, fields[SessionHash.ROLES], fields[SessionHash.SUBJECT])
        await pipe.execute()
