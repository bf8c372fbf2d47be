"""Async client for the WeChat mini-program server APIs we use.

Why not wechatpy: its HTTP layer is synchronous and would block the event loop (DESIGN.md §2).
Why Redis for the access token: WeChat allows only a limited number of token fetches a day and a
forced refresh invalidates the previous token, so every worker and process must share one token
and only one of them may refresh it at a time.

A rejected token (40001 / 40014 / 42001) is replaced the way getStableAccessToken's notes ask
(developers.weixin.qq.com/doc/service/api/base/api_getstableaccesstoken, "注意事项"): first in
normal mode (``force_refresh: false``), which hands out the current valid token, e.g. the one
another deployment of the same appid has just forced; a forced refresh only when normal mode
hands back the very token WeChat rejected, at most once per interval for the whole deployment
(a Redis gate; WeChat ignores a second one within 30 s) and never more than the daily allowance
(WeChat's is 20). Waiting for another worker's refresh is bounded, and a failed refresh is
remembered for a moment, so waiters answer 503 together instead of retrying one after another.

Idempotent calls (normal-mode token, msg_sec_check, queryverifyinfo) are retried once on -1, a
timeout or a network failure; the others are not (a login code is single-use, getverifyid's
out_seq_no too, a subscribe message would arrive twice). Every call runs under one overall
deadline (``deadline()``, shared by the calls of one request), after which it raises
``WeChatDeadlineExceeded`` at once: a request never hangs on WeChat.

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
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, ClassVar

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
# msgSecCheck: "文本字数的上限为2500字" (developers.weixin.qq.com/miniprogram/dev/server/API/
# sec-center/sec-check/api_msgseccheck).
MSG_SEC_CHECK_MAX_CHARS = 2500

ERR_SYSTEM_BUSY = -1
# 40001 invalid credential, 40014 invalid access_token, 42001 access_token expired.
TOKEN_INVALID_ERRCODES = frozenset({40001, 40014, 42001})
VERIFY_RET_PASS = 10000
CERT_TYPE_ID_CARD = "IDENTITY_CARD"

TOKEN_TTL_MARGIN_SECONDS = 300
RETRY_AFTER_SECONDS = 5  # what a 503 tells the mini-program when WeChat did not answer
_LOCK_POLL_SECONDS = 0.05
_FAILURE_MEMORY_MS = 2000  # waiters of a refresh that just failed give up instead of retrying
_RETRY_BACKOFF_SECONDS = 0.2
_SHANGHAI = timezone(timedelta(hours=8))  # WeChat's daily quotas follow Beijing time (assumed)
# The overall deadline (loop time) of the WeChat calls of the current request, if one is set.
_deadline: ContextVar[float | None] = ContextVar("wechat_deadline", default=None)
_REDACTED_QUERY_PARAMS = ("secret", "access_token", "js_code")


class WeChatError(Exception):
    """WeChat answered with a non-zero errcode (or could not be used at all)."""

    def __init__(self, errcode: int, errmsg: str, path: str) -> None:
        super().__init__(f"WeChat {path}: errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.path = path


class WeChatUnavailable(WeChatError):
    """Transient failure worth retrying later: network error, timeout, HTTP 5xx, errcode -1.
    ``retry_after``: seconds the caller may tell its client to wait."""

    def __init__(
        self, errcode: int, errmsg: str, path: str, *, retry_after: int = RETRY_AFTER_SECONDS
    ) -> None:
        super().__init__(errcode, errmsg, path)
        self.retry_after = max(1, retry_after)


class WeChatTimeout(WeChatUnavailable):
    """No answer in time: unlike the other failures, WeChat may have done what was asked (the
    outbox waits for WeChat's report before sending such a message again)."""


class WeChatDeadlineExceeded(WeChatTimeout):
    """The overall deadline of the request's WeChat calls has passed; nothing more is tried. A
    call cut short by it may have reached WeChat, so it is a timeout too (the outbox reconciles
    before resending; one refused before it was sent only waits a little longer)."""


@dataclass(frozen=True)
class CodeSession:
    """Result of jscode2session; ``session_key`` must never leave the server."""

    openid: str
    session_key: str = field(repr=False)
    unionid: str | None = None


class FaceOutcome:
    """What a queryverifyinfo ``verify_ret`` says happened, from the interface's enum
    (developers.weixin.qq.com/miniprogram/dev/server/API/face/api_queryverifyinfo): 10000
    识别成功, 10001 参数错误, 10002 人脸特征检测失败, 10003 身份证号不匹配, 10004 比对人脸信息
    不匹配; 9xxxx happened on the phone before any comparison (90000 is their base)."""

    PASSED = "passed"
    FACE_MISMATCH = "face_mismatch"  # 10002, 10004: the face is not the ID's holder (or unusable)
    ID_MISMATCH = "id_mismatch"  # 10003: name and ID number are not one identity
    REQUEST_INVALID = "request_invalid"  # 10001: our request was wrong, not the user
    CANCELLED = "cancelled"  # 90002–90006, 90024: the user left the check
    PERMISSION = "permission"  # 90008–90010: no camera / microphone permission
    TIMEOUT = "timeout"  # 90017, 90107
    DEVICE = "device"  # 90001, 90109: the phone cannot do face detection
    NETWORK = "network"  # 90007, 90012, 90019–90021
    CAPTURE = "capture"  # 90011, 90013, 90014, 90023: no usable face data captured
    CLIENT_ERROR = "client_error"  # any other 9xxxx: WeChat's side on the phone
    UNKNOWN = "unknown"  # anything else

    _BY_RET: ClassVar[dict[int, str]] = {
        10000: PASSED,
        10001: REQUEST_INVALID,
        10002: FACE_MISMATCH,
        10003: ID_MISMATCH,
        10004: FACE_MISMATCH,
        **dict.fromkeys((90002, 90003, 90004, 90005, 90006, 90024), CANCELLED),
        **dict.fromkeys((90008, 90009, 90010), PERMISSION),
        **dict.fromkeys((90017, 90107), TIMEOUT),
        **dict.fromkeys((90001, 90109), DEVICE),
        **dict.fromkeys((90007, 90012, 90019, 90020, 90021), NETWORK),
        **dict.fromkeys((90011, 90013, 90014, 90023), CAPTURE),
    }

    @classmethod
    def of(cls, verify_ret: int) -> str:
        known = cls._BY_RET.get(verify_ret)
        if known is not None:
            return known
        return cls.CLIENT_ERROR if 90000 <= verify_ret <= 99999 else cls.UNKNOWN


@dataclass(frozen=True)
class VerifyResult:
    """Result of queryverifyinfo; ``passed`` only when verify_ret is 10000."""

    passed: bool
    verify_ret: int
    detail: dict[str, Any]

    @property
    def outcome(self) -> str:
        return FaceOutcome.of(self.verify_ret)


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
        deadline: float = 8.0,
        token_wait: float = 3.0,
        force_refresh_interval: float = 30.0,
        force_refresh_daily_limit: int = 20,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._appid = appid
        self._secret = secret
        self._redis = redis
        self._timeout = timeout
        self._deadline_seconds = deadline
        self._token_wait = token_wait
        self._force_interval = force_refresh_interval
        self._force_daily_limit = force_refresh_daily_limit
        self._keys = keys
        self._token_key = keys.wechat_access_token
        self._lock_key = keys.wechat_access_token_lock
        self._failed_key = keys.wechat_access_token_failed
        # The lock outlives the holder's work (a normal-mode fetch and its retry, then a forced
        # one) with margin, so a crashed holder frees it.
        self._lock_ms = int((timeout * 3 + 1) * 1000)
        self._http = httpx.AsyncClient(
            base_url=api_base.rstrip("/"),
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={"Accept": "application/json"},
        )

    async def aclose(self) -> None:
        """Close the HTTP connection pool (the Redis client belongs to the caller)."""
        await self._http.aclose()

    @asynccontextmanager
    async def deadline(self, seconds: float | None = None) -> AsyncIterator[None]:
        """Every WeChat call inside shares one overall deadline (default: the configured one).
        Nested, the outer deadline holds; each public method opens one for itself, so a call
        outside any request (the outbox worker) is bounded too."""
        if _deadline.get() is not None:
            yield
            return
        loop = asyncio.get_running_loop()
        token = _deadline.set(loop.time() + (seconds or self._deadline_seconds))
        try:
            yield
        finally:
            _deadline.reset(token)

    def _remaining(self, path: str) -> float | None:
        """Seconds left before the deadline (None: no deadline); raises once it has passed."""
        until = _deadline.get()
        if until is None:
            return None
        left = until - asyncio.get_running_loop().time()
        if left <= 0:
            raise WeChatDeadlineExceeded(ERR_SYSTEM_BUSY, "deadline exceeded", path)
        return left

    # -- login -----------------------------------------------------------------------------

    async def code_to_session(self, code: str) -> CodeSession:
        """Exchange a ``wx.login`` code for the openid (the session_key stays server-side).
        Never retried: the code is single-use, and WeChat may have used it before a timeout."""
        async with self.deadline():
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

        ``force_refresh``: the cached token was rejected, replace it (normal mode first, a
        forced refresh only when WeChat still hands out the rejected one; see the module doc).
        """
        async with self.deadline():
            cached = await self._cached_token()
            if force_refresh:
                return await self._replace_rejected(cached)
            if cached:
                return cached
            return await self._under_lock(None, self._fetch_normal)

    async def _cached_token(self) -> str | None:
        return _as_str(await self._redis.get(self._token_key))

    async def _fetch_normal(self) -> str:
        token, ttl = await self._fetch_token(force=False)
        await self._store_token(token, ttl)
        return token

    async def _replace_rejected(self, rejected: str | None) -> str:
        async def replace() -> str:
            token, ttl = await self._fetch_token(force=False)
            if token != rejected:
                await self._store_token(token, ttl)
                return token
            log.warning("WeChat's normal mode hands back the rejected access token: forcing")
            return await self._forced_refresh()

        return await self._under_lock(rejected, replace)

    async def _under_lock(self, stale: str | None, fetch: Callable[[], Awaitable[str]]) -> str:
        """``fetch`` under the deployment's Redis lock, unless a token other than ``stale`` is
        (or, while waiting, becomes) cached. Waiting is bounded by ``token_wait`` and the
        deadline; a holder's failure is remembered for a moment and ends every wait with it."""
        loop = asyncio.get_running_loop()
        wait_until = loop.time() + self._token_wait
        while True:
            cached = await self._cached_token()
            if cached and cached != stale:
                return cached
            failed = await self._redis.get(self._failed_key)
            if failed is not None:
                raise WeChatUnavailable(
                    ERR_SYSTEM_BUSY,
                    "the access token refresh just failed",
                    PATH_STABLE_TOKEN,
                    retry_after=int(_as_str(failed) or RETRY_AFTER_SECONDS),
                )
            lock = self._redis.lock(
                self._lock_key, timeout=self._lock_ms / 1000, blocking=False, thread_local=False
            )
            if await lock.acquire():
                try:
                    cached = await self._cached_token()
                    if cached and cached != stale:
                        return cached
                    try:
                        return await fetch()
                    except WeChatUnavailable as exc:
                        await self._redis.set(
                            self._failed_key, str(exc.retry_after), px=_FAILURE_MEMORY_MS
                        )
                        raise
                finally:
                    await self._release_lock(lock)
            self._remaining(PATH_STABLE_TOKEN)  # raises past the deadline
            if loop.time() >= wait_until:
                raise WeChatUnavailable(
                    ERR_SYSTEM_BUSY, "timed out waiting for the access token", PATH_STABLE_TOKEN
                )
            await asyncio.sleep(_LOCK_POLL_SECONDS)

    async def _forced_refresh(self) -> str:
        """A forced refresh, if the deployment's gate and daily allowance let it through."""
        gate = self._keys.wechat_force_refresh_gate
        if not await self._redis.set(gate, "1", nx=True, ex=max(1, int(self._force_interval))):
            wait = await self._redis.ttl(gate)
            raise WeChatUnavailable(
                ERR_SYSTEM_BUSY,
                "a forced refresh was made moments ago",
                PATH_STABLE_TOKEN,
                retry_after=wait if wait > 0 else RETRY_AFTER_SECONDS,
            )
        now = datetime.now(_SHANGHAI)
        counter = self._keys.wechat_force_refresh_count(now.date().isoformat())
        used = await self._redis.incr(counter)
        if used == 1:
            await self._redis.expire(counter, 2 * 86400)
        if used > self._force_daily_limit:
            midnight = datetime.combine(
                now.date() + timedelta(days=1), datetime.min.time(), _SHANGHAI
            )
            log.error(
                "WeChat access token: the daily allowance of %d forced refreshes is used up",
                self._force_daily_limit,
            )
            raise WeChatUnavailable(
                ERR_SYSTEM_BUSY,
                "daily allowance of forced refreshes used up",
                PATH_STABLE_TOKEN,
                retry_after=int((midnight - now).total_seconds()) + 1,
            )
        token, ttl = await self._fetch_token(force=True)
        await self._store_token(token, ttl)
        return token

    async def _fetch_token(self, *, force: bool) -> tuple[str, int]:
        """(token, seconds to cache it); normal mode is retried once, a forced refresh never."""
        send = self._send if force else self._send_retrying
        data = await send(
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
        return token, max(expires_in - TOKEN_TTL_MARGIN_SECONDS, 1)

    async def _store_token(self, token: str, ttl: int) -> None:
        await self._redis.set(self._token_key, token, ex=ttl)
        log.info("WeChat access token stored (cached for %d s)", ttl)

    async def _release_lock(self, lock: Lock) -> None:
        # redis-py's Lock compares its token before deleting: a holder that overran its lock
        # cannot free someone else's.
        try:
            await lock.release()
        except Exception:  # the lock expires by itself; never mask the real outcome
            log.warning("could not release the WeChat access token lock", exc_info=True)

    async def _post_with_token(
        self, path: str, body: dict[str, Any], *, idempotent: bool = False
    ) -> dict[str, Any]:
        """POST with the shared token; on a rejected token, replace it and try once more.
        ``idempotent`` calls are also retried once on -1 or a timeout."""
        send = self._send_retrying if idempotent else self._send
        async with self.deadline():
            token = await self.access_token()
            try:
                return await send("POST", path, params={"access_token": token}, body=body)
            except WeChatError as exc:
                if exc.errcode not in TOKEN_INVALID_ERRCODES:
                    raise
                log.warning(
                    "WeChat rejected the access token on %s (errcode %d)", path, exc.errcode
                )
            token = await self._replace_rejected(token)
            return await send("POST", path, params={"access_token": token}, body=body)

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
        """The real outcome of a face verification; the front end's success is not proof.
        A query: retried once on -1 or a timeout."""
        data = await self._post_with_token(
            PATH_QUERY_VERIFY_INFO,
            {
                "verify_id": verify_id,
                "out_seq_no": out_seq_no,
                "cert_hash": cert_hash(CERT_TYPE_ID_CARD, name, id_number),
                "openid": openid,
            },
            idempotent=True,
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
        mini-program within the last two hours (else 61010), the content is at most
        ``MSG_SEC_CHECK_MAX_CHARS`` characters (callers split longer text). Retried once on -1
        or a timeout.
        """
        data = await self._post_with_token(
            PATH_MSG_SEC_CHECK,
            {"content": content, "version": 2, "scene": scene, "openid": openid},
            idempotent=True,
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

    async def _send_retrying(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``_send``, once more after a short pause on -1, a timeout or a network failure (for
        idempotent calls only); never past the deadline."""
        try:
            return await self._send(method, path, params=params, body=body)
        except WeChatDeadlineExceeded:
            raise
        except WeChatUnavailable as exc:
            log.info("WeChat %s failed (%s): retrying once", path, exc.errmsg)
        remaining = self._remaining(path)
        pause = (
            _RETRY_BACKOFF_SECONDS if remaining is None else min(_RETRY_BACKOFF_SECONDS, remaining)
        )
        await asyncio.sleep(pause)
        return await self._send(method, path, params=params, body=body)

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
        remaining = self._remaining(path)
        capped = remaining is not None and remaining < self._timeout
        timeout = remaining if capped and remaining is not None else self._timeout
        try:
            response = await self._http.request(
                method,
                path,
                params=params,
                content=content,
                headers=headers,
                timeout=httpx.Timeout(timeout),
            )
        except httpx.TimeoutException as exc:
            log.warning("WeChat %s timed out", path)
            if capped:
                raise WeChatDeadlineExceeded(ERR_SYSTEM_BUSY, "deadline exceeded", path) from exc
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
