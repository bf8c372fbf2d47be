"""The credit office's oversight (issue 14 items 3–5): the monthly 调度 figures and their
downloads, the audit review (查询使用审查) with the hash-chain verification, and the export of
decisions back to the league platform. Thin handlers; the console renders the same functions."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, raw

from credit import audit_review
from credit.applications import export
from infra.params import cursor_id
from miniprogram_api.common import channel, json_body, parse_body, require_session
from miniprogram_api.common import runtime as rt_of
from miniprogram_api.openapi_schemas import (
    ANY_OBJECT,
    BINARY,
    BOOL,
    CURSOR,
    DATE,
    INT,
    STR,
    api_doc,
    array,
    enum,
    nullable,
    obj,
    page,
    path,
    query,
)
from scenarios.figures import downloads, monthly

bp = Blueprint("oversight", url_prefix="/api/v1/admin")

MONTH = query(
    "month", {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$", "example": "2026-11"},
    "统计月份 YYYY-MM", required=True,
)  # fmt: skip
REGION = query(
    "region", {"type": "string", "pattern": "^[0-9]{6}$"}, "旗区行政区划代码（不传即全盟）"
)
TABLE = query("table", enum(*monthly.TABLE_KEYS), "统计表", required=True)
CELL = {"anyOf": [STR, {"type": "number"}, {"type": "null"}]}
FIGURES = obj(
    {
        "month": STR,
        "region": nullable(STR),
        "scope": STR,
        "generated_at": STR,
        "tables": array(
            obj({"key": STR, "title": STR, "columns": array(STR), "rows": array(array(CELL))})
        ),
    }
)
AUDIT_ENTRY = obj(
    {
        "id": INT, "at": STR, "action": STR, "actor_kind": STR, "actor_role": STR,
        "actor_org": nullable(STR), "actor_user_id": nullable(INT), "subject_id": nullable(INT),
        "subject": nullable(ANY_OBJECT), "purpose": STR, "channel": STR, "detail": ANY_OBJECT,
    }
)  # fmt: skip
VERIFICATION = obj(
    {
        "ok": BOOL,
        "checked": INT,
        "last_id": nullable(INT),
        "first_broken": nullable(
            obj(
                {
                    "id": INT,
                    "stream_id": STR,
                    "at": STR,
                    "reason": enum("prev_hash", "hash"),
                    "reason_label": STR,
                    "expected": STR,
                    "stored": STR,
                    "previous_id": nullable(INT),
                }
            )
        ),
        "checked_at": STR,
    }
)
BATCH = obj({"id": INT, "created_at": STR, "since": DATE, "count": INT, "csv_url": STR})
BATCH_ID = path("batch_id", "导出批次编号")
FIGURES_ROLES = monthly.FIGURES_ROLES


def _file(data: bytes, content_type: str, name: str) -> HTTPResponse:
    return raw(
        data,
        content_type=content_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# -- monthly figures ---------------------------------------------------------------------------


@bp.get("/figures")
@api_doc(
    "月度调度统计（审核人员、管理员）：申请办理、修复、异议、投诉、扫码、核销、街区指数",
    "oversight", FIGURES, secured=True, params=[MONTH, REGION],
)  # fmt: skip
async def figures(request: Request) -> HTTPResponse:
    session = await require_session(request, *FIGURES_ROLES)
    args = request.args
    data = await monthly.figures_for(rt_of(request), session, args.get("month"), args.get("region"))
    return json_body(data.as_dict())


@bp.get("/figures.xlsx")
@api_doc(
    "月度调度统计工作簿（XLSX，每表一个工作表）",
    "oversight", BINARY, content_type=downloads.XLSX_TYPE, secured=True, params=[MONTH, REGION],
)  # fmt: skip
async def figures_xlsx(request: Request) -> HTTPResponse:
    session = await require_session(request, *FIGURES_ROLES)
    args = request.args
    name, book = await downloads.xlsx_download(
        rt_of(request), session, args.get("month"), args.get("region")
    )
    return _file(book, downloads.XLSX_TYPE, name)


@bp.get("/figures.csv")
@api_doc(
    "月度调度统计的一张表（CSV，UTF-8 带 BOM）",
    "oversight", STR, content_type="text/csv", secured=True, params=[MONTH, REGION, TABLE],
)  # fmt: skip
async def figures_csv(request: Request) -> HTTPResponse:
    session = await require_session(request, *FIGURES_ROLES)
    args = request.args
    name, data = await downloads.csv_download(
        rt_of(request), session, args.get("month"), args.get("region"), args.get("table")
    )
    return _file(data, "text/csv; charset=utf-8", name)


# -- audit review ------------------------------------------------------------------------------

AUDIT_PARAMS = [
    query("subject", {"type": "string", "maxLength": 40}, "主体：统一社会信用代码或身份证号码"),
    query("subject_id", {"type": "string", "pattern": "^[0-9]{1,18}$"}, "主体编号"),
    query("actor_user_id", {"type": "string", "pattern": "^[0-9]{1,18}$"}, "查询人的用户编号"),
    query("purpose", {"type": "string", "maxLength": 100}, "查询用途（包含即匹配）"),
    query("from", DATE, "起始日期 YYYY-MM-DD（默认 30 天前）"),
    query("to", DATE, "截止日期 YYYY-MM-DD（默认今天）"),
    CURSOR,
]


@bp.get("/audit-entries")
@api_doc(
    "查询使用审查：按主体、查询人、用途、日期检索审计日志（仅信用中心审核人员；检索本身记入日志）",
    "oversight", page(AUDIT_ENTRY, filters=ANY_OBJECT), secured=True, params=AUDIT_PARAMS,
)  # fmt: skip
async def audit_entries(request: Request) -> HTTPResponse:
    session = await require_session(request, audit_review.AUDIT_REVIEW_ROLE)
    args = request.args
    return json_body(
        await audit_review.search(
            rt_of(request),
            session,
            subject=args.get("subject"),
            subject_id=args.get("subject_id"),
            actor_user_id=args.get("actor_user_id"),
            purpose=args.get("purpose"),
            start=args.get("from"),
            end=args.get("to"),
            cursor=args.get("cursor"),
            channel=channel(request),
        )
    )


@bp.get("/audit/verification")
@api_doc(
    "校验审计日志哈希链：结果与第一处断链（仅信用中心审核人员；校验本身记入日志）",
    "oversight", VERIFICATION, secured=True,
)  # fmt: skip
async def audit_verification(request: Request) -> HTTPResponse:
    session = await require_session(request, audit_review.AUDIT_REVIEW_ROLE)
    return json_body(await audit_review.verify(rt_of(request), session, channel=channel(request)))


# -- results back to the platform --------------------------------------------------------------


class ExportBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    since: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10)]


@bp.post("/exports")
@api_doc(
    "导出新的办理结果（自愿注册通过、修复与异议决定）报送盟平台：只含此前未导出的决定",
    "oversight", BATCH, status=201, body=ExportBody, secured=True,
)  # fmt: skip
async def create_export(request: Request) -> HTTPResponse:
    session = await require_session(request, export.EXPORT_ROLE)
    body = parse_body(request, ExportBody)
    batch = await export.create_batch(rt_of(request), session, body.since, channel=channel(request))
    return json_body(batch, status=201)


@bp.get("/exports")
@api_doc("导出批次（新的在前）", "oversight", page(BATCH), secured=True, params=[CURSOR])
async def list_exports(request: Request) -> HTTPResponse:
    session = await require_session(request, export.EXPORT_ROLE)
    return json_body(await export.list_batches(session, cursor_id(request.args.get("cursor"))))


@bp.get("/exports/<batch_id:str>/decisions.csv")
@api_doc(
    "下载一个导出批次（CSV，UTF-8 带 BOM；可重复下载）",
    "oversight", STR, content_type="text/csv", secured=True, params=[BATCH_ID],
)  # fmt: skip
async def export_csv(request: Request, batch_id: str) -> HTTPResponse:
    session = await require_session(request, export.EXPORT_ROLE)
    batch, data = await export.batch_csv_for(rt_of(request), session, batch_id)
    return _file(data, "text/csv; charset=utf-8", f"decisions-{batch.id}.csv")
