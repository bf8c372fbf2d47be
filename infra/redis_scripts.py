"""Lua scripts over one pipelined connection per worker: the transport of the hot paths.

A hot path (the caller's own credit view, a staff scan, a plate scan) is one server-side script,
so a warm request costs a single round trip and no database query. (A script touches keys it
derives from what it reads, so this needs a single Redis or Sentinel, not Redis Cluster.)

On a plain TCP Redis a script goes over one pipelined connection per worker (`ScriptChannel`):
redis-py's per-command machinery (pool checkout, retry wrapper, Python packing, one socket write
per command) cost more CPU than the rest of the request. Anything else (fakeredis, TLS, a unix
socket) uses redis-py's script object; both send the same EVALSHA.

The channel takes the client's timeouts (`socket_timeout`, `socket_connect_timeout`) without a
timer per call: a connection is given up when replies are owed and none has come for the
timeout (one watch timer per connection), which fails every waiting request at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from collections import deque
from collections.abc import Sequence
from typing import Any, cast

import hiredis
from redis._parsers.base import BaseParser
from redis.asyncio import Redis
from redis.asyncio.connection import Connection as TcpConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError


class _ReplyProtocol(asyncio.Protocol):
    """RESP2 replies, in order, to the futures of the commands sent (Redis answers a connection's
    commands in the order it received them)."""

    def __init__(self, timeout: float | None = None) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiters: deque[asyncio.Future[Any]] = deque()
        self.reader = hiredis.Reader()
        self.pending: list[bytes] = []
        self.timeout = timeout
        # Loop time of the last reply, or of the first command sent to an idle connection.
        self.progress = 0.0
        self._watch: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP connection's transport: asyncio's is an asyncio.Transport; uvloop's (Sanic's loop
        # in production) has the same methods without the base class, so no isinstance check.
        self.transport = cast(asyncio.Transport, transport)
        if self.timeout:
            loop = asyncio.get_running_loop()
            self.progress = loop.time()
            self._watch = loop.call_later(self.timeout / 4, self._check)

    def _check(self) -> None:
        """Every quarter of the timeout: replies owed and none for the timeout is a frozen or
        unreachable server. The connection is dropped (a late reply must never be read as
        another command's) and its waiters fail now; the next call connects anew."""
        assert self.timeout is not None
        loop = asyncio.get_running_loop()
        if self.transport is None:
            return
        if self.waiters and loop.time() - self.progress > self.timeout:
            transport, self.transport = self.transport, None
            transport.abort()
            self._fail(RedisTimeoutError(f"Redis did not answer within {self.timeout} s"))
            return
        self._watch = loop.call_later(self.timeout / 4, self._check)

    def _fail(self, exc: Exception) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(exc)

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
        if self.timeout:
            self.progress = asyncio.get_running_loop().time()
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            waiter = self.waiters.popleft()
            if waiter.done():
                continue  # its caller was cancelled; the reply is still consumed in order
            if isinstance(reply, hiredis.ReplyError):
                # redis-py's own mapping: LOADING (a restarted Redis reading its AOF) is its
                # BusyLoadingError, a ConnectionError, so infra.faults answers 503, not 500.
                waiter.set_exception(BaseParser.parse_error(str(reply)))
            else:
                waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self._watch is not None:
            self._watch.cancel()
        self._fail(RedisConnectionError(f"Redis connection lost: {exc}"))


class ScriptChannel:
    """EVALSHA of one script over one pipelined TCP connection, commands written once per event
    loop iteration (all the requests a worker handles in one iteration share one write)."""

    def __init__(self, script: str, connection_kwargs: dict[str, Any]) -> None:
        self._script = script.encode()
        self._sha = hashlib.sha1(self._script, usedforsecurity=False).hexdigest().encode()
        self._host = connection_kwargs.get("host", "localhost")
        self._port = int(connection_kwargs.get("port", 6379))
        # The client's own timeouts (infra.cache.make_redis sets them on its pool).
        self._timeout: float | None = connection_kwargs.get("socket_timeout")
        self._connect_timeout: float | None = (
            connection_kwargs.get("socket_connect_timeout") or self._timeout
        )
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
            return await self._evalsha(keys, args)
        except RedisConnectionError:
            # The connection broke before the loop saw it (Redis restarted while it was idle):
            # once more on a new one, as the pool's clients do (infra.cache.make_redis). A
            # timeout is not retried: the server may still be frozen.
            return await self._evalsha(keys, args)

    async def _evalsha(self, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        try:
            return await self._send(b"EVALSHA", self._sha, keys, args)
        except NoScriptError:
            return await self._send(b"EVAL", self._script, keys, args)  # loads it again

    async def _send(
        self, command: bytes, body: bytes, keys: Sequence[str], args: Sequence[str | int]
    ) -> Any:
        protocol = await self._connected()
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        if not protocol.waiters and protocol.timeout:  # an idle connection: its clock starts
            protocol.progress = loop.time()
        protocol.waiters.append(waiter)
        parts: tuple[bytes | str | int, ...] = (command, body, len(keys), *keys, *args)
        protocol.queue(hiredis.pack_command(parts))  # type: ignore[arg-type]  # its stub says 1-tuple
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
        except TimeoutError as exc:  # before OSError, of which it is a subclass
            raise RedisTimeoutError(f"Redis did not accept a connection: {exc!r}") from exc
        except OSError as exc:
            raise RedisConnectionError(f"cannot reach Redis: {exc}") from exc
        finally:
            if self._connecting is connecting and connecting.done():
                self._connecting = None
        return self._protocol

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _ReplyProtocol:
        async with asyncio.timeout(self._connect_timeout):  # connecting only, never per call
            return await self._open(loop)

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _ReplyProtocol:
        transport, protocol = await loop.create_connection(
            lambda: _ReplyProtocol(self._timeout), self._host, self._port
        )
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


async def close_scripts(redis: Redis) -> None:
    """Close the pipelined connections made for this client's scripts (when it is closed)."""
    for script in _SCRIPTS.pop(redis, {}).values():
        if isinstance(script, ScriptChannel):
            await script.aclose()
