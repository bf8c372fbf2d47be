"""Async client for the WeChat mini-program server APIs we use.

Why not wechatpy: its HTTP layer is synchronous and would block the event loop (DESIGN.md §2).
Why Redis for the access token: WeChat allows only a limited number of token fetches a day and a
forced refresh invalidates the previous token, so every worker and process must share one token
and only one of them may refresh it at a time.

Secrets, session keys, names and ID numbers are never logged: errors carry the API path, the
errcode and WeChat's errmsg only, and a filter on the ``httpx`` logger redacts credential query
parameters from its request log lines.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from infra.cache import Keys

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.lock import Lock

log = logging.getLogger(__name__)

PATH_JSCODE2SESSION = "/sns/jscode2session"
PATH_STABLE_TOKEN = "/cgi-bin/stable_token"  # noqa: S105 - an API path, not a password
PATH_GET_VERIFY_ID = "/cityservice/face/identify/getverifyid"
PATH_QUERY_VERIFY_INFO = "/cityservice/face/identify/queryverifyinfo"
PATH_MSG_SEC_CHECK = "/wxa/msg_sec_check"
PATH_SUBSCRIBE_SEND = "/cgi-bin/message/subscribe/send"

ERR_SYSTEM_BUSY = -1
# 40001 invalid credential, 40014 invalid access_token, 42001 access_token expired.
TOKEN_INVALID_ERRCODES = frozenset({40001, 40014, 42001})
VERIFY_RET_PASS = 10000
CERT_TYPE_ID_CARD = "IDENTITY_CARD"

TOKEN_TTL_MARGIN_SECONDS = 300
_LOCK_POLL_SECONDS = 0.05
_REDACTED_QUERY_PARAMS = ("secret", "access_token", "js_code")


class WeChatError(Exception):
    """WeChat answered with a non-zero errcode (or could not be used at all)."""

    def __init__(self, errcode: int, errmsg: str, path: str) -> None:
        super().__init__(f"WeChat {path}: errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.path = path


class WeChatUnavailable(WeChatError):
    """Transient failure worth retrying later: network error, timeout, HTTP 5xx, errcode -1."""


class WeChatTimeout(WeChatUnavailable):
    """No answer in time: unlike the other failures, WeChat may have done what was asked (the
    outbox waits for WeChat's report before sending such a message again)."""


@dataclass(frozen=True)
class CodeSession:
    """Result of jscode2session; ``session_key`` must never leave the server."""

    openid: str
    session_key: str = field(repr=False)
    unionid: str | None = None


@dataclass(frozen=True)
class VerifyResult:
    """Result of queryverifyinfo; ``passed`` only when verify_ret is 10000."""

    passed: bool
    verify_ret: int
    detail: dict[str, Any]


def cert_hash(cert_type: str, cert_name: str, cert_no: str) -> str:
    """The ``cert_hash`` that queryverifyinfo expects for the getverifyid cert_info.

    Rule from the official queryVerifyInfo docs ("注意事项"): standard base64 of each field value,
    joined as ``cert_type=<b64>&cert_name=<b64>&cert_no=<b64>``, SHA-256 of that string as
    lower-case hex. The docs' example (IDENTITY_CARD / 张三 / 310101199801011234) gives
    ``3c241f7f…671108b``; the tests check that vector.
    """

    def b64(value: str) -> str:
        return base64.b64encode(value.encode("utf-8")).decode("ascii")

    joined = f"cert_type={b64(cert_type)}&cert_name={b64(cert_name)}&cert_no={b64(cert_no)}"
    return hashlib.sha256(joined.encode("ascii")).hexdigest()


class _RedactCredentials(logging.Filter):
    """Strips appid secrets, access tokens and login codes from httpx's request log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                _redact_url(arg) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


def _redact_url(url: httpx.URL) -> httpx.URL:
    params = url.params
    if not any(name in params for name in _REDACTED_QUERY_PARAMS):
        return url
    for name in _REDACTED_QUERY_PARAMS:
        if name in params:
            params = params.set(name, "***")
    return url.copy_with(params=params)


_httpx_logger = logging.getLogger("httpx")
if not any(isinstance(f, _RedactCredentials) for f in _httpx_logger.filters):
    _httpx_logger.addFilter(_RedactCredentials())


def _as_str(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8") if isinstance(value, bytes) else value


class WeChatClient:
    """One client per process; the access token it uses is shared through Redis."""

    def __init__(
        self,
        *,
        api_base: str,
        appid: str,
        secret: str,
        redis: Redis,
        keys: Keys = Keys(""),  # frozen: one shared default is safe
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._appid = appid
        self._secret = secret
        self._redis = redis
        self._timeout = timeout
        self._token_key = keys.wechat_access_token
        self._lock_key = keys.wechat_access_token_lock
        # The lock outlives one stable_token call (with margin) so a crashed holder frees it.
        self._lock_ms = int((timeout * 2 + 1) * 1000)
        self._http = httpx.AsyncClient(
            base_url=api_base.rstrip("/"),
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={"Accept": "application/json"},
        )

    async def aclose(self) -> None:
        """Close the HTTP connection pool (the Redis client belongs to the caller)."""
        await self._http.aclose()

    # -- login -----------------------------------------------------------------------------

    async def code_to_session(self, code: str) -> CodeSession:
        """Exchange a ``wx.login`` code for the openid (the session_key stays server-side)."""
        data = await self._send(
            "GET",
            PATH_JSCODE2SESSION,
            params={
                "appid": self._appid,
                "secret": self._secret,
                "js_code": code,
                "grant_type": "authorization_code",
            },
        )
        openid, session_key = data.get("openid"), data.get("session_key")
        if not isinstance(openid, str) or not openid or not isinstance(session_key, str):
            raise WeChatUnavailable(ERR_SYSTEM_BUSY, "malformed response", PATH_JSCODE2SESSION)
        unionid = data.get("unionid")
        return CodeSession(
            openid=openid,
            session_key=session_key,
            unionid=unionid if isinstance(unionid, str) and unionid else None,
        )

    # -- access token ----------------------------------------------------------------------

    async def access_token(self, *, force_refresh: bool = False) -> str:
        """The app's access token, fetched at most once across all processes sharing Redis.

        ``force_refresh`` replaces the token currently cached (because WeChat rejected it); when
        several callers ask at once, only the first one refreshes and the rest reuse its token.
        """
        cached = await self._cached_token()
        if cached and not force_refresh:
            return cached
        return await self._refresh(stale=cached if force_refresh else None, force=force_refresh)

    async def _cached_token(self) -> str | None:
        return _as_str(await self._redis.get(self._token_key))

    async def _refresh(self, *, stale: str | None, force: bool) -> str:
        """Fetch a token under a Redis lock; a token other than ``stale`` in the cache wins."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._lock_ms / 1000 + self._timeout
        while True:
            cached = await self._cached_token()
            if cached and cached != stale:
                return cached
            lock = self._redis.lock(
                self._lock_key, timeout=self._lock_ms / 1000, blocking=False, thread_local=False
            )
            if await lock.acquire():
                try:
                    cached = await self._cached_token()
                    if cached and cached != stale:
                        return cached
                    return await self._fetch_and_store_token(force=force)
                finally:
                    await self._release_lock(lock)
            if loop.time() >= deadline:
                raise WeChatUnavailable(
                    ERR_SYSTEM_BUSY, "timed out waiting for the access token", PATH_STABLE_TOKEN
                )
            await asyncio.sleep(_LOCK_POLL_SECONDS)

    async def _fetch_and_store_token(self, *, force: bool) -> str:
        data = await self._send(
            "POST",
            PATH_STABLE_TOKEN,
            body={
                "grant_type": "client_credential",
                "appid": self._appid,
                "secret": self._secret,
                "force_refresh": force,
            },
        )
        token, expires_in = data.get("access_token"), data.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int):
            raise WeChatUnavailable(ERR_SYSTEM_BUSY, "malformed response", PATH_STABLE_TOKEN)
        ttl = max(expires_in - TOKEN_TTL_MARGIN_SECONDS, 1)
        await self._redis.set(self._token_key, token, ex=ttl)
        log.info("WeChat access token refreshed (force=%s, cached for %d s)", force, ttl)
        return token

    async def _release_lock(self, lock: Lock) -> None:
        # redis-py's Lock compares its token before deleting: a holder that overran its lock
        # cannot free someone else's.
        try:
            await lock.release()
        except Exception:  # the lock expires by itself; never mask the real outcome
            log.warning("could not release the WeChat access token lock", exc_info=True)

    async def _post_with_token(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST with the shared token; on a rejected token, refresh once and retry once."""
        token = await self.access_token()
        try:
            return await self._send("POST", path, params={"access_token": token}, body=body)
        except WeChatError as exc:
            if exc.errcode not in TOKEN_INVALID_ERRCODES:
                raise
            log.warning("WeChat rejected the access token on %s (errcode %d)", path, exc.errcode)
        token = await self._refresh(stale=token, force=True)
        return await self._send("POST", path, params={"access_token": token}, body=body)

    # -- face verification -----------------------------------------------------------------

    async def get_verify_id(
        self, *, openid: str, name: str, id_number: str, out_seq_no: str
    ) -> tuple[str, int]:
        """Start a face verification for ``wx.requestFacialVerify``: (verify_id, expires_in)."""
        data = await self._post_with_token(
            PATH_GET_VERIFY_ID,
            {
                "out_seq_no": out_seq_no,
                "cert_info": {
                    "cert_type": CERT_TYPE_ID_CARD,
                    "cert_name": name,
                    "cert_no": id_number,
                },
                "openid": openid,
            },
        )
        verify_id = data.get("verify_id")
        if not isinstance(verify_id, str) or not verify_id:
            raise WeChatUnavailable(ERR_SYSTEM_BUSY, "malformed response", PATH_GET_VERIFY_ID)
        expires_in = data.get("expires_in")
        return verify_id, expires_in if isinstance(expires_in, int) else 3600

    async def query_verify_info(
        self, *, openid: str, verify_id: str, name: str, id_number: str, out_seq_no: str
    ) -> VerifyResult:
        """The real outcome of a face verification; the front end's success is not proof."""
        data = await self._post_with_token(
            PATH_QUERY_VERIFY_INFO,
            {
                "verify_id": verify_id,
                "out_seq_no": out_seq_no,
                "cert_hash": cert_hash(CERT_TYPE_ID_CARD, name, id_number),
                "openid": openid,
            },
        )
        verify_ret = data.get("verify_ret")
        if not isinstance(verify_ret, int):
            raise WeChatUnavailable(ERR_SYSTEM_BUSY, "malformed response", PATH_QUERY_VERIFY_INFO)
        return VerifyResult(
            passed=verify_ret == VERIFY_RET_PASS, verify_ret=verify_ret, detail=data
        )

    # -- content security and messages ----------------------------------------------------

    async def msg_sec_check(self, *, openid: str, content: str, scene: int) -> str:
        """Text moderation (v2): "pass", "review" or "risky".

        Scenes: 1 profile, 2 comment, 3 forum post, 4 social log. The user must have opened the
        mini-program within the last two hours or WeChat rejects the openid.
        """
        data = await self._post_with_token(
            PATH_MSG_SEC_CHECK,
            {"content": content, "version": 2, "scene": scene, "openid": openid},
        )
        result = data.get("result")
        suggest = result.get("suggest") if isinstance(result, dict) else None
        if suggest not in ("pass", "review", "risky"):
            raise WeChatUnavailable(ERR_SYSTEM_BUSY, "malformed response", PATH_MSG_SEC_CHECK)
        return str(suggest)

    async def send_subscribe_message(
        self,
        *,
        openid: str,
        template_id: str,
        data: dict[str, Any],
        page: str | None = None,
        miniprogram_state: str | None = None,
    ) -> str | None:
        """Send a subscribe message; returns WeChat's msgid (the MsgID of its later
        subscribe_msg_sent_event). 43101 means the user has no subscription for the template.

        ``data`` maps template keys to ``{"value": ...}`` or to the bare value.
        ``miniprogram_state`` ("developer" | "trial" | "formal") picks the version a tap opens.
        """
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {
                key: value if isinstance(value, dict) else {"value": str(value)}
                for key, value in data.items()
            },
        }
        if page is not None:
            body["page"] = page
        if miniprogram_state is not None:
            body["miniprogram_state"] = miniprogram_state
        data = await self._post_with_token(PATH_SUBSCRIBE_SEND, body)
        msgid = data.get("msgid")
        return str(msgid) if msgid is not None else None

    # -- transport -------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One HTTP call; maps every failure to WeChatError / WeChatUnavailable."""
        content = None
        headers = None
        if body is not None:
            # UTF-8 as is: WeChat counts characters in template values, not \\u escapes.
            content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            headers = {"Content-Type": "application/json; charset=utf-8"}
        try:
            response = await self._http.request(
                method, path, params=params, content=content, headers=headers
            )
        except httpx.TimeoutException as exc:
            log.warning("WeChat %s timed out", path)
            raise WeChatTimeout(ERR_SYSTEM_BUSY, "timeout", path) from exc
        except httpx.HTTPError as exc:
            log.warning("WeChat %s unreachable: %s", path, type(exc).__name__)
            raise WeChatUnavailable(
                ERR_SYSTEM_BUSY, f"network error: {type(exc).__name__}", path
            ) from exc

        if response.status_code >= 500:
            log.warning("WeChat %s answered HTTP %d", path, response.status_code)
            raise WeChatUnavailable(ERR_SYSTEM_BUSY, f"HTTP {response.status_code}", path)
        try:
            data = json.loads(response.content)
        except ValueError:
            data = None
        if response.status_code != 200:
            # WeChat answers errors with HTTP 200; anything else is a proxy or routing problem.
            errcode = data.get("errcode") if isinstance(data, dict) else None
            raise WeChatError(
                errcode if isinstance(errcode, int) and errcode else -response.status_code,
                f"HTTP {response.status_code}",
                path,
            )
        if not isinstance(data, dict):
            raise WeChatUnavailable(ERR_SYSTEM_BUSY, "response is not a JSON object", path)

        errcode = data.get("errcode", 0)
        if errcode:
            errmsg = str(data.get("errmsg", ""))
            log.warning("WeChat %s errcode %s: %s", path, errcode, errmsg)
            if not isinstance(errcode, int):
                raise WeChatUnavailable(ERR_SYSTEM_BUSY, f"bad errcode {errcode!r}", path)
            if errcode == ERR_SYSTEM_BUSY:
                raise WeChatUnavailable(errcode, errmsg, path)
            raise WeChatError(errcode, errmsg, path)
        return data
