"""查询使用审查 (issue 14 item 4) in the console: the audit-log search and the hash-chain
verification, the functions and the role of the API's /api/v1/admin/audit-entries and
/audit/verification (credit/audit_review.py: the credit office's reviewers only; the search and
the verification are themselves logged). The verification is a POST form (CSRF) because it
writes its own audit entry."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sanic.response import HTTPResponse

from console.core import Ctx, console_page, view
from credit import audit_review

ROLES = (audit_review.AUDIT_REVIEW_ROLE,)
FILTERS = ("subject", "actor_user_id", "purpose", "from", "to")


def _values(ctx: Ctx) -> dict[str, str]:
    return {name: ctx.arg(name) or "" for name in FILTERS}


def _render(ctx: Ctx, values: dict[str, str], **extra: Any) -> HTTPResponse:
    return view(ctx, "audit.html", title="查询使用审查", values=values, **extra)


@console_page("/audit", roles=ROLES, title="查询审查", nav_order=80, name="console_audit")
async def audit_page(ctx: Ctx) -> HTTPResponse:
    """The search runs once the form is sent (`run=1`): opening the page logs nothing."""
    values = _values(ctx)
    if not ctx.arg("run"):
        return _render(ctx, values, result=None, more=None)
    result = await audit_review.search(
        ctx.rt,
        ctx.session,
        subject=values["subject"] or None,
        actor_user_id=values["actor_user_id"] or None,
        purpose=values["purpose"] or None,
        start=values["from"] or None,
        end=values["to"] or None,
        cursor=ctx.arg("cursor"),
        channel=ctx.channel,
    )
    more = None
    if result["next"]:
        query = {k: v for k, v in values.items() if v} | {"run": "1", "cursor": result["next"]}
        more = "/console/audit?" + urlencode(query)
    return _render(ctx, values, result=result, more=more)


@console_page("/audit/verify", roles=ROLES, methods=("POST",), name="console_audit_verify")
async def audit_verify(ctx: Ctx) -> HTTPResponse:
    verification = await audit_review.verify(ctx.rt, ctx.session, channel=ctx.channel)
    return _render(ctx, _values(ctx), result=None, more=None, verification=verification)
