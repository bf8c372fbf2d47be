"""A fake WeChat API server speaking the real paths and payloads.

Why a real HTTP server and not a mocked client: the embedded demo mode and the tests then run the
production code path (httpx, JSON, errcodes, timeouts) unchanged, only ``WECHAT_API_BASE`` differs.
Standard library only, so it runs in-process (daemon thread) or standalone:

    python -m infra.wechat.fake --host 127.0.0.1 --port 9100

Login codes: ``demo-<name>`` → openid ``demo-openid-<name>`` (reusable); ``invalid`` / ``bad-*`` →
40029; ``risk-*`` → 40226 (high-risk user); ``busy-*`` → 45011; ``sys-*`` → -1; ``slow-*`` →
answers after 10 s; anything else → a deterministic openid, usable once (then 40163). A login
counts as a visit of the mini-program (``msg_sec_check`` wants one within two hours).

Test controls exist as methods and, for an out-of-process fake, over HTTP:
``POST /_fake/fail {"path","errcode","times"}``, ``POST /_fake/delay {"path","seconds","times"}``,
``GET /_fake/calls``, ``POST /_fake/reset``, ``POST /_fake/refuse {"openid"}``,
``POST /_fake/invalidate_tokens``, ``GET /_fake/sent_messages``,
``POST /_fake/advance_clock {"seconds"}``, ``POST /_fake/visit {"openid"}``,
``POST /_fake/face_result {"openid","verify_ret"}``.
``POST /_fake/subscribe {"openid","results"}`` (the user's answer in wx.requestSubscribeMessage),
``GET /_fake/pushes`` (the message-push events WeChat would send, taken once).

Subscribe messages are counted as WeChat counts them: the templates and the mini-program's page
list are the console's (config/messages.toml, read with the standard library); a one-time
template takes one message per acceptance, a long-term one any number once accepted.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import os
import re
import secrets
import signal
import threading
import time
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from stdnum.cn import ric

log = logging.getLogger(__name__)

PATH_JSCODE2SESSION = "/sns/jscode2session"
PATH_STABLE_TOKEN = "/cgi-bin/stable_token"  # noqa: S105 - an API path, not a password
PATH_GET_VERIFY_ID = "/cityservice/face/identify/getverifyid"
PATH_QUERY_VERIFY_INFO = "/cityservice/face/identify/queryverifyinfo"
PATH_MSG_SEC_CHECK = "/wxa/msg_sec_check"
PATH_SUBSCRIBE_SEND = "/cgi-bin/message/subscribe/send"

TOKEN_LIFETIME_SECONDS = 7200
VERIFY_ID_LIFETIME_SECONDS = 3600
SLOW_CODE_SECONDS = 10.0
# getStableAccessToken, "注意事项" (developers.weixin.qq.com/doc/service/api/base/
# api_getstableaccesstoken; developers.weixin.qq.com/minigame/dev/api-backend/open-api/
# access-token/auth.getStableAccessToken.html): "强制刷新模式每天限用 20 次且需间隔 30 秒";
# used again within 30 s it "不会刷新" (the current token comes back); "普通模式下平台会提前 5 分钟
# 更新 access_token".
# Whether a force_refresh call within the 30 s counts toward the 20 is not documented: it does
# here (the stricter reading). The errcode of the 21st forced refresh of a day is
# not documented: 45009 (the platform's daily-quota code) here.
FORCE_REFRESH_DAILY_LIMIT = 20
FORCE_REFRESH_INTERVAL_SECONDS = 30.0
TOKEN_EARLY_RENEWAL_SECONDS = 300
# msgSecCheck (developers.weixin.qq.com/miniprogram/dev/server/API/sec-center/sec-check/
# api_msgseccheck): "文本字数的上限为2500字"; "用户需在近两小时访问过小程序". The errcodes, from
# the interface's errcode table and WeChat's answers in the developer community: 61010
# "用户访问记录超时" (no visit in the last two hours), 43104 "appid 与 openid 不匹配". The errcode
# of an over-long text is not documented: 47001 (data format error, on the table) here.
MSG_SEC_CHECK_MAX_CHARS = 2500
VISIT_WINDOW_SECONDS = 2 * 3600
SHANGHAI = timezone(timedelta(hours=8))
REFUSING_OPENID = "demo-openid-refuse"
FACE_MISMATCH_NAME = "失败测试"

ERRMSGS: dict[int, str] = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40013: "invalid appid",
    40029: "invalid code",
    40226: "code blocked",
    40037: "invalid template_id",
    41030: "invalid page",
    40125: "invalid appsecret",
    40163: "code been used",
    41001: "access_token missing",
    41008: "missing code",
    42001: "access_token expired",
    43001: "require GET method",
    43002: "require POST method",
    43101: "user refuse to accept the msg",
    43104: "appid and openid not match",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit mustslower retry next minute",
    47001: "data format error",
    47003: "argument invalid!",
    61010: "code is expired",  # what WeChat answers for "user access log timeout"
}

# Subscribe-message value rules per key type (the key is the type plus a number, e.g. thing1).
# Loose on purpose: they catch what breaks in production (length, wrong type), not every nuance.
_CHINESE = r"\u3400-\u4dbf\u4e00-\u9fff"
_DATE = r"\d{4}([-/.年])\d{1,2}([-/.月])\d{1,2}日?"
_TIME = r"\d{1,2}:\d{2}(:\d{2})?"
_SUBSCRIBE_RULES: dict[str, Callable[[str], bool]] = {
    "thing": lambda v: len(v) <= 20,
    "number": lambda v: len(v) <= 32 and re.fullmatch(r"-?\d+(\.\d+)?", v) is not None,
    "letter": lambda v: re.fullmatch(r"[A-Za-z]{1,32}", v) is not None,
    "symbol": lambda v: len(v) <= 5,
    "character_string": lambda v: len(v) <= 32 and re.fullmatch(r"[\x21-\x7e]+", v) is not None,
    "time": lambda v: re.fullmatch(rf"({_DATE}\s*)?{_TIME}|{_DATE}", v) is not None,
    "date": lambda v: re.fullmatch(rf"{_DATE}(\s*{_TIME})?", v) is not None,
    "amount": lambda v: re.fullmatch(r"[¥￥$]?\d{1,10}(\.\d{1,2})?元?", v) is not None,
    "phone_number": lambda v: re.fullmatch(r"[\d+\-() ]{1,17}", v) is not None,
    "car_number": lambda v: len(v) <= 8,
    "name": lambda v: (
        re.fullmatch(rf"[{_CHINESE}·]{{1,10}}", v) is not None
        or re.fullmatch(r"[A-Za-z .'-]{1,20}", v) is not None
    ),
    "phrase": lambda v: re.fullmatch(rf"[{_CHINESE}]{{1,5}}", v) is not None,
}
_OUT_SEQ_NO = re.compile(r"[A-Za-z0-9_-]{5,32}")
_TEMPLATE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_SUBSCRIBE_KEY = re.compile(r"([a-z_]+?)(\d+)")

Reply = tuple[int, dict[str, Any]]
# The mini-program's account (原始ID), as message pushes name it in ToUserName.
ORIGINAL_ID = "gh_fake0000000"
_CONFIG = Path(os.environ.get("CONFIG_DIR", Path(__file__).resolve().parents[2] / "config"))


def console_settings(path: Path | None = None) -> tuple[dict[str, bool], tuple[str, ...]]:
    """(template id -> long-term, page list) as the mini-program's console has them: the same
    config/messages.toml the service reads, so the fake and the service agree."""
    try:
        with (path or _CONFIG / "messages.toml").open("rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        return {}, ()
    templates = {
        str(spec["template_id"]): bool(spec.get("long_term", False))
        for spec in raw.get("templates", {}).values()
    }
    return templates, tuple(raw.get("miniprogram", {}).get("pages", ()))


def _error(errcode: int, detail: str = "") -> Reply:
    """WeChat's error shape, with HTTP 200 as WeChat does."""
    errmsg = ERRMSGS.get(errcode, "fake failure")
    if detail:
        errmsg = f"{errmsg} {detail}"
    return 200, {"errcode": errcode, "errmsg": f"{errmsg} rid: {secrets.token_hex(6)}"}


