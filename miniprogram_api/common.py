"""What every handler shares: the runtime, the caller's session, body validation, responses.

Validation messages are Chinese and per field (API.md: 422 with "fields")."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sanic import Request
from sanic.response import HTTPResponse, raw

from infra.errors import ApiError, BadRequest, Forbidden, Invalid, Unauthorized
from infra.json_encoding import encode_json
from infra.params import CONTROL_CHARACTER_MESSAGE, MAX_BIGINT, has_control_characters
from infra.runtime import Runtime
from infra.security import ratelimit
from infra.security.sessions import Session, load_session
from scenarios.merchants.h5 import content_security_policy

Body = TypeVar("Body", bound=BaseModel)

CHANNELS = {"miniprogram", "h5", "api"}

# pydantic error type -> Chinese message shown to the user
_MESSAGES = {
    "missing": "必填",
    "string_type": "须为文本",
    "bool_type": "须为 true 或 false",
    "bool_parsing": "须为 true 或 false",
    "int_type": "须为整数",
    "int_parsing": "须为整数",
    "list_type": "须为列表",
    "string_too_short": "内容太短",
    "string_too_long": "内容太长",
    "too_long": "数量过多",
    "literal_error": "取值不在允许范围内",
    "enum": "取值不在允许范围内",
    "extra_forbidden": "不支持的字段",
    "greater_than_equal": "数值太小",
    "less_than_equal": "数值太大",
}


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.ctx.runtime  # set by the app factory's before_server_start
    return rt


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("请先登录", code="TOKEN_MISSING")
    token = token.strip()
    if len(token) > 200:
        raise Unauthorized("登录凭证无效，请重新登录", code="TOKEN_INVALID")
    return token


async def require_session(request: Request, *roles: str) -> Session:
    """The caller's live session, 401 without one; 403 when none of `roles` is theirs."""
    rt = runtime(request)
    session = await load_session(rt.redis, rt.keys, bearer_token(request))
    if session is None:
        raise Unauthorized("登录已失效，请重新登录", code="TOKEN_INVALID")
    if roles and not session.has_role(*roles):
        raise Forbidden("当前账号无权进行此操作", code="ROLE_REQUIRED")
    return session


def channel(request: Request) -> str:
    value = request.headers.get("x-client-channel", "miniprogram")
    return value if value in CHANNELS else "api"


def client_ip(request: Request) -> str:
    """The client's address: the socket's peer, or behind PROXIES_COUNT trusted proxies the
    X-Forwarded-For entry the outermost of them wrote (Sanic's `remote_addr`, configured by the
    app factory). Never a header the client could have chosen."""
    return request.remote_addr or request.ip or "unknown"


async def limit_per_client(request: Request, session: Session, bucket: str) -> None:
    """429 with Retry-After once the caller, or their address, is past `bucket`'s limits
    ([rate_limits] <bucket> and <bucket>_address)."""
    rt = runtime(request)
    await ratelimit.enforce_per_client(
        rt.redis, rt.keys, bucket, session.user_id, client_ip(request), rt.settings.rate_limits
    )


# What a JSON body may be: the largest (an offline sync of a day's redemptions) is far smaller.
MAX_JSON_BYTES = 1024 * 1024


def parse_body(request: Request, model: type[Body]) -> Body:
    body = request.body or b"null"
    if len(body) > MAX_JSON_BYTES:
        raise ApiError("请求内容过大", code="BODY_TOO_LARGE", status=413)
    try:
        payload = json.loads(body)
    except RecursionError as exc:  # nested thousands deep
        raise BadRequest("请求内容嵌套过深", code="BAD_JSON") from exc
    except (UnicodeDecodeError, ValueError) as exc:  # incl. integers of more than 4,300 digits
        raise BadRequest("请求内容不是有效的 JSON", code="BAD_JSON") from exc
    if not isinstance(payload, dict):
        raise BadRequest("请求内容须为 JSON 对象", code="BAD_JSON")
    _refuse_unstorable(payload)
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise Invalid(fields=_field_messages(exc)) from exc


def _refuse_unstorable(payload: dict[str, Any]) -> None:
    """Every value of a body, before any model sees it: no integer beyond the database's BIGINT
    (ids, counts: 2**63 names nothing) and no control character in any text (PostgreSQL cannot
    store U+0000, and none belongs in a name or a reason). 422 naming the field."""
    stack: list[tuple[str, Any]] = [("", payload)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                name = f"{where}.{key}" if where else str(key)
                if has_control_characters(str(key)):
                    raise Invalid(fields={where or "body": CONTROL_CHARACTER_MESSAGE})
                stack.append((name, item))
        elif isinstance(value, list):
            stack.extend((f"{where}.{index}", item) for index, item in enumerate(value))
        elif isinstance(value, str):
            if has_control_characters(value):
                raise Invalid(fields={where: CONTROL_CHARACTER_MESSAGE})
        elif isinstance(value, int) and not isinstance(value, bool):
            if not -MAX_BIGINT <= value <= MAX_BIGINT:
                raise Invalid(fields={where: "数值太大"})


def _field_messages(exc: ValidationError) -> dict[str, str]:
    fields: dict[str, str] = {}
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]) or "body"
        if error["type"] == "value_error":
            message = str(error.get("ctx", {}).get("error", "")) or "取值无效"
        else:
            message = _MESSAGES.get(error["type"], "取值无效")
        fields.setdefault(name, message)
    return fields


def json_body(data: Any, status: int = 200) -> HTTPResponse:
    return raw(
        encode_json(data),
        status=status,
        content_type="application/json",
    )


def json_bytes(body: bytes, status: int = 200) -> HTTPResponse:
    """Ready JSON (e.g. straight from the cache) without parsing it again."""
    return raw(body, status=status, content_type="application/json")


H5_HEADERS = {"Cache-Control": "no-cache"}


def h5_page(page: bytes, status: int = 200, headers: dict[str, str] | None = None) -> HTTPResponse:
    """An H5 page (plates, public lists, report checks) with the policy that allows exactly its
    one stylesheet, by hash; `headers` add to or override the default caching."""
    policy = {"Content-Security-Policy": content_security_policy(page)}
    return raw(
        page,
        status=status,
        content_type="text/html; charset=utf-8",
        headers=H5_HEADERS | (headers or {}) | policy,
    )
