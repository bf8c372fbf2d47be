"""The caller's own cached credit view in one Redis round trip.

`GET /api/v1/me/credit` is the busiest authenticated read. One server-side script resolves the
session, counts the rate limit, appends the audit entry to the stream and returns the cached view,
so a warm read costs a single round trip and no database query. (A script touches keys it derives
from the session, so this needs a single Redis or Sentinel, not Redis Cluster.)

On a plain TCP Redis the script goes over one pipelined connection per worker (`ScriptChannel`):
redis-py's per-command machinery (pool checkout, retry wrapper, Python packing, one socket write
per command) cost more CPU than the rest of the request. Anything else (fakeredis, TLS, a unix
socket) uses redis-py's script object; both send the same EVALSHA.
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import Connection as TcpConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from server.audit import AuditEvent
from server.cache import Keys
from server.errors import RateLimited, Unauthorized
from server.security.sessions import Session, hash_token, parse_session
from server.settings import Settings

_AT_PLACEHOLDER = datetime(1999, 9, 9, 9, 9, 9, 999999, tzinfo=UTC)

# The audit entry is AuditEvent.payload()'s JSON array; the script splices the user and subject
# ids (integers it reads from the session) between the pieces the caller renders.
# The caller's clock gives the time, as AuditEvent.payload() does.
_SCRIPT = """
local s = redis.call('HMGET', KEYS[1], 'uid', 'roles', 'subject')
if not s[1] then return {0} end
local rl = KEYS[3] .. s[1]
local n = redis.call('INCR', rl)
if n == 1 then redis.call('EXPIRE', rl, ARGV[2]) end
if n > tonumber(ARGV[1]) then return {2, redis.call('TTL', rl)} end
if not s[3] or s[3] == '' then return {3, s[1], s[2] or '', ''} end
local view = redis.call('GET', KEYS[4] .. s[3])
redis.call('XADD', KEYS[2], '*', 'e', ARGV[3] .. s[1] .. ARGV[4] .. s[3] .. ARGV[5])
return {1, s[1], s[2] or '', s[3], view or false}
"""


class _ReplyProtocol(asyncio.Protocol):
    """RESP2 replies, in order, to the futures of the commands sent (Redis answers a connection's
    commands in the order it received them)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiters: deque[asyncio.Future[Any]] = deque()
        self.reader = hiredis.Reader()
        self.pending: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def queue(self, command: bytes) -> None:
        """Written at the end of this loop iteration, together with the others queued in it."""
        if not self.pending:
            asyncio.get_running_loop().call_soon(self.flush)
        self.pending.append(command)

    def flush(self) -> None:
        data, self.pending = b"".join(self.pending), []
        if self.transport is not None:  # else connection_lost has failed their waiters
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            waiter = self.waiters.popleft()
            if waiter.done():
                continue  # its caller was cancelled; the reply is still consumed in order
            if isinstance(reply, hiredis.ReplyError):
                waiter.set_exception(ResponseError(str(reply)))
            else:
                waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(RedisConnectionError(f"Redis connection lost: {exc}"))


