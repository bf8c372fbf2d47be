"""Merchant applications (一店一码: approve, reject, suspend, reinstate, revoke) and complaints
(uphold, dismiss): the functions and staff roles of the API's /api/v1/admin/merchants and
/api/v1/admin/complaints."""

from __future__ import annotations

from typing import Any

from sanic.response import HTTPResponse

from console.core import Ctx, console_page, see_other, view
from infra.errors import Invalid
from scenarios.merchants import complaints, service
from scenarios.merchants.models import ComplaintStatus, MerchantStatus

MERCHANT_DECISION_LABELS = {
    "approve": "通过（发放商户码）",
    "reject": "不通过",
    "suspend": "暂停亮码",
    "reinstate": "恢复亮码",
    "revoke": "撤销商户码",
}
COMPLAINT_DECISION_LABELS = {"uphold": "投诉成立", "dismiss": "投诉不成立"}
STATUS_CLASS = {
    "pending": "open",
    "active": "done",
    "suspended": "wait",
    "revoked": "bad",
    "rejected": "bad",
    "submitted": "open",
    "replied": "wait",
    "upheld": "bad",
    "dismissed": "done",
}
DONE = {"decided": "已处理，相关用户将收到通知"}


def _merchant(item: dict[str, Any]) -> dict[str, Any]:
    status = MerchantStatus(item["status"])
    return item | {
        "status_class": STATUS_CLASS.get(item["status"], "open"),
        "decisions": [
            (name, MERCHANT_DECISION_LABELS[name], needs_note)
            for name, (starts, _target, needs_note) in service.DECISIONS.items()
            if status in starts
        ],
    }


@console_page(
    "/merchants",
    roles=service.STAFF_ROLES,
    title="商户亮码",
    nav_order=30,
    name="console_merchants",
)
async def merchants(ctx: Ctx) -> HTTPResponse:
    """Pending applications by default; any status through the filter (suspension: active)."""
    status = ctx.arg("status") or ("" if ctx.arg("all") else "pending")
    listed = await service.list_merchants(ctx.session, status or None, ctx.arg("cursor"))
    return view(
        ctx,
        "merchants.html",
        title="商户亮码",
        items=[_merchant(item) for item in listed["items"]],
        next=listed["next"],
        status=status,
        statuses=[(str(s), service.STATUS_LABELS[s]) for s in MerchantStatus],
        notice=DONE.get(ctx.arg("done") or ""),
    )


@console_page(
    "/merchants/<merchant_id:str>/decision",
    roles=service.STAFF_ROLES,
    methods=("POST",),
    name="console_merchant_decision",
)
async def merchant_decision(ctx: Ctx, merchant_id: str) -> HTTPResponse:
    decision = ctx.form.get("decision", "")
    if decision not in service.DECISIONS:
        raise Invalid("请选择一项操作", fields={"decision": "、".join(service.DECISIONS)})
    note = (ctx.form.get("note") or "").strip()[:200] or None
    await service.decide(ctx.rt, ctx.session, merchant_id, decision=decision, note=note)
    return see_other("/console/merchants", status=ctx.form.get("back_status", ""), done="decided")


@console_page(
    "/complaints",
    roles=service.STAFF_ROLES,
    title="消费投诉",
    nav_order=35,
    name="console_complaints",
)
async def complaint_queue(ctx: Ctx) -> HTTPResponse:
    listed = await complaints.queue(ctx.arg("status"), ctx.arg("cursor"))
    items = [
        item
        | {
            "status_class": STATUS_CLASS.get(item["status"], "open"),
            "open": item["status"] in {str(s) for s in complaints.OPEN},
        }
        for item in listed["items"]
    ]
    return view(
        ctx,
        "complaints.html",
        title="消费投诉",
        items=items,
        next=listed["next"],
        status=ctx.arg("status") or "",
        statuses=[(str(s), complaints.STATUS_LABELS[s]) for s in ComplaintStatus],
        decisions=list(COMPLAINT_DECISION_LABELS.items()),
        notice=DONE.get(ctx.arg("done") or ""),
    )


@console_page(
    "/complaints/<complaint_id:str>/decision",
    roles=service.STAFF_ROLES,
    methods=("POST",),
    name="console_complaint_decision",
)
async def complaint_decision(ctx: Ctx, complaint_id: str) -> HTTPResponse:
    decision = ctx.form.get("decision", "")
    if decision not in complaints.DECISIONS:
        raise Invalid("请选择一项决定", fields={"decision": "uphold、dismiss"})
    note = (ctx.form.get("note") or "").strip()[:500] or None
    await complaints.decide(ctx.rt, ctx.session, complaint_id, decision=decision, note=note)
    return see_other("/console/complaints", done="decided")
