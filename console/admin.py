"""Admin: venue staff assignment (the API's /api/v1/admin/venues/{id}/staff), user roles, and
merchant suspension (on the merchants page, console/merchants.py)."""

from __future__ import annotations

from sanic.response import HTTPResponse

from console.core import Ctx, console_page, see_other, view
from credit import accounts
from infra.params import path_id
from scenarios.incentives import staff

ROLES = (staff.ADMIN_ROLE,)
DONE = {"assigned": "已分配", "removed": "已移除", "granted": "已授予角色", "revoked": "已取消角色"}


def _user_id(value: str | None) -> int:
    """A number that fits a BIGINT, or 404 like an unknown user (infra.params.path_id)."""
    return path_id(value or "", "用户不存在", "USER_NOT_FOUND")


@console_page("/admin/staff", roles=ROLES, title="场所人员", nav_order=70, name="console_staff")
async def staff_page(ctx: Ctx) -> HTTPResponse:
    assigned = await staff.staff_by_venue()
    venues = staff.list_venues()["items"]
    return view(
        ctx,
        "admin_staff.html",
        title="场所人员分配",
        venues=[v | {"staff": assigned.get(v["id"], [])} for v in venues],
        notice=DONE.get(ctx.arg("done") or ""),
    )


@console_page("/admin/staff", roles=ROLES, methods=("POST",), name="console_staff_change")
async def staff_change(ctx: Ctx) -> HTTPResponse:
    assign = ctx.form.get("action") != "remove"
    await staff.assign_staff(
        ctx.rt, ctx.form.get("venue_id", ""), _user_id(ctx.form.get("user_id")), assign=assign
    )
    return see_other("/console/admin/staff", done="assigned" if assign else "removed")


@console_page("/admin/users", roles=ROLES, title="用户角色", nav_order=75, name="console_users")
async def users_page(ctx: Ctx) -> HTTPResponse:
    wanted = ctx.arg("user_id")
    found = await accounts.user_roles(_user_id(wanted)) if wanted else None
    return view(
        ctx,
        "admin_users.html",
        title="用户角色",
        user=found,
        wanted=wanted or "",
        assignable=accounts.ASSIGNABLE_ROLES,
        notice=DONE.get(ctx.arg("done") or ""),
    )


@console_page("/admin/users", roles=ROLES, methods=("POST",), name="console_users_change")
async def users_change(ctx: Ctx) -> HTTPResponse:
    user_id = _user_id(ctx.form.get("user_id"))
    grant = ctx.form.get("action") == "grant"
    await accounts.change_role(
        ctx.rt, ctx.session, user_id, ctx.form.get("role", ""), grant=grant, channel=ctx.channel
    )
    return see_other(
        "/console/admin/users", user_id=str(user_id), done="granted" if grant else "revoked"
    )
