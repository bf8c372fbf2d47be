"""Credit reports (API.md "Reports", issue 13): issue one, download its PDF (owner only), verify
it without login (page, API, PDF upload), revoke it, and the public keys of its signature."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, raw

from infra.errors import NotFound
from infra.security.sessions import load_session
from miniprogram_api.common import (
    channel,
    client_ip,
    h5_page,
    json_body,
    json_bytes,
    limit_per_client,
    parse_body,
    require_session,
    runtime,
)
from miniprogram_api.openapi_schemas import (
    BINARY,
    BOOL,
    DATETIME,
    INT,
    STR,
    api_doc,
    array,
    enum,
    nullable,
    obj,
    path,
)
from scenarios.reports import h5, service

bp = Blueprint("reports", url_prefix="/api/v1")
h5_bp = Blueprint("report_h5")

Text = Annotated[str, StringConstraints(strip_whitespace=True)]
REPORT_NO = path(
    "report_no",
    "报告编号（R + 24 位字母数字）",
    {"type": "string", "example": "R23456789ABCDEFGHJKLMNPQR"},
)
SUMMARY = obj(
    {
        "report_no": STR,
        "status": enum("valid", "revoked", "expired"),
        "status_label": STR,
        "issued_at": DATETIME,
        "valid_until": DATETIME,
        "purpose": STR,
        "subject": obj({"kind": STR, "name": STR, "id_masked": nullable(STR)}),
        "level": obj({"grade": STR, "label": STR, "score": INT}),
        "special": obj({"from": STR, "to": STR, "penalty_line": STR, "serious_line": STR}),
        "pdf_sha256": STR,
        "revoked_at": nullable(DATETIME),
        "signed": obj({"canonical": STR, "kid": STR, "alg": STR, "value": STR}),
    }
)
NO_STORE = {"Cache-Control": "no-store"}


class ReportBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    subject_uscc: Annotated[Text, Field(min_length=18, max_length=18)] | None = None
    purpose: Annotated[Text, Field(min_length=1, max_length=20)]


class RevokeBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    reason: Annotated[Text, Field(max_length=200)] | None = None


async def _caller_id(request: Request) -> int | None:
    """The logged-in caller, if any (verification needs no login; a caller is counted as one)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or len(token) > 200:
        return None
    rt = runtime(request)
    session = await load_session(rt.redis, rt.keys, token.strip())
    return session.user_id if session else None


@bp.post("/me/credit-report")
@api_doc(
    "出具信用报告（本人或代办企业；PDF 含核验二维码与水印，经 Ed25519 签名）",
    "reports",
    obj(
        {
            "report_no": STR,
            "pdf_url": STR,
            "verify_url": STR,
            "valid_until": DATETIME,
        },
        {"issued_at": DATETIME, "purpose": STR, "pdf_sha256": STR, "reused": BOOL},
    ),
    status=201,
    body=ReportBody,
    secured=True,
    errors=(404, 409, 429),
    other={200: ("同一内容在复用期内再次申请：原报告", obj({"report_no": STR}))},
)
async def create_report(request: Request) -> HTTPResponse:
    session = await require_session(request)
    await limit_per_client(request, session, service.RATE_BUCKET)
    body = parse_body(request, ReportBody)
    rt = runtime(request)
    issued = await service.issue(
        rt, session, body.subject_uscc, body.purpose, channel=channel(request)
    )
    return json_body(issued.as_dict(rt.settings), status=200 if issued.reused else 201)


@bp.get("/credit-reports/keys")
@api_doc(
    "信用报告签名公钥（Ed25519，离线核验用；轮换期间列出多把）",
    "reports",
    obj(
        {"keys": array(obj({"kid": STR, "alg": STR, "public_key": STR}))},
        {"canonical": STR, "signed_field": STR, "pdf_hash_field": STR},
    ),
)
async def report_keys(request: Request) -> HTTPResponse:
    return json_body(service.public_keys(runtime(request)))


@bp.get("/credit-reports/<report_no:str>")
@api_doc(
    "核验信用报告（无需登录）：出具时间、有效期、主体（脱敏）、等级、专项结论、PDF 哈希与签名",
    "reports",
    SUMMARY,
    params=[REPORT_NO],
    errors=(429,),
)
async def report_summary(request: Request, report_no: str) -> HTTPResponse:
    body = await service.verified(
        runtime(request),
        report_no,
        "j",
        channel=channel(request),
        user_id=await _caller_id(request),
        client=client_ip(request),
    )
    return json_bytes(body)


@bp.post("/credit-reports/<report_no:str>/verify")
@api_doc(
    "上传 PDF 核验是否与出具的报告逐字节一致（无需登录）",
    "reports",
    {"allOf": [SUMMARY, obj({"match": BOOL, "match_label": STR, "uploaded_sha256": STR})]},
    multipart=obj({"file": {"type": "string", "contentMediaType": "application/pdf"}}),
    params=[REPORT_NO],
    errors=(429,),
)
async def verify_report(request: Request, report_no: str) -> HTTPResponse:
    file = request.files.get("file") if request.files else None
    view = await service.verify_upload(
        runtime(request),
        report_no,
        file.body if file is not None else None,
        channel=channel(request),
        user_id=await _caller_id(request),
        client=client_ip(request),
    )
    return json_body(view)


@bp.get("/credit-reports/<report_no:str>/pdf")
@api_doc(
    "下载信用报告 PDF（仅申请人本人）",
    "reports",
    BINARY,
    content_type="application/pdf",
    secured=True,
    params=[REPORT_NO],
)
async def report_pdf(request: Request, report_no: str) -> HTTPResponse:
    session = await require_session(request)
    name, pdf = await service.owner_pdf(session, report_no)
    return raw(
        pdf,
        content_type="application/pdf",
        headers={
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f'attachment; filename="{name}"',
            "Content-Security-Policy": "default-src 'none'; sandbox; frame-ancestors 'none'",
        },
    )


@bp.post("/credit-reports/<report_no:str>/revoke")
@api_doc(
    "撤销信用报告（申请人本人或管理员）",
    "reports",
    SUMMARY,
    body=RevokeBody,
    secured=True,
    params=[REPORT_NO],
    errors=(409,),
)
async def revoke_report(request: Request, report_no: str) -> HTTPResponse:
    session = await require_session(request)
    body = parse_body(request, RevokeBody)
    return json_body(await service.revoke(runtime(request), session, report_no, body.reason))


@h5_bp.get("/r/<report_no:str>")
@api_doc(
    "信用报告核验 H5 页面（扫描报告上的二维码打开，无需登录）",
    "reports",
    STR,
    content_type="text/html",
    params=[REPORT_NO],
    errors=(429,),
    other={404: ("报告编号不存在（H5 提示页）", STR)},
)
async def report_page(request: Request, report_no: str) -> HTTPResponse:
    try:
        page = await service.verified(
            runtime(request), report_no, "h", channel="h5", user_id=None, client=client_ip(request)
        )
    except NotFound as exc:
        return h5_page(
            h5.render_not_found(report_no, exc.message).encode(), status=404, headers=NO_STORE
        )
    return h5_page(page, headers=NO_STORE)  # a revocation shows at once
