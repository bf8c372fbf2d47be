"""The officials' console's login (扫码登录) and its sessions, in Redis.

A browser asks for a one-time ticket: its id goes into the QR code, its secret stays in the
browser (an HttpOnly cookie), so someone who photographs the QR code cannot claim the session.
An official logged in to the mini-program with a console role confirms the ticket with their
bearer token; the browser holding the secret then claims it, once, and gets a console session.

A console session is an ordinary session (`infra.security.sessions`: the same hash, so every
domain function that takes a `Session` takes it, and role changes reach it) with three more
fields: the console marker, its CSRF token and when it started. Its TTL is the idle timeout,
renewed on every request; past the absolute lifetime it ends whatever the activity."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from infra.cache import Keys, as_text
from infra.security.sessions import (
    Session,
    SessionHash,
    create_session,
    hash_token,
    parse_session,
    revoke_session,
)

TICKET_PENDING = "pending"
TICKET_CONFIRMED = "confirmed"
# Ticket hash fields
_SECRET = "secret"  # noqa: S105 (a field name: it holds the SHA-256 of the browser's secret)
_STATE = "state"
_USER = "uid"
_ROLES = "roles"
_SUBJECT = "subject"

# Console fields of the session hash (beside SessionHash's)
CONSOLE = "console"
CSRF = "csrf"
STARTED = "started"
_SESSION_FIELDS = [SessionHash.UID, SessionHash.ROLES, SessionHash.SUBJECT, CONSOLE, CSRF, STARTED]

# Claims a confirmed ticket once: the secret must match, and the ticket is deleted with the read.
_CLAIM = f"""
local t = redis.call('HMGET', KEYS[1], '{_SECRET}', '{_STATE}', '{_USER}', '{_ROLES}', '{_SUBJECT}')
if not t[1] then return {{'missing'}} end
if t[1] ~= ARGV[1] then return {{'mismatch'}} end
if t[2] ~= '{TICKET_CONFIRMED}' then return {{t[2]}} end
redis.call('DEL', KEYS[1])
return {{'confirmed', t[3], t[4], t[5]}}
"""
# Confirms a pending ticket, once, keeping its remaining lifetime.
_CONFIRM = f"""
local state = redis.call('HGET', KEYS[1], '{_STATE}')
if not state then return 'missing' end
if state ~= '{TICKET_PENDING}' then return state end
redis.call('HSET', KEYS[1], '{_STATE}', '{TICKET_CONFIRMED}', '{_USER}', ARGV[1],
  '{_ROLES}', ARGV[2], '{_SUBJECT}', ARGV[3])
return 'ok'
"""


@dataclass(frozen=True)
class Ticket:
    id: str
    secret: str  # the browser's; only its hash is stored

    @property
    def cookie_value(self) -> str:
        return f"{self.id}.{self.secret}"

    @classmethod
    def from_cookie(cls, value: str | None) -> Ticket | None:
        ticket_id, _, secret = (value or "").partition(".")
        if not ticket_id or not secret or len(value or "") > 200:
            return None
        return cls(ticket_id, secret)


@dataclass(frozen=True)
class ConsoleSession:
    session: Session
    token: str
    csrf: str

    def csrf_ok(self, submitted: str | None) -> bool:
        return bool(submitted) and hmac.compare_digest(self.csrf, submitted or "")


def ticket_key(keys: Keys, ticket_id: str) -> str:
    return f"{keys.prefix}console-ticket:{ticket_id}"


def console_sessions_key(keys: Keys, user_id: int) -> str:
    return f"{keys.prefix}console-sess:{user_id}"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def new_ticket(redis: Redis, keys: Keys, ttl_seconds: int) -> Ticket:
    ticket = Ticket(secrets.token_urlsafe(16), secrets.token_urlsafe(24))
    name = ticket_key(keys, ticket.id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(name, mapping={_SECRET: _digest(ticket.secret), _STATE: TICKET_PENDING})
        pipe.expire(name, ttl_seconds)
        await pipe.execute()
    return ticket


async def confirm_ticket(redis: Redis, keys: Keys, ticket_id: str, session: Session) -> str:
    """'ok', or why not: 'missing' (unknown or expired) or 'confirmed' (already)."""
    if not ticket_id or len(ticket_id) > 64:
        return "missing"
    answer = await redis.eval(
        _CONFIRM,
        1,
        ticket_key(keys, ticket_id),
        str(session.user_id),
        SessionHash.ROLE_SEPARATOR.join(session.roles),
        str(session.subject_id or ""),
    )
    return as_text(answer)


async def ticket_state(redis: Redis, keys: Keys, ticket: Ticket) -> str | None:
    """pending / confirmed, or None when unknown, expired or not this browser's."""
    secret, state = await redis.hmget(ticket_key(keys, ticket.id), [_SECRET, _STATE])
    if secret is None or not hmac.compare_digest(as_text(secret), _digest(ticket.secret)):
        return None
    return as_text(state) if state is not None else None


