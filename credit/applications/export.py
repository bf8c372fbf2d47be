"""Results back to the league platform (issue 14 item 5): approved registrations, and repair and
objection decisions, as the exchange CSV (UTF-8 with a BOM; columns in README "Results back to
the platform").

Idempotent: each run (an `ExportBatch`) claims the decisions not exported before by inserting
their application ids into `exported_decision`, whose unique key is the watermark. Two runs at
once each insert with conflicts ignored and then read back what *they* got, so no decision is in
two batches and none is lost; a second run exports nothing new. A batch's CSV can be fetched
again (a download that failed in transit is not lost with the watermark moved on).

A natural person's ID number is masked like everywhere else (API.md): the record's source
number (决定书文号) and the issuing authority identify the record at the platform. Whether the
platform's exchange format wants the full ID number is an open question; it is not guessed."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time
from typing import Any

from tortoise.expressions import Q, Subquery

from credit.applications.models import (
    Application,
    ApplicationKind,
    ApplicationStatus,
    ExportBatch,
    ExportedDecision,
)
from credit.applications.service import (
    DECIDER_ROLE,
    KIND_LABELS,
    OUTCOME_LABELS,
    REVIEWER_UNIT,
    STATUS_LABELS,
)
from credit.calendar_dates import SHANGHAI, shanghai_iso
from credit.lookup import subject_json
from credit.models import Record
from infra.audit import AuditEvent
from infra.audit import append as append_audit
from infra.errors import Forbidden, Invalid, NotFound
from infra.params import path_id, query_date
from infra.runtime import Runtime
from infra.security.sessions import Session

EXPORT_ROLE = DECIDER_ROLE  # the credit centre decides, and reports its decisions back
# (kind, final statuses exported): registrations only once approved (a rejected one never
# reached the platform); repairs and objections with every final decision.
EXPORTED = {
    ApplicationKind.REGISTRATION: (ApplicationStatus.APPROVED,),
    ApplicationKind.REPAIR: (
        ApplicationStatus.APPROVED, ApplicationStatus.DENIED, ApplicationStatus.REJECTED,
    ),
    ApplicationKind.OBJECTION: (
        ApplicationStatus.APPROVED, ApplicationStatus.DENIED, ApplicationStatus.REJECTED,
    ),
}  # fmt: skip
CSV_COLUMNS = (
    "业务类型", "申请编号", "主体类别", "主体名称", "主体代码", "信用记录来源编号",
    "记录认定机关", "办理结果", "决定日期", "审核单位",
)  # fmt: skip
SUBJECT_KIND_LABELS = {
    "enterprise": "法人及非法人组织",
    "individual_business": "个体工商户",
    "person": "自然人",
    "agency": "行政事业单位",
}
BATCH_LIMIT = 5000  # decisions per run; the rest wait for the next run


def require_export_role(session: Session) -> None:
    if not session.has_role(EXPORT_ROLE):
        raise Forbidden("仅信用中心审核人员可导出办理结果", code="ROLE_REQUIRED")


def parse_since(value: str | None) -> date:
    if not value:
        raise Invalid("请给出起始日期", fields={"since": "必填，YYYY-MM-DD"})
    return query_date(value, date.min, "since")


async def export_new(rt: Runtime, since: date, *, user_id: int | None, channel: str) -> ExportBatch:
    """A new batch of every decision made from `since` (a Shanghai day) not exported before."""
    start = datetime.combine(since, time.min, tzinfo=SHANGHAI).astimezone(UTC)
    which = Q(
        *(Q(kind=kind, status__in=list(statuses)) for kind, statuses in EXPORTED.items()),
        join_type=Q.OR,
    )
    exported = Subquery(ExportedDecision.all().values("application_id"))
    rows = (
        await Application.filter(which, decided_at__gte=start)
        .exclude(id__in=exported)
        .order_by("id")
        .limit(BATCH_LIMIT)
        .values("id")
    )
    fresh = [int(row["id"]) for row in rows]
    batch = await ExportBatch.create(created_by=user_id, since=since)
    if fresh:
        await ExportedDecision.bulk_create(
            [ExportedDecision(application_id=i, batch_id=batch.id) for i in fresh],
            ignore_conflicts=True,  # another run took them first: they are in its batch
        )
    batch.count = await ExportedDecision.filter(batch_id=batch.id).count()
    await ExportBatch.filter(id=batch.id).update(count=batch.count)
    await append_audit(
        rt.redis,
        rt.keys,
        AuditEvent(
            action="export.decisions",
            actor_kind="reviewer" if user_id else "system",
            actor_role=EXPORT_ROLE if user_id else "system",
            actor_org=REVIEWER_UNIT,
            purpose="办理结果报送盟公共信用信息平台",
            channel=channel,
            actor_user_id=user_id,
            detail={"batch_id": batch.id, "count": batch.count, "since": since.isoformat()},
        ),
    )
    return batch


async def create_batch(
    rt: Runtime, session: Session, since: str | None, *, channel: str
) -> dict[str, Any]:
    require_export_role(session)
    batch = await export_new(rt, parse_since(since), user_id=session.user_id, channel=channel)
    return batch_json(batch)


async def list_batches(session: Session, cursor_before: int | None = None) -> dict[str, Any]:
    require_export_role(session)
    query = ExportBatch.all()
    if cursor_before is not None:
        query = query.filter(id__lt=cursor_before)
    rows = await query.order_by("-id").limit(51)
    from infra.pagination import page

    return page(rows, 50, batch_json)


def batch_json(batch: ExportBatch) -> dict[str, Any]:
    return {
        "id": batch.id,
        "created_at": shanghai_iso(batch.created_at),
        "since": batch.since.isoformat(),
        "count": batch.count,
        "csv_url": f"/api/v1/admin/exports/{batch.id}/decisions.csv",
    }


async def batch_csv_for(rt: Runtime, session: Session, batch_id: str) -> tuple[ExportBatch, bytes]:
    require_export_role(session)
    batch = await ExportBatch.get_or_none(
        id=path_id(batch_id, "导出批次不存在", "EXPORT_NOT_FOUND")
    )
    if batch is None:
        raise NotFound("导出批次不存在", code="EXPORT_NOT_FOUND")
    return batch, await batch_csv(rt, batch)


async def batch_csv(rt: Runtime, batch: ExportBatch) -> bytes:
    ids = await ExportedDecision.filter(batch_id=batch.id).values_list("application_id", flat=True)
    applications = await Application.filter(id__in=list(ids)).prefetch_related("subject", "record")
    result_ids = [a.result_record_id for a in applications if a.result_record_id]
    results = {r.id: r for r in await Record.filter(id__in=result_ids)}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for application in sorted(applications, key=lambda a: (a.decided_at, a.id)):
        record = application.record or results.get(application.result_record_id or 0)
        subject = subject_json(application.subject, rt.cipher)
        writer.writerow(
            [
                KIND_LABELS[application.kind],
                application.id,
                SUBJECT_KIND_LABELS.get(subject["kind"], subject["kind"]),
                subject["name"],
                subject["id_masked"],
                record.document_no if record else "",
                record.authority if record else "",
                _decision(application),
                application.decided_at.astimezone(SHANGHAI).date().isoformat()
                if application.decided_at
                else "",
                REVIEWER_UNIT,
            ]
        )
    return ("\ufeff" + out.getvalue()).encode()


def _decision(application: Application) -> str:
    if application.outcome is not None:
        return OUTCOME_LABELS[application.outcome]
    if (
        application.kind == ApplicationKind.REPAIR
        and application.status == ApplicationStatus.APPROVED
    ):
        return "修复通过，记录停止公示和共享"
    return STATUS_LABELS[application.status]
