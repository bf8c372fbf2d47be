"""The service's operations wiring (issue 12 item 9): a request id on every request, its log lines
and its response; request metrics; and `GET /metrics` for Prometheus, only from this host or with
the metrics token."""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
import time

from sanic import Request, Sanic
from sanic.exceptions import SanicException
from sanic.response import HTTPResponse, raw

from infra import observability as infra_observability
from infra.errors import NotFound
from infra.observability import METRICS_CONTENT_TYPE, REQUEST_ID, observe, render_metrics
from infra.runtime import Runtime
from infra.settings import Settings
from miniprogram_api.openapi_schemas import STR, api_doc

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's own id (a gateway's) is kept when it is plainly an id; anything else is replaced.
_CALLER_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


def install(app: Sanic, settings: Settings, *, served: bool) -> None:
    """`finish` is called by the app's one response middleware. No request middleware: each
    costs the hot paths µs; the id is made when first needed (a log line or the response), and
    Sanic's HTTP/1 server notes when a request reached its handler (under ASGI a request
    middleware does)."""
    infra_observability.current_request_id = _current_request_id
    if not served:  # an ASGI server (the tests): no HTTP/1 protocol notes the start
        app.on_request(_begin, priority=1000)

    @api_doc(
        "Prometheus 指标（仅本机或持有指标令牌者；其他请求 404）",
        "operations",
        STR,
        content_type="text/plain",
        errors=(404,),
    )
    async def metrics(request: Request) -> HTTPResponse:
        if not _may_scrape(request, settings):
            raise NotFound("请求的地址不存在")
        rt: Runtime = request.app.ctx.runtime
        return raw(await render_metrics(rt.redis, rt.keys), content_type=METRICS_CONTENT_TYPE)

    app.add_route(metrics, "/metrics", methods=["GET"], name="metrics")


def request_id(request: Request) -> str:
    """This request's id: a gateway's own when it is plainly one, else a new one; made once."""
    known: str | None = getattr(request.ctx, "request_id", None)
    if known is None:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        known = given if given and _CALLER_ID.match(given) else os.urandom(16).hex()
        request.ctx.request_id = known
    return known


def _current_request_id() -> str:
    try:
        return request_id(Request.get_current())
    except SanicException:  # not inside a request: whatever the caller set, or "-"
        return REQUEST_ID.get()


async def _begin(request: Request) -> None:
    request.ctx.started = time.perf_counter()


def finish(request: Request, response: HTTPResponse) -> None:
    response.headers[REQUEST_ID_HEADER] = request_id(request)
    started = getattr(request.stream, "perft0", None) or getattr(request.ctx, "started", None)
    if started is not None:
        route = request.route.path if request.route else "unmatched"
        observe(request.method, route, response.status, time.perf_counter() - started)


def _may_scrape(request: Request, settings: Settings) -> bool:
    """From this host (the socket's peer, never a forwarded header), or with the token."""
    token = settings.metrics_token
    given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if token and given and hmac.compare_digest(given.encode(), token.encode()):
        return True
    try:
        return ipaddress.ip_address(
            request.conn_info.client_ip if request.conn_info else ""
        ).is_loopback
    except ValueError:
        return False
