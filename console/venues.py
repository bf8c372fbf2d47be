"""Venue staff (信易游 / 信易租): their venues, today's redemptions, the scan history (credit
checks per day), the offline bundle download and rental requests: the functions and roles of
the API's /api/v1/venues/… and /api/v1/rentals/… handlers."""

from __future__ import annotations

import json
from datetime import timedelta

from sanic.response import HTTPResponse, raw

from console.core import Ctx, console_page, see_other, view
from credit.calendar_dates import today
from infra.errors import Invalid
from scenarios.incentives import offline, rentals, reports, staff

ROLES = (staff.STAFF_ROLE, staff.ADMIN_ROLE)
HISTORY_DAYS = 30
DONE = {"decided": "已处理，申请人将收到通知"}
RENTAL_DECISIONS = {"confirm": "确认租赁", "decline": "不予租赁"}


@console_page("/venues", roles=ROLES, title="场所核验", nav_order=40, name="console_venues")
async def venues(ctx: Ctx) -> HTTPResponse:
    """An admin sees every venue; staff the venues they are assigned to."""
    if ctx.session.has_role(staff.ADMIN_ROLE):
        items = staff.list_venues()["items"]
    else:
        items = await staff.venues_of_user(ctx.session.user_id)
    return view(ctx, "venues.html", title="场所核验", items=items)


@console_page("/venues/<venue_id:str>", roles=ROLES, name="console_venue")
async def venue(ctx: Ctx, venue_id: str) -> HTTPResponse:
    on = today()
    today_report = await reports.report(ctx.rt, ctx.session, venue_id, on.isoformat(), None)
    first = (on - timedelta(days=HISTORY_DAYS - 1)).isoformat()
    history = await reports.report(ctx.rt, ctx.session, venue_id, first, on.isoformat())
    pending = await rentals.venue_rentals(
        ctx.rt, ctx.session, venue_id, ctx.arg("rental_status") or "pending", ctx.arg("cursor")
    )
    return view(
        ctx,
        "venue.html",
        title=today_report["venues"][0]["name"],
        venue=today_report["venues"][0],
        today=today_report,
        history=history,
        rentals=pending,
        rental_status=ctx.arg("rental_status") or "pending",
        decisions=list(RENTAL_DECISIONS.items()),
        may_decide=ctx.session.has_role(staff.STAFF_ROLE),
        notice=DONE.get(ctx.arg("done") or ""),
    )


@console_page("/venues/<venue_id:str>/offline-bundle.json", roles=ROLES, name="console_bundle")
async def bundle(ctx: Ctx, venue_id: str) -> HTTPResponse:
    """The offline bundle as a file for a staff device (GET /api/v1/venues/{id}/offline-bundle)."""
    body = await offline.bundle_for(ctx.rt, ctx.session, venue_id)
    name = f"offline-bundle-{body['venue']['id']}-{today().isoformat()}.json"
    return raw(
        json.dumps(body, ensure_ascii=False, indent=1).encode(),
        content_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "private, no-store",
        },
    )


@console_page(
    "/rentals/<application_id:str>/decision",
    roles=(staff.STAFF_ROLE,),
    methods=("POST",),
    name="console_rental_decision",
)
async def rental_decision(ctx: Ctx, application_id: str) -> HTTPResponse:
    decision = ctx.form.get("decision", "")
    if decision not in RENTAL_DECISIONS:
        raise Invalid("请选择一项决定", fields={"decision": "confirm、decline"})
    decided = await rentals.decide_rental(
        ctx.rt,
        ctx.session,
        application_id,
        decision=decision,
        note=(ctx.form.get("note") or "").strip()[:200] or None,
        channel=ctx.channel,
    )
    return see_other(f"/console/venues/{decided['venue']['id']}", done="decided")
