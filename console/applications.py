"""The review queues of registrations, repairs, objections and enterprise-authority requests,
an application's page and its decisions (补正 included): the functions and role constants the
API's review handlers use (miniprogram_api/review.py)."""

from __future__ import annotations

from typing import Any

from sanic.response import HTTPResponse, raw

from console.core import Ctx, console_page, due_text, see_other, view
from credit.applications import service
from credit.applications.models import ApplicationStatus
from infra import uploads
from infra.errors import Invalid
from miniprogram_api.applications import COLLECTIONS

DONE = {"decided": "已作出决定，申请人将收到通知"}
OPEN = {str(s) for s in (ApplicationStatus.SUBMITTED, ApplicationStatus.ACCEPTED)}
STATUS_CLASS = {
    "submitted": "open",
    "accepted": "open",
    "supplementing": "wait",
    "approved": "done",
    "denied": "bad",
    "rejected": "bad",
    "withdrawn": "done",
}
# 政务失信 reports have their own queue and page (console/integrity.py): their domain is
# credit/integrity/, with its own statuses and decisions.


def _item(collection: str, item: dict[str, Any]) -> dict[str, Any]:
    record = item.get("record") or {}
    return item | {
        "heading": record.get("title") or item.get("title") or item.get("enterprise") or "",
        "href": f"/console/applications/{collection}/{item['id']}",
        "due_text": due_text(item.get("due_on"), running=item["status"] in OPEN),
        "status_class": STATUS_CLASS.get(item["status"], "open"),
    }


def _register(collection: str, order: int) -> None:
    kind = COLLECTIONS[collection]
    label = service.KIND_LABELS[kind]

    @console_page(
        f"/applications/{collection}",
        roles=service.QUEUE_ROLES,
        title=f"{label}审核",
        nav_order=order,
        name=f"console_queue_{collection.replace('-', '_')}",
    )
    async def queue(ctx: Ctx) -> HTTPResponse:
        status = ctx.arg("status")
        held = ctx.arg("moderation") == "review"
        overdue: list[dict[str, Any]] = []
        if status is None and ctx.arg("cursor") is None:  # overdue first, then the whole queue
            found = await service.review_queue(
                kind, status=None, overdue=True, held_for_review=held, cursor=None
            )
            overdue = [_item(collection, item) for item in found["items"]]
        listed = await service.review_queue(
            kind, status=status, overdue=False, held_for_review=held, cursor=ctx.arg("cursor")
        )
        seen = {item["id"] for item in overdue}
        return view(
            ctx,
            "queue.html",
            title=f"{label}审核",
            action=f"/console/applications/{collection}",
            noun="申请",
            overdue=overdue,
            items=[_item(collection, item) for item in listed["items"] if item["id"] not in seen],
            next=listed["next"],
            status=status or "",
            moderation=held,
            statuses=[(str(s), service.STATUS_LABELS[s]) for s in ApplicationStatus],
        )

    @console_page(
        f"/applications/{collection}/<application_id:str>",
        roles=service.QUEUE_ROLES,
        name=f"console_application_{collection.replace('-', '_')}",
    )
    async def detail(ctx: Ctx, application_id: str) -> HTTPResponse:
        shaped = await service.review_detail(
            ctx.rt, ctx.session, kind, application_id, channel=ctx.channel
        )
        may_decide = ctx.session.has_role(service.DECIDER_ROLE)
        for event in shaped["history"]:
            event["status"] = service.STATUS_LABELS.get(
                ApplicationStatus(event["status"]), event["status"]
            )
        return view(
            ctx,
            "application.html",
            title=f"{label}申请 {shaped['id']}",
            label=label,
            collection=collection,
            app=_item(collection, shaped),
            decisions=[(d, service.DECISION_LABELS[d]) for d in shaped["decisions"] if may_decide],
            outcomes=[(str(k), v) for k, v in service.OUTCOME_LABELS.items() if k != "upheld"],
            attachments=await attachments_of(ctx, shaped["attachments"]),
            notice=DONE.get(ctx.arg("done") or ""),
        )

    @console_page(
        f"/applications/{collection}/<application_id:str>/decision",
        roles=(service.DECIDER_ROLE,),
        methods=("POST",),
        name=f"console_decide_{collection.replace('-', '_')}",
    )
    async def decide(ctx: Ctx, application_id: str) -> HTTPResponse:
        form = ctx.form
        correction = {
            name: form[f"correction_{name}"].strip()
            for name in service.CORRECTABLE_FIELDS
            if form.get(f"correction_{name}", "").strip()
        }
        await service.decide(
            ctx.rt,
            ctx.session,
            kind,
            application_id,
            decision=_choice(form.get("decision"), service.DECISIONS, "decision"),
            note=(form.get("note") or "").strip()[:500] or None,
            outcome=form.get("outcome") or None,
            correction=correction or None,
            channel=ctx.channel,
        )
        return see_other(f"/console/applications/{collection}/{application_id}", done="decided")


def _choice(value: str | None, allowed: tuple[str, ...], name: str) -> str:
    if value not in allowed:
        raise Invalid("请选择一项决定", fields={name: "可选：" + "、".join(allowed)})
    return value


async def attachments_of(ctx: Ctx, ids: list[int]) -> list[dict[str, Any]]:
    """Each attachment's type, so the page shows images and PDFs inline."""
    found = await uploads.describe(ctx.session, ids)
    return [
        {
            "id": upload_id,
            "content_type": found.get(upload_id, ""),
            "href": f"/console/uploads/{upload_id}",
        }
        for upload_id in ids
    ]


@console_page("/uploads/<upload_id:str>", roles=uploads.READER_ROLES, name="console_upload")
async def upload(ctx: Ctx, upload_id: str) -> HTTPResponse:
    """An attachment, inline (the same check as GET /api/v1/uploads/{id}); PDFs may be framed by
    the console's own pages (their checks at upload refused scripts and embedded files)."""
    stored, content = await uploads.readable_upload(ctx.rt.settings, ctx.session, upload_id)
    return raw(
        content,
        content_type=stored.content_type,
        headers={
            "Cache-Control": "private, no-store",
            "Content-Disposition": "inline",
            "Content-Security-Policy": "default-src 'none'; frame-ancestors 'self'",
            "X-Frame-Options": "SAMEORIGIN",
        },
    )


for _order, _collection in enumerate(COLLECTIONS, start=10):
    _register(_collection, _order)
