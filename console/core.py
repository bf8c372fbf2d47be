"""The console's shell: the blueprint, the page registry (nav entries), the session cookie, CSRF,
rendering and error pages. Pages are thin like the API's handlers: parse, call the domain
function the API calls (with the same role constants), render.

Adding a page (see console/__init__.py): a handler decorated with `console_page`, a template
in console/templates that extends "base.html", and its module in console.PAGE_MODULES."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, file, html, redirect
from sanic_ext.extensions.openapi import openapi

from credit.calendar_dates import today
from credit.workdays import default_calendar
from infra.errors import ApiError
from infra.runtime import Runtime
from infra.security.console import ConsoleSession, load_console_session
from infra.security.sessions import Session
from miniprogram_api.common import runtime

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
ASSETS = HERE / "assets"
bp = Blueprint("console", url_prefix="/console")

# Pages: a stylesheet and images of this host (QR codes as data: URLs, attachments), attachments
# framed from this host only, forms posted to this host only, no script at all.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-src 'self'; "
    "object-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
}
CSRF_FIELD = "csrf"
FORM_EXPIRED = "表单已失效（缺少或不匹配的安全令牌），请返回页面刷新后重试"

_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
ROLE_LABELS = {
    "citizen": "公众",
    "merchant": "经营者",
    "venue_staff": "场所工作人员",
    "reviewer": "审核人员",
    "admin": "管理员",
    "applicant": "申请人",
}
SUBJECT_KINDS = {
    "enterprise": "法人及非法人组织",
    "individual_business": "个体工商户",
    "person": "自然人",
    "agency": "行政事业单位",
}
_env.filters["role_label"] = lambda role: ROLE_LABELS.get(role, role)
_env.filters["subject_kind"] = lambda kind: SUBJECT_KINDS.get(kind, kind)


SESSION_COOKIE = "console"
TICKET_COOKIE = "console-ticket"


def set_cookie(
    response: HTTPResponse, rt: Runtime, name: str, value: str, max_age: int | None = None
) -> None:
    """HttpOnly, SameSite=Strict, Path=/; Secure with the `__Host-` prefix (bound to this host)
    unless configured off for local http."""
    secure = rt.settings.console_secure_cookie
    response.add_cookie(
        name,
        value,
        path="/",
        httponly=True,
        secure=secure,
        samesite="Strict",
        max_age=max_age,
        host_prefix=secure,
    )


def delete_cookie(response: HTTPResponse, rt: Runtime, name: str) -> None:
    response.delete_cookie(name, path="/", host_prefix=rt.settings.console_secure_cookie)


def read_cookie(request: Request, rt: Runtime, name: str) -> str | None:
    prefix = "__Host-" if rt.settings.console_secure_cookie else ""
    value = request.cookies.get(prefix + name)
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class NavEntry:
    path: str
    title: str
    roles: tuple[str, ...]
    order: int


NAV: list[NavEntry] = []


@dataclass
class Ctx:
    """What a page handler gets: the request, the runtime, the caller's console session."""

    request: Request
    rt: Runtime
    console: ConsoleSession
    form: dict[str, str] = field(default_factory=dict)

    @property
    def session(self) -> Session:
        return self.console.session

    @property
    def channel(self) -> str:
        return "console"

    def arg(self, name: str) -> str | None:
        value = self.request.args.get(name)
        return value if isinstance(value, str) and value else None


Handler = Callable[..., Awaitable[HTTPResponse]]


