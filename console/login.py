"""扫码登录: the login page with its QR code, the browser claiming a confirmed ticket, demo
logins, logout and logout everywhere; and the JSON ticket endpoint of API.md (the mini-program's
confirmation is miniprogram_api/console_tickets.py)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, html, redirect
from sanic_ext.extensions.openapi import openapi

from console.core import (
    FORM_EXPIRED,
    PAGE_HEADERS,
    SESSION_COOKIE,
    TICKET_COOKIE,
    Ctx,
    bp,
    console_page,
    current_session,
    delete_cookie,
    error_page,
    read_cookie,
    render,
    render_text,
    see_other,
    set_cookie,
    view,
)
from credit.accounts import wechat_login
from credit.applications import service
from infra.errors import ApiError
from infra.runtime import Runtime
from infra.security import ratelimit
from infra.security.console import (
    Ticket,
    claim_ticket,
    confirm_ticket,
    end_all_console_sessions,
    end_console_session,
    new_ticket,
    ticket_state,
)
from infra.security.sessions import load_session, revoke_session
from miniprogram_api.applications import COLLECTIONS
from miniprogram_api.common import client_ip, json_body, runtime
from miniprogram_api.openapi_schemas import INT, STR, api_doc, obj
from qr.plate import qr_png

POLL_SECONDS = 2
DEMO_LOGINS = (
    ("demo-reviewer", "审核人员 demo-reviewer"),
    ("demo-admin", "管理员 demo-admin"),
    ("demo-staff", "场所工作人员 demo-staff"),
)
api = Blueprint("console_tickets", url_prefix="/api/v1")


def scan_url(rt: Runtime, ticket_id: str) -> str:
    """What the QR code holds: a plain URL, so a phone camera opens a page that says to use the
    mini-program; the mini-program takes the id from its last segment."""
    return f"{rt.settings.public_base_url}/console/scan/{ticket_id}"


async def _issue(request: Request, rt: Runtime) -> Ticket:
    """A new ticket, counted against the address (no login yet: the address is all we have)."""
    await ratelimit.enforce(
        rt.redis,
        rt.keys,
        "console_ticket",
        ratelimit.address_key(client_ip(request)),
        rt.settings.rate_limits["console_ticket"],
    )
    return await new_ticket(rt.redis, rt.keys, rt.settings.console_ticket_seconds)


async def _qr_data_url(rt: Runtime, ticket_id: str) -> str:
    png = await asyncio.to_thread(qr_png, scan_url(rt, ticket_id))
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _safe_next(value: str | None) -> str:
    """Only a console path of this host (no open redirect)."""
    if value and value.startswith("/console") and "//" not in value and "\\" not in value:
        return value
    return "/console"


@bp.get("/login")
@openapi.exclude()
async def login_page(request: Request) -> HTTPResponse:
    """Shows the ticket's QR code and refreshes itself until an official confirms it; then the
    browser holding the ticket's secret gets the session cookie."""
    rt = runtime(request)
    next_path = _safe_next(request.args.get("next"))
    if await current_session(request, rt) is not None:
        return redirect(next_path, status=303)
    ticket = Ticket.from_cookie(read_cookie(request, rt, TICKET_COOKIE))
    state = await ticket_state(rt.redis, rt.keys, ticket) if ticket else None
    if ticket is not None and state == "confirmed":
        console = await claim_ticket(
            rt.redis, rt.keys, ticket, idle_seconds=rt.settings.console_idle_seconds
        )
        if console is not None:
            response = redirect(next_path, status=303)
            set_cookie(response, rt, SESSION_COOKIE, console.token)
            delete_cookie(response, rt, TICKET_COOKIE)
            return response
    expired = ticket is not None and state is None
    if ticket is None or state != "pending":
        try:
            ticket = await _issue(request, rt)
        except ApiError as exc:
            return error_page(request, rt, None, exc.status, exc.message)
    response = render(
        request,
        rt,
        None,
        "login.html",
        waiting=True,
        poll_seconds=POLL_SECONDS,
        next=next_path if next_path != "/console" else "",
        ticket_id=ticket.id,
        qr_data_url=await _qr_data_url(rt, ticket.id),
        ttl=rt.settings.console_ticket_seconds,
        expired=expired,
        demo_logins=DEMO_LOGINS,
    )
    set_cookie(response, rt, TICKET_COOKIE, ticket.cookie_value, rt.settings.console_ticket_seconds)
    return response


