"""The Sanic application factory: the composition root's wiring of handlers, runtime and
background work."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import os
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sanic import Request, Sanic
from sanic.exceptions import SanicException
from sanic.response import HTTPResponse
from sanic_ext.extensions.openapi.builders import SpecificationBuilder
from tortoise.exceptions import DBConnectionError

import console
from credit import store_changes
from credit.applications.service import notify_overdue_repairs
from credit.person_names import seal_stored_names
from credit.workdays import warn_of_estimated_years
from infra import audit, notifications
from infra.errors import ApiError
from infra.faults import OUTAGES, unavailable_part
from infra.observability import DEPENDENCY_ERRORS, LogFormat, configure_logging
from infra.runtime import Runtime, start_runtime, stop_runtime
from infra.settings import Settings, load_settings
from miniprogram_api import (
    applications,
    auth,
    console_tickets,
    credit,
    enterprises,
    health,
    incentives,
    integrity,
    merchants,
    messages,
    oversight,
    public,
    reports,
    review,
    uploads,
)
from miniprogram_api.common import json_body
from miniprogram_api.openapi_schemas import ANY_OBJECT, api_doc, document_handlers, finalise
from server import http_hygiene, languages, observability
from server.drainer import run_drainer_process
from server.schema import SCHEMA
from server.supervisor import WorkerSupervisor, exit_with_manager

log = logging.getLogger(__name__)

_app_numbers = itertools.count()

# Sanic's own exceptions (routing, body size, bad HTTP) in the API's error shape, in Chinese.
_SANIC_ERRORS = {
    400: ("BAD_REQUEST", "请求格式有误"),
    401: ("UNAUTHORIZED", "请先登录"),
    403: ("FORBIDDEN", "无权访问"),
    404: ("NOT_FOUND", "请求的地址不存在"),
    405: ("METHOD_NOT_ALLOWED", "不支持该请求方法"),
    408: ("REQUEST_TIMEOUT", "请求超时"),
    413: ("PAYLOAD_TOO_LARGE", "上传内容过大"),
    416: ("RANGE_NOT_SATISFIABLE", "请求范围无效"),
    503: ("SERVICE_UNAVAILABLE", "服务暂时不可用，请稍后再试"),
}


def create_app(
    settings: Settings | None = None,
    runtime: Runtime | None = None,
    *,
    migrate_on_start: bool = True,
    log_format: LogFormat | None = None,
) -> Sanic:
    """`runtime` lets a caller that already holds one (tests, tools) share it with the app;
    otherwise each worker starts its own at server start and stops it at server stop.
    `log_format`: a served process's logging (`python -m server serve`; tests, which serve
    through ASGI, keep pytest's)."""
    settings = settings or (runtime.settings if runtime else load_settings())
    number = next(_app_numbers)
    app = Sanic("credit_alxa" if number == 0 else f"credit_alxa_{number}")
    if log_format is not None:  # after Sanic's own logging set-up, which it replaces
        configure_logging(log_format)
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.ACCESS_LOG = settings.access_log
    app.config.REQUEST_MAX_SIZE = 20 * 1024 * 1024
    app.config.OAS_URL_PREFIX = "/docs"
    app.config.CORS = False
    http_hygiene.install(app, settings)  # headers, self-hosted /docs (not in production), log
    # The client address (miniprogram_api.common.client_ip): X-Forwarded-For only as far as our
    # own proxies wrote it; no other header (a SANIC_REAL_IP_HEADER or a Forwarded secret from the
    # environment) is believed.
    app.config.PROXIES_COUNT = settings.proxies_count
    app.config.REAL_IP_HEADER = None
    app.config.FORWARDED_SECRET = None
    app.ext.openapi.describe(
        "信用阿拉善 API",
        version="1",
        description="信用阿拉善小程序与 H5 页面的后端接口（见 API.md）。",
    )
    app.ext.openapi.add_security_scheme("token", "http", scheme="bearer")
    app.ctx.settings = settings
    app.ctx.runtime = runtime
    app.ctx.owns_runtime = runtime is None
    app.ctx.migrate_on_start = migrate_on_start
    languages.register_names()

    for blueprint in (
        health.bp,
        auth.bp,
        credit.bp,
        uploads.bp,
        applications.bp,
        enterprises.bp,
        review.bp,
        oversight.bp,
        merchants.bp,
        merchants.h5,
        incentives.bp,
        messages.bp,
        messages.push,
        public.bp,
        public.h5,
        integrity.bp,
        reports.bp,
        reports.h5_bp,
        console_tickets.bp,
        console.api,
        console.bp,
    ):
        app.blueprint(blueprint)

    if not settings.production:

        @app.get("/openapi.json")
        @api_doc("本 OpenAPI 3.1 文档", "operations", ANY_OBJECT)
        async def openapi_json(request: Request) -> HTTPResponse:
            return json_body(finalise(SpecificationBuilder().build(request.app).serialize()))

    observability.install(app, settings, served=log_format is not None)
    if not settings.production:
        document_handlers()  # every route is added by now; sanic-ext builds the spec at start
    app.on_response(_on_response, priority=-1000)

    app.error_handler.add(ApiError, _api_error)
    app.error_handler.add(SanicException, _sanic_error)
    for unreachable in (RedisConnectionError, RedisTimeoutError, DBConnectionError):
        app.error_handler.add(unreachable, _dependency_down)
    app.error_handler.add(Exception, _unexpected_error)

    app.main_process_ready(_start_drainer_process)
    app.main_process_ready(_start_supervisor)
    app.main_process_stop(_stop_supervisor)
    app.before_server_start(_start)
    app.after_server_stop(_stop)
    return app