class ScriptChannel:
    """EVALSHA of one script over one pipelined TCP connection, commands written once per event
    loop iteration (all the requests a worker handles in one iteration share one write)."""

    def __init__(self, script: str, connection_kwargs: dict[str, Any]) -> None:
        self._script = script.encode()
        self._sha = hashlib.sha1(self._script, usedforsecurity=False).hexdigest().encode()
        self._host = connection_kwargs.get("host", "localhost")
        self._port = int(connection_kwargs.get("port", 6379))
        self._setup: list[tuple[Any, ...]] = []
        if connection_kwargs.get("password"):
            user = connection_kwargs.get("username")
            password = connection_kwargs["password"]
            self._setup.append(("AUTH", user, password) if user else ("AUTH", password))
        if int(connection_kwargs.get("db") or 0):
            self._setup.append(("SELECT", int(connection_kwargs["db"])))
        self._protocol: _ReplyProtocol | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connecting: asyncio.Task[_ReplyProtocol] | None = None

    @classmethod
    def for_client(cls, redis: Redis, script: str) -> ScriptChannel | None:
        """A channel to the same server as `redis`, or None when it is not plain TCP."""
        pool = getattr(redis, "connection_pool", None)
        if pool is None or pool.connection_class is not TcpConnection:
            return None
        return cls(script, dict(pool.connection_kwargs))

    async def __call__(self, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        try:
            return await self._send(b"EVALSHA", self._sha, keys, args)
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            return await self._send(b"EVAL", self._script, keys, args)  # loads it again

    async def _send(
        self, command: bytes, body: bytes, keys: Sequence[str], args: Sequence[str | int]
    ) -> Any:
        protocol = await self._connected()
        waiter = asyncio.get_running_loop().create_future()
        protocol.waiters.append(waiter)
        protocol.queue(hiredis.pack_command((command, body, len(keys), *keys, *args)))
        return await waiter

    async def _connected(self) -> _ReplyProtocol:
        """The live connection, opened by one task however many requests are waiting for it."""
        loop = asyncio.get_running_loop()
        protocol = self._protocol
        if protocol is not None and protocol.transport is not None and self._loop is loop:
            return protocol
        if self._connecting is None or self._loop is not loop:
            self._loop = loop
            self._connecting = loop.create_task(self._connect(loop))
        connecting = self._connecting
        try:
            self._protocol = await asyncio.shield(connecting)
        except OSError as exc:
            raise RedisConnectionError(f"cannot reach Redis: {exc}") from exc
        finally:
            if self._connecting is connecting and connecting.done():
                self._connecting = None
        return self._protocol

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _ReplyProtocol:
        transport, protocol = await loop.create_connection(_ReplyProtocol, self._host, self._port)
        try:
            for command in self._setup:  # AUTH, SELECT
                waiter = loop.create_future()
                protocol.waiters.append(waiter)
                transport.write(hiredis.pack_command(command))
                await waiter
        except BaseException:
            transport.close()
            raise
        return protocol

    async def aclose(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None


_SCRIPTS: weakref.WeakKeyDictionary[Redis, dict[str, Any]] = weakref.WeakKeyDictionary()


def script_for(redis: Redis, text: str) -> Any:
    """A Lua script callable as `await script(keys=[...], args=[...])`, one per Redis client and
    text: over a pipelined `ScriptChannel` on a plain TCP Redis, else redis-py's script object."""
    scripts = _SCRIPTS.setdefault(redis, {})
    script = scripts.get(text)
    if script is None:
        script = scripts[text] = ScriptChannel.for_client(redis, text) or redis.register_script(
            text
        )
    return script


@dataclass(frozen=True)
class OwnRead:
    session: Session
    cached_view: bytes | None


class OwnViewReader:
    def __init__(self, redis: Redis, keys: Keys, settings: Settings) -> None:
        self._script: Any = ScriptChannel.for_client(redis, _SCRIPT) or redis.register_script(
            _SCRIPT
        )
        self._keys = keys
        self._settings = settings  # the rate-limit rule is read per request (it may change)
        # Keys and payload pieces are the same for every request; only the session key, the time
        # and the two ids (spliced in by the script) vary.
        self._stream = keys.audit_stream
        self._rate_prefix = keys.rate("credit_lookup", "")
        self._view_prefix = keys.credit_view("")
        self._pieces: dict[str, tuple[str, str, str, str]] = {}

    async def read(self, token: str, *, channel: str) -> OwnRead:
        """Raises 401 for a dead token and 429 past the limit; session.subject_id is None when
        no identity is bound (then nothing was read and nothing audited)."""
        token_hash = hash_token(token)
        pieces = self._pieces.get(channel) or self._payload_pieces(channel)
        before_at, after_at, middle, tail = pieces
        head = before_at + datetime.now(UTC).isoformat() + after_at
        session_key = self._keys.session(token_hash)
        rule = self._settings.rate_limits["credit_lookup"]
        result = await self._script(
            keys=[session_key, self._stream, self._rate_prefix, self._view_prefix],
            args=[rule.limit, rule.window, head, middle, tail],
        )
        status = int(result[0])
        if status == 0:
            raise Unauthorized("登录已失效，请重新登录", code="TOKEN_INVALID")
        if status == 2:
            raise RateLimited(int(result[1]))
        session = parse_session(token_hash, [result[1], result[2], result[3] or None])
        assert session is not None
        cached = result[4] if status == 1 and len(result) > 4 and result[4] else None
        return OwnRead(session=session, cached_view=cached)

    def _payload_pieces(self, channel: str) -> tuple[str, str, str, str]:
        """AuditEvent.payload() with placeholders for the time and the two ids, split around
        them once per channel (building the event per request was ~10% of the hot path)."""
        event = AuditEvent(
            action="credit.read", actor_kind="self", actor_role="citizen",
            purpose="本人查询", channel=channel, actor_user_id=-111, subject_id=-222,
        )  # fmt: skip
        payload = event.payload(at=_AT_PLACEHOLDER)
        before_at, _, rest = payload.partition(_AT_PLACEHOLDER.isoformat())
        after_at, _, rest = rest.partition('"-111"')
        middle, _, tail = rest.partition('"-222"')
        pieces = (before_at, after_at + '"', '"' + middle + '"', '"' + tail)
        if len(self._pieces) < 16:  # channels are a small fixed set; never grow without bound
            self._pieces[channel] = pieces
        return pieces

    async def aclose(self) -> None:
        if isinstance(self._script, ScriptChannel):
            await self._script.aclose()