async def claim_ticket(
    redis: Redis, keys: Keys, ticket: Ticket, *, idle_seconds: int
) -> ConsoleSession | None:
    """The browser holding the ticket's secret takes the confirmed ticket's session, once."""
    answer = [
        as_text(part)
        for part in await redis.eval(_CLAIM, 1, ticket_key(keys, ticket.id), _digest(ticket.secret))
    ]
    if answer[0] != TICKET_CONFIRMED:
        return None
    user_id, roles, subject = int(answer[1]), answer[2], answer[3]
    return await start_console_session(
        redis,
        keys,
        user_id=user_id,
        roles=[r for r in roles.split(SessionHash.ROLE_SEPARATOR) if r],
        subject_id=int(subject) if subject else None,
        idle_seconds=idle_seconds,
    )


async def start_console_session(
    redis: Redis,
    keys: Keys,
    *,
    user_id: int,
    roles: list[str],
    subject_id: int | None,
    idle_seconds: int,
) -> ConsoleSession:
    token = await create_session(
        redis, keys, user_id=user_id, roles=roles, subject_id=subject_id, ttl_seconds=idle_seconds
    )
    token_hash = hash_token(token)
    csrf = secrets.token_urlsafe(24)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(
            keys.session(token_hash),
            mapping={CONSOLE: "1", CSRF: csrf, STARTED: str(int(time.time()))},
        )
        pipe.sadd(console_sessions_key(keys, user_id), token_hash)
        pipe.expire(console_sessions_key(keys, user_id), idle_seconds, nx=True)
        pipe.expire(console_sessions_key(keys, user_id), idle_seconds, gt=True)
        await pipe.execute()
    session = Session(token_hash, user_id, tuple(roles), subject_id)
    return ConsoleSession(session, token, csrf)


async def load_console_session(
    redis: Redis, keys: Keys, token: str | None, *, idle_seconds: int, max_seconds: int
) -> ConsoleSession | None:
    """The live console session of `token`, its idle timeout renewed; None when there is none,
    it is not a console session (a mini-program token in the cookie) or it is past its
    absolute lifetime (then it ends)."""
    if not token or len(token) > 200:
        return None
    token_hash = hash_token(token)
    name = keys.session(token_hash)
    raw = await redis.hmget(name, _SESSION_FIELDS)
    session = parse_session(token_hash, raw[:3])
    marker, csrf, started = raw[3:]
    if session is None or marker is None or csrf is None:
        return None
    if time.time() - int(as_text(started or b"0")) > max_seconds:
        await end_console_session(redis, keys, session)
        return None
    async with redis.pipeline(transaction=False) as pipe:
        pipe.expire(name, idle_seconds)
        pipe.expire(console_sessions_key(keys, session.user_id), idle_seconds, gt=True)
        await pipe.execute()
    return ConsoleSession(session, token, as_text(csrf))


async def end_console_session(redis: Redis, keys: Keys, session: Session) -> None:
    await revoke_session(redis, keys, session)
    await redis.srem(console_sessions_key(keys, session.user_id), session.token_hash)


async def end_all_console_sessions(redis: Redis, keys: Keys, session: Session) -> int:
    """退出全部设备: every console session of the user, in every browser and worker, at once.
    Their mini-program login stays."""
    hashes = await redis.smembers(console_sessions_key(keys, session.user_id))
    ended = 0
    for token_hash in {as_text(h) for h in hashes} | {session.token_hash}:
        await revoke_session(redis, keys, Session(token_hash, session.user_id, (), None))
        ended += 1
    await redis.delete(console_sessions_key(keys, session.user_id))
    return ended