async def _start_drainer_process(app: Sanic, _loop: Any = None) -> None:
    """Under Sanic's worker manager (every multi-process serve), the audit stream is drained by
    one process of its own beside the HTTP workers: draining inside the workers cost them ~13%
    of their CPU and the p99 tail. Single-process serving (embedded default, tests) never gets
    here and drains in a task instead (see _start).

    Not with the in-process cache (the embedded default): a process of its own would have a
    cache of its own, empty, and drain nothing; the single worker drains its own stream."""
    if app.ctx.settings.uses_fakeredis:
        return
    app.manager.manage(
        "AuditDrainer", run_drainer_process, {"settings": app.ctx.settings}, restartable=True
    )


async def _start_supervisor(app: Sanic, _loop: Any = None) -> None:
    """A worker (or the drainer) that dies is replaced (server/supervisor.py)."""
    app.ctx.supervisor = WorkerSupervisor(app.manager)
    app.ctx.supervisor.start()


async def _stop_supervisor(app: Sanic, _loop: Any = None) -> None:
    supervisor = getattr(app.ctx, "supervisor", None)
    if supervisor is not None:
        supervisor.stop.set()


def _drainer_in_own_process(settings: Settings) -> bool:
    """Workers started by the manager carry SANIC_WORKER_NAME; the manager then also runs
    _start_drainer_process, which starts the drainer process unless the cache is in-process."""
    return bool(os.environ.get("SANIC_WORKER_NAME")) and not settings.uses_fakeredis


async def _start(app: Sanic, _loop: Any = None) -> None:
    exit_with_manager()  # a worker of a multi-process serve stops when its manager dies
    warn_of_estimated_years()  # due dates over a year not yet announced are estimates
    if app.ctx.runtime is None:
        app.ctx.runtime = await start_runtime(
            app.ctx.settings, SCHEMA, apply_migrations=app.ctx.migrate_on_start, serving=True
        )
    rt: Runtime = app.ctx.runtime
    sealed = await seal_stored_names(rt.cipher)  # rows from before migration 0013
    if sealed:
        log.info("encrypted %d persons' names stored in plain before", sealed)
    app.ctx.stop_background = asyncio.Event()
    app.ctx.background = [
        asyncio.create_task(notifications.run_outbox(rt.wechat, app.ctx.stop_background)),
        asyncio.create_task(_overdue_notices(app.ctx.stop_background)),
    ]
    if rt.settings.uses_fakeredis:  # the importer cannot reach this cache: follow its notes
        app.ctx.background.append(
            asyncio.create_task(store_changes.follow(rt.redis, rt.keys, app.ctx.stop_background))
        )
    app.ctx.drains_here = not _drainer_in_own_process(rt.settings)
    if app.ctx.drains_here:
        app.ctx.background.append(
            asyncio.create_task(audit.run_drainer(rt.redis, rt.keys, app.ctx.stop_background))
        )
    if os.environ.get("SANIC_WORKER_NAME"):
        # A worker of a multi-process serve: everything loaded so far lives as long as the
        # process. Freezing it keeps the collector's full passes off those ~80k objects: each
        # pass took tens of ms, the warm /me/credit p99 at 64 connections (~52 ms → ~15 ms).
        gc.freeze()


