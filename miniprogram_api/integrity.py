"""政务失信 reports (issue 13 item 4): a citizen reports, logged in or anonymously; follows it in
the mini-program or with the query code; the credit centre works the queue; the reported body's
operators read what was reported about it, never who reported it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from credit.integrity import service
from credit.integrity.models import ReportStatus
from infra.security.sessions import Session
from miniprogram_api.common import (
    channel,
    client_ip,
    json_body,
    parse_body,
    require_session,
    runtime,
)
from miniprogram_api.openapi_schemas import (
    BOOL,
    CURSOR,
    DATE,
    DATETIME,
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
    status_query,
)

bp = Blueprint("integrity", url_prefix="/api/v1")

QUERY_CODE_HEADER = "x-query-code"
REPORT_ID = path("report_id", "举报编号")
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)]
STATUS = enum(*ReportStatus)
REPORT = obj(
    {
        "id": INT,
        "agency": obj({"name": STR, "listed": BOOL}),
        "category": STR,
        "status": STATUS,
        "status_label": STR,
        "amount": nullable(STR),
        "accept_due_on": DATE,
        "result": nullable(STR),
    },
    {
        "promise": STR,
        "anonymous": BOOL,
        "created_at": DATETIME,
        "due_on": nullable(DATE),
        "conclude_due_on": nullable(DATE),
        "history": array(obj({"at": DATETIME, "status": STR, "note": nullable(STR)})),
        "reporter": obj({"anonymous": BOOL}),
    },
)
RECEIPT = obj(
    {
        "id": INT,
        "status": STATUS,
        "anonymous": BOOL,
        "due_on": DATE,
        "query_code": nullable(STR),
    }
)
CODE_HEADER_PARAM = {
    "name": "X-Query-Code",
    "in": "header",
    "required": True,
    "description": "匿名反映时取得的查询码（不放在网址中，访问日志不记录）",
    "schema": {"type": "string", "maxLength": 40},
}


class ReportBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    anonymous: bool = False
    agency_uscc: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] | None = (
        None
    )
    agency_name: Text | None = None
    category: Annotated[str, StringConstraints(max_length=40)]
    promise: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=10, max_length=5000)
    ]
    amount: Annotated[Decimal, Field(ge=0, max_digits=16, decimal_places=2)] | None = None
    promised_on: date | None = None
    broken_on: date | None = None
    attachments: Annotated[list[Annotated[int, Field(ge=1)]], Field(max_length=20)] = []
    contact_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)] | None = (
        None
    )
    contact_phone: (
        Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9+\-]{5,20}$")] | None
    ) = None

    @field_validator("agency_uscc", "contact_name")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None


class LookupBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query_code: Annotated[str, StringConstraints(max_length=40)]


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["accept", "reject", "process", "conclude"]
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] | None = None
    agency_uscc: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] | None = (
        None
    )


async def _optional_session(request: Request) -> Session | None:
    """Reporting needs no login; a token that is sent must be valid all the same."""
    if not request.headers.get("authorization"):
        return None
    return await require_session(request)


@bp.post("/integrity-reports")
@api_doc(
    "反映政务失信问题（可登录或匿名；匿名时返回一次性显示的查询码）",
    "integrity",
    RECEIPT,
    status=201,
    body=ReportBody,
    description="不登录即匿名。匿名反映不保存反映人的任何信息；实名反映的联系方式加密保存，"
    "仅信用中心审核人员可见（脱敏），被反映单位不可见。",
    errors=(401, 404, 429, 503),
)
async def submit(request: Request) -> HTTPResponse:
    session = await _optional_session(request)
    body = parse_body(request, ReportBody)
    receipt = await service.submit(
        runtime(request),
        session,
        client=client_ip(request),
        anonymous=body.anonymous,
        agency_uscc=body.agency_uscc,
        agency_name=body.agency_name,
        category=body.category,
        promise=body.promise,
        amount=body.amount,
        promised_on=body.promised_on,
        broken_on=body.broken_on,
        attachments=body.attachments,
        contact_name=body.contact_name,
        contact_phone=body.contact_phone,
    )
    return json_body(receipt, status=201)


@bp.get("/integrity-reports")
@api_doc("我反映的政务失信问题", "integrity", page(REPORT), secured=True, params=[CURSOR])
async def mine(request: Request) -> HTTPResponse:
    session = await require_session(request)
    return json_body(await service.my_reports(session, request.args.get("cursor")))


@bp.get("/integrity-reports/lookup")
@api_doc(
    "凭查询码查看匿名反映的办理进度（查询码放在 X-Query-Code 请求头）",
    "integrity",
    REPORT,
    params=[CODE_HEADER_PARAM],
    errors=(404, 429),
)
async def lookup(request: Request) -> HTTPResponse:
    code = request.headers.get(QUERY_CODE_HEADER, "")
    return json_body(await service.lookup(runtime(request), code, client=client_ip(request)))


@bp.post("/integrity-reports/lookup")
@api_doc(
    "凭查询码查看匿名反映的办理进度（查询码放在请求体）",
    "integrity",
    REPORT,
    body=LookupBody,
    errors=(404, 429),
)
async def lookup_by_body(request: Request) -> HTTPResponse:
    body = parse_body(request, LookupBody)
    return json_body(
        await service.lookup(runtime(request), body.query_code, client=client_ip(request))
    )


@bp.get("/integrity-reports/<report_id:str>")
@api_doc(
    "我反映的一件政务失信问题及办理经过", "integrity", REPORT, secured=True, params=[REPORT_ID]
)
async def detail(request: Request, report_id: str) -> HTTPResponse:
    session = await require_session(request)
    return json_body(await service.my_report(session, report_id))


@bp.get("/agencies/<uscc:str>/integrity-reports")
@api_doc(
    "本单位被反映的政务失信问题（单位经办人员；不含反映人的任何信息）",
    "integrity",
    page(REPORT),
    secured=True,
    params=[path("uscc", "单位的统一社会信用代码"), CURSOR],
)
async def about_agency(request: Request, uscc: str) -> HTTPResponse:
    session = await require_session(request)
    return json_body(await service.agency_reports(session, uscc, request.args.get("cursor")))


# -- the credit centre -------------------------------------------------------------------------

TRUE_VALUES = {"1", "true", "yes"}


@bp.get("/admin/integrity-reports")
@api_doc(
    "政务失信反映办理队列（可按 status、overdue=true、moderation=review、agency_uscc 筛选）",
    "review",
    page(REPORT),
    secured=True,
    params=[
        status_query(ReportStatus),
        query("overdue", enum("true", "false"), "true：只看已超过办理期限的"),
        query("moderation", enum("review"), "review：只看内容安全待人工复核的"),
        query("agency_uscc", {"type": "string", "maxLength": 40}, "被反映单位"),
        CURSOR,
    ],
    errors=(404,),
)
async def queue(request: Request) -> HTTPResponse:
    await require_session(request, *service.QUEUE_ROLES)
    return json_body(
        await service.review_queue(
            status=request.args.get("status"),
            overdue=request.args.get("overdue", "").lower() in TRUE_VALUES,
            held_for_review=request.args.get("moderation") == "review",
            agency_uscc=request.args.get("agency_uscc"),
            cursor=request.args.get("cursor"),
        )
    )


@bp.get("/admin/integrity-reports/<report_id:str>")
@api_doc(
    "政务失信反映详情（审核；实名反映人的联系方式脱敏显示并记入查询记录）",
    "review",
    REPORT,
    secured=True,
    params=[REPORT_ID],
)
async def review_detail(request: Request, report_id: str) -> HTTPResponse:
    session = await require_session(request, *service.QUEUE_ROLES)
    return json_body(
        await service.review_detail(runtime(request), session, report_id, channel=channel(request))
    )


@bp.post("/admin/integrity-reports/<report_id:str>/decision")
@api_doc(
    "政务失信反映办理：accept 受理 / reject 不予受理（note 为理由）/ process 办理中 / "
    "conclude 办结（note 为结果）",
    "review",
    REPORT,
    body=DecisionBody,
    secured=True,
    params=[REPORT_ID],
    errors=(409,),
)
async def decide(request: Request, report_id: str) -> HTTPResponse:
    session = await require_session(request, service.DECIDER_ROLE)
    body = parse_body(request, DecisionBody)
    return json_body(
        await service.decide(
            runtime(request),
            session,
            report_id,
            decision=body.decision,
            note=body.note,
            agency_uscc=body.agency_uscc,
            channel=channel(request),
        )
    )