def console_page(
    path: str,
    *,
    roles: tuple[str, ...],
    title: str | None = None,
    nav_order: int = 100,
    methods: tuple[str, ...] = ("GET",),
    name: str | None = None,
) -> Callable[[Handler], Handler]:
    """Registers a console page at /console{path}. Without a console session: to the login
    page. Without one of `roles`: 403 (the page's own object checks are the domain's). A POST
    must carry the session's CSRF token (403 otherwise) and is then a form (`ctx.form`).
    `title` adds a nav entry, shown to those with one of `roles`."""

    def register(handler: Handler) -> Handler:
        async def page(request: Request, **params: Any) -> HTTPResponse:
            rt = runtime(request)
            console = await current_session(request, rt)
            if console is None:
                if request.method == "GET":
                    return redirect("/console/login?" + urlencode({"next": request.path}))
                return error_page(request, rt, None, 401, "登录已失效，请重新扫码登录")
            if roles and not console.session.has_role(*roles):
                return error_page(request, rt, console, 403, "当前账号无权访问此页面")
            ctx = Ctx(request, rt, console)
            if request.method == "POST":
                form: Any = request.form or {}
                ctx.form = {k: str(v[0]) for k, v in form.items() if v}
                if not console.csrf_ok(ctx.form.get(CSRF_FIELD)):
                    return error_page(request, rt, console, 403, FORM_EXPIRED)
            try:
                return await handler(ctx, **params)
            except ApiError as exc:
                return error_page(request, rt, console, exc.status, exc.message, exc.fields)

        page.__name__ = name or handler.__name__
        openapi.exclude()(page)  # HTML pages, not part of the API document
        bp.add_route(page, path, methods=list(methods), name=page.__name__)
        if title:
            NAV.append(NavEntry(f"/console{path}", title, roles, nav_order))
            NAV.sort(key=lambda entry: entry.order)
        return handler

    return register


async def current_session(request: Request, rt: Runtime) -> ConsoleSession | None:
    token = read_cookie(request, rt, SESSION_COOKIE)
    return await load_console_session(
        rt.redis,
        rt.keys,
        token,
        idle_seconds=rt.settings.console_idle_seconds,
        max_seconds=rt.settings.console_max_seconds,
    )


def render_text(template: str, **values: Any) -> str:
    return _env.get_template(template).render(**values)


def render(
    request: Request,
    rt: Runtime,
    console: ConsoleSession | None,
    template: str,
    http_status: int = 200,
    **values: Any,
) -> HTTPResponse:
    session = console.session if console else None
    nav = [entry for entry in NAV if session is not None and session.has_role(*entry.roles)]
    body = render_text(
        template,
        nav=nav,
        here=request.path,
        session=session,
        csrf=console.csrf if console else "",
        demo=rt.settings.demo,
        **values,
    )
    return html(body, status=http_status, headers=PAGE_HEADERS)


def view(ctx: Ctx, template: str, http_status: int = 200, **values: Any) -> HTTPResponse:
    return render(ctx.request, ctx.rt, ctx.console, template, http_status, **values)


def error_page(
    request: Request,
    rt: Runtime,
    console: ConsoleSession | None,
    status: int,
    message: str,
    fields: dict[str, str] | None = None,
) -> HTTPResponse:
    return render(
        request, rt, console, "error.html", status, code=status, message=message, fields=fields
    )


def see_other(path: str, **query: str) -> HTTPResponse:
    """After a form: 303 to the page, with a message code the page maps to its text."""
    return redirect(path + ("?" + urlencode(query) if query else ""), status=303)


def due_text(due_on: str | None, *, running: bool) -> str:
    """The due date in working days, as an official reads a queue."""
    if not due_on or not running:
        return ""
    due = date.fromisoformat(due_on)
    on = today()
    calendar = default_calendar()
    if due < on:
        return f"已超期 {calendar.working_days_between(due, on)} 个工作日"
    left = calendar.working_days_between(on, due)
    return "今日到期" if left == 0 else f"剩 {left} 个工作日"


@bp.get("/assets/<name:str>")
@openapi.exclude()
async def asset(request: Request, name: str) -> HTTPResponse:
    """The console's own stylesheet (no CDN, no build step)."""
    if name not in ASSET_TYPES:
        return html("", status=404)
    return await file(
        ASSETS / name,
        mime_type=ASSET_TYPES[name],
        headers={"Cache-Control": "public, max-age=3600"},
    )


ASSET_TYPES = {"console.css": "text/css; charset=utf-8"}