OVERDUE_CHECK_SECONDS = 3600.0


async def _overdue_notices(stop: asyncio.Event, interval: float = OVERDUE_CHECK_SECONDS) -> None:
    """Hourly in every worker: repairs past their due date tell their applicant (once: the
    notification's dedupe key is unique, so workers racing each other make one)."""
    while not stop.is_set():
        try:
            await notify_overdue_repairs()
        except Exception:
            log.exception("overdue repair notices failed; tried again next hour")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


async def _stop(app: Sanic, _loop: Any = None) -> None:
    app.ctx.stop_background.set()
    await asyncio.gather(*app.ctx.background)
    if app.ctx.drains_here:  # what the last requests appended, before the cache goes away
        try:
            await audit.drain(app.ctx.runtime.redis, app.ctx.runtime.keys, wait=5.0)
        except Exception as exc:
            part = unavailable_part(exc)
            if part is None:
                raise
            OUTAGES.failed(part, exc, "the audit drain at shutdown (entries stay in the stream)")
    if app.ctx.owns_runtime and app.ctx.runtime is not None:
        await stop_runtime(app.ctx.runtime)
        app.ctx.runtime = None


async def _on_response(request: Request, response: HTTPResponse) -> None:
    """The one response middleware: the language, security headers, the request id and the
    metrics."""
    languages.localize(request, response)
    http_hygiene.add_security_headers(response)
    observability.finish(request, response)


def _api_error(request: Request, exc: ApiError) -> HTTPResponse:
    response = json_body(exc.body(), exc.status)
    response.headers.update(exc.headers)
    return response


def _sanic_error(request: Request, exc: SanicException) -> HTTPResponse:
    status = getattr(exc, "status_code", 500) or 500
    if status >= 500:
        log.error("server error on %s %s: %s", request.method, request.path, exc)
    code, message = _SANIC_ERRORS.get(status, ("ERROR", "请求无法处理"))
    response = json_body({"error": {"code": code, "message": message}}, status)
    response.headers.update(getattr(exc, "headers", None) or {})
    if status == 405 and "allow" not in response.headers:
        response.headers["Allow"] = http_hygiene.allowed_methods(request)
    return response


def _dependency_down(request: Request, exc: Exception) -> HTTPResponse:
    """The cache or the database did not answer: the client may retry, it is not a bug. One
    log line per outage (infra.faults), not one per request."""
    part = unavailable_part(exc) or "cache"
    DEPENDENCY_ERRORS.labels(part).inc()
    OUTAGES.failed(part, exc, f"{request.method} {request.path}")
    body = {"error": {"code": "SERVICE_UNAVAILABLE", "message": "服务暂时不可用，请稍后再试"}}
    response = json_body(body, 503)
    response.headers["Retry-After"] = "5"
    return response


def _unexpected_error(request: Request, exc: Exception) -> HTTPResponse:
    if unavailable_part(exc) is not None:  # a driver's error under another name (asyncpg, SQLite)
        return _dependency_down(request, exc)
    log.exception("unexpected error on %s %s", request.method, request.path)
    return json_body({"error": {"code": "INTERNAL", "message": "服务器开小差了，请稍后再试"}}, 500)