def _ok(**fields: Any) -> Reply:
    return 200, {"errcode": 0, "errmsg": "ok", **fields}


def _b64(value: str) -> str:
    return base64.b64encode(value.encode("utf-8")).decode("ascii")


def _cert_hash(cert_info: dict[str, Any]) -> str:
    """Same rule as the official docs: sha256 hex of cert_type=b64&cert_name=b64&cert_no=b64."""
    joined = "&".join(
        f"{name}={_b64(str(cert_info.get(name, '')))}"
        for name in ("cert_type", "cert_name", "cert_no")
    )
    return hashlib.sha256(joined.encode("ascii")).hexdigest()


@dataclass
class _VerifySession:
    openid: str
    out_seq_no: str
    cert_info: dict[str, str]
    expires_at: float


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: FakeWeChat) -> None:
        super().__init__(address, _Handler)
        self.fake = fake

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up is expected here, not an error worth a traceback.
        log.debug("fake WeChat: connection from %s dropped", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeWeChat/1.0"

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        fake = cast(_Server, self.server).fake
        status, payload = fake.handle(method, self.path, raw)
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; encoding=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up (timeout); nothing to answer
            log.debug("fake WeChat: client went away before the reply")

    def log_message(self, format: str, *args: Any) -> None:
        # Never the query string: it carries the secret and access tokens.
        log.debug("fake WeChat %s %s", self.command, urlsplit(self.path).path)


class FakeWeChat:
    """In-process fake of the WeChat server APIs with knobs to provoke failures."""

    def __init__(
        self,
        appid: str = "wx-fake-appid",
        secret: str = "fake-secret",  # noqa: S107 - the fake's well-known secret
        host: str = "127.0.0.1",
        port: int = 0,
        templates: dict[str, bool] | None = None,
        pages: Iterable[str] | None = None,
    ) -> None:
        self.appid = appid
        self.secret = secret
        console_templates, console_pages = console_settings()
        # The console's settings, not state: reset() keeps them.
        self._templates = dict(console_templates if templates is None else templates)
        self._pages = set(console_pages if pages is None else pages)
        self._host = host
        self._port = port
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._init_state()

    def _init_state(self) -> None:
        self._calls: list[tuple[str, dict[str, Any]]] = []
        self._failures: dict[str, list[tuple[int, int]]] = {}
        self._delays: dict[str, list[float]] = {}
        self._used_codes: set[str] = set()
        self._tokens: dict[str, float] = {}  # token -> monotonic expiry
        self._current_token: str | None = None
        self._verify: dict[str, _VerifySession] = {}
        self._out_seq_nos: set[str] = set()
        self._refusing: set[str] = {REFUSING_OPENID}
        self._sent: list[dict[str, Any]] = []
        self._clock_offset = 0.0  # advance_clock(): the fake's time runs ahead of the real one
        self._last_forced_at: float | None = None
        self._forced_calls: dict[str, int] = {}  # Shanghai day -> force_refresh calls
        self._forced_refreshes = 0  # forced refreshes that did issue a new token
        self._visits: dict[str, float] = {}  # openid -> last visit (a login), fake monotonic
        self._face_results: dict[str, int] = {}  # openid -> verify_ret of its next query
        # (openid, template id) -> sends left; a long-term template's count is 1 while on
        self._credits: dict[tuple[str, str], int] = {}
        self._pushes: list[dict[str, Any]] = []

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> str:
        """Listen (port 0 picks a free one) and serve from a daemon thread; returns the base URL."""
        if self._server is not None:
            return self.base_url
        self._stopping.clear()
        self._server = _Server((self._host, self._port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-wechat",
            daemon=True,
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stop serving; requests sleeping in a delay are woken and answered."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeWeChat:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeWeChat is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- test controls --------------------------------------------------------------------

    @property
    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        """Every API call so far as (path, query params merged with the JSON body); a copy."""
        with self._lock:
            return list(self._calls)

    @property
    def sent_messages(self) -> list[dict[str, Any]]:
        """Subscribe messages accepted so far; a copy."""
        with self._lock:
            return list(self._sent)

    def calls_to(self, path: str) -> list[dict[str, Any]]:
        """The params of every call to ``path``."""
        return [params for called, params in self.calls if called == path]

    def fail_next(self, path: str, errcode: int, times: int = 1, *, http_status: int = 200) -> None:
        """Answer the next ``times`` calls to ``path`` with ``errcode`` (and ``http_status``)."""
        with self._lock:
            self._failures.setdefault(path, []).extend([(errcode, http_status)] * times)

    def delay_next(self, path: str, seconds: float, times: int = 1) -> None:
        """Hold the next ``times`` calls to ``path`` for ``seconds`` (provokes client timeouts)."""
        with self._lock:
            self._delays.setdefault(path, []).extend([seconds] * times)

    def refuse_subscriptions(self, openid: str) -> None:
        """Make subscribe messages to ``openid`` fail with 43101, as if the user declined."""
        with self._lock:
            self._refusing.add(openid)

    def invalidate_tokens(self) -> None:
        """Forget every access token issued, as a forced refresh elsewhere would."""
        with self._lock:
            self._tokens.clear()
            self._current_token = None

    def advance_clock(self, seconds: float) -> None:
        """Let the fake's time jump ahead (token lifetimes, the 30 s rule, days, visits)."""
        with self._lock:
            self._clock_offset += seconds

    def record_visit(self, openid: str) -> None:
        """The user opened the mini-program now (as a login does)."""
        with self._lock:
            self._visits[openid] = self._now()

    def set_face_result(self, openid: str, verify_ret: int) -> None:
        """The next queryverifyinfo of ``openid`` answers ``verify_ret`` (e.g. 90004: the user
        cancelled; 90008: no camera permission; 90017: timed out)."""
        with self._lock:
            self._face_results[openid] = verify_ret

    @property
    def forced_refreshes(self) -> int:
        """Forced refreshes that issued a new token (and voided the old ones)."""
        with self._lock:
            return self._forced_refreshes

    @property
    def valid_tokens(self) -> list[str]:
        """Access tokens WeChat would accept now."""
        with self._lock:
            now = self._now()
            return [token for token, expires_at in self._tokens.items() if expires_at > now]

    def _now(self) -> float:
        return time.monotonic() + self._clock_offset

    def _shanghai_day(self) -> str:
        return (datetime.now(SHANGHAI) + timedelta(seconds=self._clock_offset)).date().isoformat()

    def reset(self) -> None:
        """Back to the state of a fresh fake (keeps the server running)."""
        with self._lock:
            self._init_state()

    # -- subscribe messages and message push ---------------------------------------------

    def add_template(self, template_id: str, *, long_term: bool = False) -> None:
        """A template added in the console (besides config/messages.toml's)."""
        with self._lock:
            self._templates[template_id] = long_term

    def user_subscribes(self, openid: str, results: dict[str, str]) -> dict[str, str]:
        """The user answered wx.requestSubscribeMessage: per template id "accept" or "reject".
        WeChat gives "filter" for a template this app does not have; an acceptance of a
        one-time template is one more send, of a long-term one turns it on. WeChat then pushes
        subscribe_msg_popup_event (see take_pushes). Returns what the mini-program is told."""
        told: dict[str, str] = {}
        with self._lock:
            for template_id, result in results.items():
                if template_id not in self._templates:
                    told[template_id] = "filter"
                    continue
                told[template_id] = result
                if result == "accept":
                    key = (openid, template_id)
                    long_term = self._templates[template_id]
                    self._credits[key] = 1 if long_term else self._credits.get(key, 0) + 1
            self._queue_push(
                openid,
                "subscribe_msg_popup_event",
                [
                    {"TemplateId": t, "SubscribeStatusString": r, "PopupScene": "0"}
                    for t, r in told.items()
                    if r in ("accept", "reject")
                ],
            )
        return told

    def user_turns_off(self, openid: str, template_id: str) -> None:
        """The user set the template to 拒收 in WeChat's settings: no more sends of it until
        they accept again; WeChat pushes subscribe_msg_change_event."""
        with self._lock:
            self._credits.pop((openid, template_id), None)
            self._queue_push(
                openid,
                "subscribe_msg_change_event",
                [{"TemplateId": template_id, "SubscribeStatusString": "reject"}],
            )

    def credits(self, openid: str, template_id: str) -> int:
        with self._lock:
            return self._credits.get((openid, template_id), 0)

    def take_pushes(self) -> list[dict[str, Any]]:
        """The message-push events queued since the last call (JSON shape), oldest first."""
        with self._lock:
            pushes, self._pushes = self._pushes, []
        return pushes

    def deliver_pushes(
        self, url: str, *, token: str, aes_key: str | None = None, fmt: str = "json"
    ) -> list[int]:
        """POST the queued pushes to the server URL, as WeChat does; their HTTP statuses. For a
        service listening on a port (the embedded mode); tests hand push_request's requests to
        their in-process client instead."""
        from urllib.error import HTTPError
        from urllib.parse import urlencode
        from urllib.request import Request, urlopen

        statuses = []
        for message in self.take_pushes():
            query, body, content_type = self.push_request(
                message, token=token, aes_key=aes_key, fmt=fmt
            )
            request = Request(  # noqa: S310 - the configured server URL
                f"{url}?{urlencode(query)}", data=body, headers={"Content-Type": content_type}
            )
            try:
                with urlopen(request, timeout=5) as response:  # noqa: S310
                    statuses.append(response.status)
            except HTTPError as exc:
                statuses.append(exc.code)
        return statuses

    def _queue_push(self, openid: str, event: str, items: list[dict[str, Any]]) -> None:
        if not items:
            return
        self._pushes.append(
            {
                "ToUserName": ORIGINAL_ID,
                "FromUserName": openid,
                "CreateTime": int(time.time()),
                "MsgType": "event",
                "Event": event,
                "List": items,
            }
        )

    def push_request(
        self,
        message: dict[str, Any],
        *,
        token: str,
        aes_key: str | None = None,
        fmt: str = "json",
        timestamp: str | None = None,
        nonce: str | None = None,
    ) -> tuple[dict[str, str], bytes, str]:
        """The request WeChat makes to the server URL for `message`: (query, body, content
        type). Plain mode signs with `signature`; 安全模式 (`aes_key`, the EncodingAESKey)
        encrypts the message and adds `msg_signature` (message-push docs:
        https://developers.weixin.qq.com/miniprogram/dev/framework/server-ability/message-push.html)."""
        from wechatpy.crypto import PrpCrypto

        timestamp = timestamp or str(int(time.time()))
        nonce = nonce or secrets.token_hex(5)
        plain = _xml(message) if fmt == "xml" else json.dumps(message, ensure_ascii=False)
        query = {
            "signature": _sha1(token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
        }
        if aes_key is None:
            body = plain
        else:
            key = base64.b64decode(aes_key + "=")
            encrypted = PrpCrypto(key).encrypt(plain, self.appid)
            encrypt = encrypted.decode() if isinstance(encrypted, bytes) else encrypted
            query.update(
                encrypt_type="aes",
                msg_signature=_sha1(token, timestamp, nonce, encrypt),
                openid=str(message.get("FromUserName", "")),
            )
            envelope = {"ToUserName": ORIGINAL_ID, "Encrypt": encrypt}
            body = _xml(envelope) if fmt == "xml" else json.dumps(envelope)
        content_type = "text/xml" if fmt == "xml" else "application/json"
        return query, body.encode("utf-8"), content_type

    # -- dispatch -------------------------------------------------------------------------

    def handle(self, method: str, target: str, raw_body: bytes) -> Reply:
        """Answer one request; called from the handler threads."""
        parts = urlsplit(target)
        path = parts.path
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        body: Any = None
        body_ok = True
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                body_ok = False
        if path.startswith("/_fake/"):
            return self._control(method, path, body)

        recorded = dict(query)
        if isinstance(body, dict):
            recorded.update(body)
        with self._lock:
            self._calls.append((path, recorded))
            delays = self._delays.get(path)
            delay = delays.pop(0) if delays else 0.0
            failures = self._failures.get(path)
            failure = failures.pop(0) if failures else None
        if delay > 0:
            self._stopping.wait(delay)
        if failure is not None:
            errcode, http_status = failure
            if http_status != 200:
                return http_status, {"errcode": errcode, "errmsg": HTTPStatus(http_status).phrase}
            return _error(errcode)

        route = self._routes().get(path)
        if route is None:
            return 404, {"errcode": 404, "errmsg": "not found"}
        expected_method, needs_token, action = route
        if method != expected_method:
            return _error(43001 if expected_method == "GET" else 43002)
        if expected_method == "POST" and (not body_ok or not isinstance(body, dict)):
            return _error(47001)
        if needs_token:
            token_error = self._check_token(query.get("access_token"))
            if token_error is not None:
                return token_error
        return action(query if expected_method == "GET" else cast(dict[str, Any], body))

    def _routes(self) -> dict[str, tuple[str, bool, Callable[[dict[str, Any]], Reply]]]:
        return {
            PATH_JSCODE2SESSION: ("GET", False, self._jscode2session),
            PATH_STABLE_TOKEN: ("POST", False, self._stable_token),
            PATH_GET_VERIFY_ID: ("POST", True, self._get_verify_id),
            PATH_QUERY_VERIFY_INFO: ("POST", True, self._query_verify_info),
            PATH_MSG_SEC_CHECK: ("POST", True, self._msg_sec_check),
            PATH_SUBSCRIBE_SEND: ("POST", True, self._subscribe_send),
        }

    def _control(self, method: str, path: str, body: Any) -> Reply:
        args = body if isinstance(body, dict) else {}
        try:
            if method == "GET" and path == "/_fake/calls":
                return _ok(calls=[{"path": p, "params": params} for p, params in self.calls])
            if method == "GET" and path == "/_fake/sent_messages":
                return _ok(messages=self.sent_messages)
            if method == "GET" and path == "/_fake/pushes":
                return _ok(pushes=self.take_pushes())
            if method != "POST":
                return _error(43002)
            if path == "/_fake/fail":
                self.fail_next(
                    str(args["path"]),
                    int(args["errcode"]),
                    int(args.get("times", 1)),
                    http_status=int(args.get("http_status", 200)),
                )
            elif path == "/_fake/delay":
                self.delay_next(
                    str(args["path"]), float(args["seconds"]), int(args.get("times", 1))
                )
            elif path == "/_fake/reset":
                self.reset()
            elif path == "/_fake/refuse":
                self.refuse_subscriptions(str(args["openid"]))
            elif path == "/_fake/invalidate_tokens":
                self.invalidate_tokens()
            elif path == "/_fake/advance_clock":
                self.advance_clock(float(args["seconds"]))
            elif path == "/_fake/visit":
                self.record_visit(str(args["openid"]))
            elif path == "/_fake/face_result":
                self.set_face_result(str(args["openid"]), int(args["verify_ret"]))
            elif path == "/_fake/subscribe":
                results = args["results"]
                if not isinstance(results, dict):
                    raise TypeError("results must be an object")
                return _ok(results=self.user_subscribes(str(args["openid"]), results))
            else:
                return 404, {"errcode": 404, "errmsg": "not found"}
        except (KeyError, TypeError, ValueError) as exc:
            return _error(47001, f"({type(exc).__name__}: {exc})")
        return _ok()

    # -- auth -----------------------------------------------------------------------------

    def _check_app(self, appid: Any, secret: Any) -> Reply | None:
        if appid != self.appid:
            return _error(40013)
        if secret != self.secret:
            return _error(40125)
        return None

    def _check_token(self, token: str | None) -> Reply | None:
        if not token:
            return _error(41001)
        with self._lock:
            expires_at = self._tokens.get(token)
            now = self._now()
        if expires_at is None:
            return _error(40001)
        if expires_at <= now:
            return _error(42001)
        return None

    # -- APIs -----------------------------------------------------------------------------

    def _jscode2session(self, query: dict[str, Any]) -> Reply:
        app_error = self._check_app(query.get("appid"), query.get("secret"))
        if app_error is not None:
            return app_error
        if query.get("grant_type") != "authorization_code":
            return _error(40002)
        code = str(query.get("js_code") or "")
        if not code:
            return _error(41008)
        if code == "invalid" or code.startswith("bad-"):
            return _error(40029)
        if code.startswith("risk-"):
            # code2Session's errcode table: "40226 code blocked：高风险等级用户，小程序登录拦截"
            # (developers.weixin.qq.com/miniprogram/dev/server/API/user-login/api_code2session).
            return _error(40226)
        if code.startswith("busy-"):
            return _error(45011)
        if code.startswith("sys-"):
            return _error(-1)
        if code.startswith("slow-"):
            self._stopping.wait(SLOW_CODE_SECONDS)
        session_key = base64.b64encode(secrets.token_bytes(16)).decode("ascii")
        if code.startswith("demo-") and len(code) > len("demo-"):
            name = code[len("demo-") :]
            self.record_visit(f"demo-openid-{name}")
            return _ok(
                openid=f"demo-openid-{name}",
                session_key=session_key,
                unionid=f"demo-union-{name}",
            )
        with self._lock:
            if code in self._used_codes:
                return _error(40163)
            self._used_codes.add(code)
        digest = hashlib.sha256(f"{self.appid}:{code}".encode()).digest()
        openid = "o" + base64.urlsafe_b64encode(digest).decode("ascii")[:27]
        self.record_visit(openid)
        return _ok(openid=openid, session_key=session_key)

    def _stable_token(self, body: dict[str, Any]) -> Reply:
        if body.get("grant_type") != "client_credential":
            return _error(40002)
        app_error = self._check_app(body.get("appid"), body.get("secret"))
        if app_error is not None:
            return app_error
        force = body.get("force_refresh", False)
        if not isinstance(force, bool):
            return _error(47001)
        with self._lock:
            now = self._now()
            current = self._current_token
            left = self._tokens.get(current, 0.0) - now if current is not None else 0.0
            if not force:
                # Normal mode: the current token while it has more than 5 minutes left; then a
                # new one, the old one staying valid until it expires.
                if current is not None and left > TOKEN_EARLY_RENEWAL_SECONDS:
                    return _ok(access_token=current, expires_in=int(left))
                return _ok(access_token=self._issue_token(now), expires_in=TOKEN_LIFETIME_SECONDS)
            day = self._shanghai_day()
            calls = self._forced_calls.get(day, 0) + 1
            if calls > FORCE_REFRESH_DAILY_LIMIT:
                return _error(45009, "(force_refresh: 20 a day)")
            self._forced_calls[day] = calls
            recent = (
                self._last_forced_at is not None
                and now - self._last_forced_at < FORCE_REFRESH_INTERVAL_SECONDS
            )
            if recent and current is not None and left > 0:
                return _ok(access_token=current, expires_in=int(left))  # "不会刷新"
            # A forced refresh voids every token issued before, for every holder.
            self._tokens.clear()
            self._last_forced_at = now
            self._forced_refreshes += 1
            return _ok(access_token=self._issue_token(now), expires_in=TOKEN_LIFETIME_SECONDS)

    def _issue_token(self, now: float) -> str:
        """A new current token; the caller holds the lock."""
        token = secrets.token_urlsafe(48)
        self._tokens[token] = now + TOKEN_LIFETIME_SECONDS
        self._current_token = token
        return token

    def _get_verify_id(self, body: dict[str, Any]) -> Reply:
        out_seq_no, openid, cert_info = (
            body.get("out_seq_no"),
            body.get("openid"),
            body.get("cert_info"),
        )
        if not isinstance(out_seq_no, str) or not _OUT_SEQ_NO.fullmatch(out_seq_no):
            return _error(47001, "out_seq_no must be 5-32 chars of [A-Za-z0-9_-]")
        if not isinstance(openid, str) or not openid:
            return _error(47001, "openid missing")
        if not isinstance(cert_info, dict):
            return _error(47001, "cert_info missing")
        if cert_info.get("cert_type") != "IDENTITY_CARD":
            return _error(47001, "cert_type must be IDENTITY_CARD")
        for name in ("cert_name", "cert_no"):
            if not isinstance(cert_info.get(name), str) or not cert_info[name]:
                return _error(47001, f"{name} missing")
        verify_id = secrets.token_urlsafe(32)
        with self._lock:
            if out_seq_no in self._out_seq_nos:
                return _error(47001, "out_seq_no already used")
            self._out_seq_nos.add(out_seq_no)
            self._verify[verify_id] = _VerifySession(
                openid=openid,
                out_seq_no=out_seq_no,
                cert_info={k: cert_info[k] for k in ("cert_type", "cert_name", "cert_no")},
                expires_at=self._now() + VERIFY_ID_LIFETIME_SECONDS,
            )
        return _ok(verify_id=verify_id, expires_in=VERIFY_ID_LIFETIME_SECONDS)

    def _query_verify_info(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            session = self._verify.get(str(body.get("verify_id") or ""))
            now = self._now()
        if session is None or session.expires_at <= now:
            return _error(47003, "unknown or expired verify_id")
        if body.get("openid") != session.openid:
            return _error(47003, "openid does not match getverifyid")
        if body.get("out_seq_no") != session.out_seq_no:
            return _error(47003, "out_seq_no does not match getverifyid")
        if body.get("cert_hash") != _cert_hash(session.cert_info):
            return _error(47003, "cert_hash does not match cert_info")
        # verify_ret as queryVerifyInfo's enum lists it (developers.weixin.qq.com/miniprogram/dev/
        # server/API/face/api_queryverifyinfo): 10000 识别成功, 10001 参数错误, 10002 人脸特征检测
        # 失败, 10003 身份证号不匹配, 10004 比对人脸信息不匹配; 9xxxx: the phone's side (90002–90006
        # 用户取消, 90008–90010 相机/麦克风权限未授权, 90017 识别过程超时, …).
        with self._lock:
            override = self._face_results.pop(session.openid, None)
        if override is not None:
            verify_ret = override
        elif session.cert_info["cert_name"] == FACE_MISMATCH_NAME:
            verify_ret = 10004  # the face does not match the ID photo
        elif ric.is_valid(session.cert_info["cert_no"]):
            verify_ret = 10000
        else:
            verify_ret = 10003  # the ID number does not match
        return _ok(verify_ret=verify_ret)

    def _msg_sec_check(self, body: dict[str, Any]) -> Reply:
        content, openid, scene = body.get("content"), body.get("openid"), body.get("scene")
        if str(body.get("version")) != "2":
            return _error(47001, "version must be 2")
        if not isinstance(openid, str) or not openid:
            return _error(47001, "openid missing")
        if scene not in (1, 2, 3, 4):
            return _error(47001, "scene must be 1-4")
        if not isinstance(content, str) or not content:
            return _error(47001, "content missing")
        if len(content) > MSG_SEC_CHECK_MAX_CHARS:
            return _error(47001, f"content over {MSG_SEC_CHECK_MAX_CHARS} characters")
        with self._lock:
            visited = self._visits.get(openid)
            now = self._now()
        if visited is None:
            return _error(43104)  # never an openid of this appid
        if now - visited > VISIT_WINDOW_SECONDS:
            return _error(61010)
        if "违禁" in content:
            suggest, label, keyword = "risky", 20006, "违禁"
        elif "待审" in content:
            suggest, label, keyword = "review", 21000, "待审"
        else:
            suggest, label, keyword = "pass", 100, None
        detail: list[dict[str, Any]] = [
            {
                "strategy": "content_model",
                "errcode": 0,
                "suggest": suggest,
                "label": label,
                "prob": 90 if keyword else 0,
            },
        ]
        if keyword:
            detail.append(
                {
                    "strategy": "keyword",
                    "errcode": 0,
                    "suggest": suggest,
                    "label": label,
                    "level": 20,
                    "keyword": keyword,
                }
            )
        return _ok(
            result={"suggest": suggest, "label": label},
            detail=detail,
            trace_id=secrets.token_hex(12),
        )

    def _subscribe_send(self, body: dict[str, Any]) -> Reply:
        """sendMessage as WeChat answers it (errcode table of
        https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html):
        40003 bad openid, 40037 a template id this app does not have, 47003 a value breaking its
        type's rule, 41030 a page not in the mini-program's page list, 43101 no subscription
        (a one-time template: one send per acceptance)."""
        touser, template_id, data = body.get("touser"), body.get("template_id"), body.get("data")
        if not isinstance(touser, str) or not touser:
            return _error(40003)
        if not isinstance(template_id, str) or not _TEMPLATE_ID.fullmatch(template_id):
            return _error(40037)
        with self._lock:
            long_term = self._templates.get(template_id)
        if long_term is None:
            return _error(40037)
        page = body.get("page")
        if page is not None and not isinstance(page, str):
            return _error(47003, "page must be a string")
        if not isinstance(data, dict) or not data:
            return _error(47003, "data missing")
        for key, item in data.items():
            problem = self._subscribe_value_problem(key, item)
            if problem:
                return _error(47003, f"data.{key}.value {problem}")
        if page and page.split("?", 1)[0].lstrip("/") not in self._pages:
            return _error(41030)
        msgid = secrets.randbelow(10**18)
        with self._lock:
            key = (touser, template_id)
            if touser in self._refusing or self._credits.get(key, 0) <= 0:
                return _error(43101)
            if not long_term:
                self._credits[key] -= 1
            self._sent.append(
                {"touser": touser, "template_id": template_id, "page": page, "data": data}
            )
            self._queue_push(
                touser,
                "subscribe_msg_sent_event",
                [
                    {
                        "TemplateId": template_id,
                        "MsgID": str(msgid),
                        "ErrorCode": "0",
                        "ErrorStatus": "success",
                    }
                ],
            )
        return _ok(msgid=msgid)

    @staticmethod
    def _subscribe_value_problem(key: str, item: Any) -> str | None:
        match = _SUBSCRIBE_KEY.fullmatch(key)
        rule = _SUBSCRIBE_RULES.get(match.group(1)) if match else None
        if rule is None:
            return "has an unknown key type"
        value = item.get("value") if isinstance(item, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value:
            return "is empty"
        if not rule(value):
            return "exceeds limit or has a bad format"
        return None


def _sha1(*parts: str) -> str:
    """WeChat's push signature: SHA-1 of the parts sorted and joined."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()  # noqa: S324


def _xml(message: dict[str, Any]) -> str:
    """A push in WeChat's XML shape; the per-template list goes under the event's element."""

    def element(name: str, value: Any) -> str:
        if isinstance(value, int):
            return f"<{name}>{value}</{name}>"
        return f"<{name}><![CDATA[{str(value).replace(']]>', ']]]]><![CDATA[>')}]]></{name}>"

    parts = ["<xml>"]
    for name, value in message.items():
        if name == "List":
            holder = {
                "subscribe_msg_popup_event": "SubscribeMsgPopupEvent",
                "subscribe_msg_change_event": "SubscribeMsgChangeEvent",
                "subscribe_msg_sent_event": "SubscribeMsgSentEvent",
            }.get(str(message.get("Event")), "List")
            items = "".join(
                "<List>" + "".join(element(k, v) for k, v in item.items()) + "</List>"
                for item in value
            )
            parts.append(f"<{holder}>{items}</{holder}>")
        else:
            parts.append(element(name, value))
    parts.append("</xml>")
    return "".join(parts)


def main(argv: list[str] | None = None) -> None:
    """Run the fake standalone until interrupted."""
    parser = argparse.ArgumentParser(description="Fake WeChat API server for development.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--appid", default="wx-fake-appid")
    parser.add_argument("--secret", default="fake-secret")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    fake = FakeWeChat(appid=args.appid, secret=args.secret, host=args.host, port=args.port)
    url = fake.start()
    log.info("fake WeChat listening on %s (appid %s)", url, args.appid)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        fake.stop()
        log.info("fake WeChat stopped")


if __name__ == "__main__":
    main()
