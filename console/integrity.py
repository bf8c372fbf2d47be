"""政务失信 reports (issue 13) in the console: the credit centre's queue (status filter, overdue
first, due dates in working days), a report's page and the decisions its state allows; the
functions and roles of the API's /api/v1/admin/integrity-reports (credit/integrity/service.py:
reviewers and admins see the queue, reviewers decide; a named reporter's masked contact is
audited on reading, as in the API)."""

from __future__ import annotations

from typing import Any

from sanic.response import HTTPResponse

from console.applications import attachments_of
from console.core import Ctx, console_page, due_text, see_other, view
from credit.integrity import service
from credit.integrity.models import OPEN_REPORT_STATUSES, ReportStatus
from infra.errors import Invalid

BASE = "/console/integrity-reports"
DECISION_LABELS = {
    "accept": "受理",
    "reject": "不予受理（须填写理由）",
    "process": "转入办理中",
    "conclude": "办结（须填写办理结果）",
}
STATUS_CLASS = {
    "submitted": "open",
    "accepted": "open",
    "processing": "wait",
    "concluded": "done",
    "rejected": "bad",
}
DONE = {"decided": "已作出决定，实名反映人将收到通知"}
OPEN = {str(s) for s in OPEN_REPORT_STATUSES}


def _item(item: dict[str, Any]) -> dict[str, Any]:
    return item | {
        "heading": f"{item['agency']['name']} · {item['category_label']}",
        "href": f"{BASE}/{item['id']}",
        "due_text": due_text(item.get("due_on"), running=item["status"] in OPEN),
        "status_class": STATUS_CLASS.get(item["status"], "open"),
    }


@console_page(
    "/integrity-reports",
    roles=service.QUEUE_ROLES,
    title="政务失信反映",
    nav_order=14,
    name="console_integrity_queue",
)
async def queue(ctx: Ctx) -> HTTPResponse:
    status = ctx.arg("status")
    held = ctx.arg("moderation") == "review"
    overdue: list[dict[str, Any]] = []
    if status is None and ctx.arg("cursor") is None:  # overdue first, then the whole queue
        found = await service.review_queue(
            status=None, overdue=True, held_for_review=held, agency_uscc=None, cursor=None
        )
        overdue = [_item(item) for item in found["items"]]
    listed = await service.review_queue(
        status=status, overdue=False, held_for_review=held, agency_uscc=None,
        cursor=ctx.arg("cursor"),
    )  # fmt: skip
    seen = {item["id"] for item in overdue}
    return view(
        ctx,
        "queue.html",  # the applications' queue, for reports
        title="政务失信反映办理",
        action="/console/integrity-reports",
        noun="反映",
        overdue=overdue,
        items=[_item(item) for item in listed["items"] if item["id"] not in seen],
        next=listed["next"],
        status=status or "",
        moderation=held,
        statuses=[(str(s), service.STATUS_LABELS[s]) for s in ReportStatus],
    )


@console_page(
    "/integrity-reports/<report_id:str>", roles=service.QUEUE_ROLES, name="console_integrity_report"
)
async def report_page(ctx: Ctx, report_id: str) -> HTTPResponse:
    shaped = await service.review_detail(ctx.rt, ctx.session, report_id, channel=ctx.channel)
    status = ReportStatus(shaped["status"])
    allowed = [d for (start, d) in service.TRANSITIONS if start == status]
    for event in shaped["history"]:
        event["status"] = service.STATUS_LABELS.get(ReportStatus(event["status"]), event["status"])
    return view(
        ctx,
        "integrity_report.html",
        title=f"政务失信反映 {shaped['id']}",
        report=_item(shaped),
        decisions=[(d, DECISION_LABELS[d]) for d in allowed]
        if ctx.session.has_role(service.DECIDER_ROLE)
        else [],
        attachments=await attachments_of(ctx, shaped.get("attachments") or []),
        notice=DONE.get(ctx.arg("done") or ""),
    )


@console_page(
    "/integrity-reports/<report_id:str>/decision",
    roles=(service.DECIDER_ROLE,),
    methods=("POST",),
    name="console_integrity_decide",
)
async def decide(ctx: Ctx, report_id: str) -> HTTPResponse:
    decision = ctx.form.get("decision")
    if decision not in service.DECISIONS:
        raise Invalid(
            "请选择一项决定", fields={"decision": "可选：" + "、".join(service.DECISIONS)}
        )
    await service.decide(
        ctx.rt,
        ctx.session,
        report_id,
        decision=decision,
        note=(ctx.form.get("note") or "").strip()[:1000] or None,
        agency_uscc=(ctx.form.get("agency_uscc") or "").strip()[:40] or None,
        channel=ctx.channel,
    )
    return see_other(f"{BASE}/{report_id}", done="decided")