@bp.post("/login/demo")
@openapi.exclude()
async def demo_login(request: Request) -> HTTPResponse:
    """Demo mode only: confirms this browser's ticket as a demo official, the way the
    mini-program would (a WeChat login with the demo code, then the same confirmation)."""
    rt = runtime(request)
    if not rt.settings.demo:
        return error_page(request, rt, None, 404, "演示登录未开启")
    form: Any = request.form or {}
    ticket = Ticket.from_cookie(read_cookie(request, rt, TICKET_COOKIE))
    code = str(form.get("code") or "")
    # The ticket id in the form must be this browser's own (the cookie is SameSite=Strict).
    if ticket is None or str(form.get("ticket") or "") != ticket.id:
        return error_page(request, rt, None, 403, FORM_EXPIRED)
    if code not in {demo for demo, _ in DEMO_LOGINS}:
        return error_page(request, rt, None, 422, "未知的演示账号")
    try:
        result = await wechat_login(rt, code, client_ip(request))
    except ApiError as exc:
        return error_page(request, rt, None, exc.status, exc.message)
    session = await load_session(rt.redis, rt.keys, result.token)
    if session is None:
        return error_page(request, rt, None, 401, "演示登录失败，请重试")
    try:
        await confirm_ticket(rt.redis, rt.keys, ticket.id, session)
    finally:
        await revoke_session(rt.redis, rt.keys, session)  # the stand-in mini-program login
    next_path = _safe_next(str(form.get("next") or ""))
    return see_other("/console/login", **({"next": next_path} if next_path != "/console" else {}))


@bp.get("/scan/<ticket_id:str>")
@openapi.exclude()
async def scan_page(request: Request, ticket_id: str) -> HTTPResponse:
    """What a phone camera (not the mini-program) opens from the QR code."""
    return html(render_text("scan.html", nav=[], session=None), headers=PAGE_HEADERS)


@console_page("", roles=(), name="console_home")
async def home(ctx: Ctx) -> HTTPResponse:
    """The queues at a glance for reviewers and admins (open, overdue, waiting for 补正)."""
    queues = []
    if ctx.session.has_role(*service.QUEUE_ROLES):
        counts = await service.queue_counts()
        queues = [
            {
                "href": f"/console/applications/{collection}",
                "label": service.KIND_LABELS[kind],
                **counts[str(kind)],
            }
            for collection, kind in COLLECTIONS.items()
        ]
    return view(
        ctx,
        "home.html",
        idle_minutes=ctx.rt.settings.console_idle_seconds // 60,
        queues=queues,
    )


@console_page("/logout", roles=(), methods=("POST",), name="console_logout")
async def logout(ctx: Ctx) -> HTTPResponse:
    await end_console_session(ctx.rt.redis, ctx.rt.keys, ctx.session)
    response = see_other("/console/login")
    delete_cookie(response, ctx.rt, SESSION_COOKIE)
    return response


@console_page("/logout-everywhere", roles=(), methods=("POST",), name="console_logout_all")
async def logout_everywhere(ctx: Ctx) -> HTTPResponse:
    await end_all_console_sessions(ctx.rt.redis, ctx.rt.keys, ctx.session)
    response = see_other("/console/login")
    delete_cookie(response, ctx.rt, SESSION_COOKIE)
    return response


@api.post("/console-tickets")
@api_doc(
    "新建工作台扫码登录票据（浏览器调用；返回二维码内容，同时以 HttpOnly Cookie 保存浏览器密钥）",
    "console",
    obj({"id": STR, "qr": STR, "qr_png": STR, "expires_in": INT}),
    status=201,
    errors=(429,),
)
async def create_ticket(request: Request) -> HTTPResponse:
    rt = runtime(request)
    ticket = await _issue(request, rt)
    response = json_body(
        {
            "id": ticket.id,
            "qr": scan_url(rt, ticket.id),
            "qr_png": await _qr_data_url(rt, ticket.id),
            "expires_in": rt.settings.console_ticket_seconds,
        },
        status=201,
    )
    set_cookie(response, rt, TICKET_COOKIE, ticket.cookie_value, rt.settings.console_ticket_seconds)
    return response
