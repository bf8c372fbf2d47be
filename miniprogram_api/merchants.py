"""Merchants and zones, 一店一码 (API.md "Merchants and zones"): operators, staff, the public scan
endpoint and the H5 page of a plate."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StringConstraints
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, raw

from infra.bilingual import FONT_ROUTE, font_file
from infra.errors import NotFound
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
    ANY_OBJECT,
    BINARY,
    BOOL,
    COMPLAINT_STATUS,
    CURSOR,
    DATE,
    DATETIME,
    INT,
    MERCHANT_STATUS,
    NUM,
    STR,
    api_doc,
    array,
    enum,
    nullable,
    obj,
    page,
    path,
    ref,
)
from scenarios.merchants import complaints, public, service, street_index
from scenarios.merchants.h5 import render_not_found
from scenarios.merchants.models import MerchantStatus
from scenarios.merchants.rules import default_rules

ZONE = obj({"id": STR, "name": STR, "kind": STR, "region": STR, "index": nullable(NUM)})
MERCHANT_ID = path("merchant_id", "商户编号")
PLATE_CODE = path(
    "code", "商户码（≤ 32 位字母数字）", {"type": "string", "example": "DemoTuoling01"}
)

bp = Blueprint("merchants", url_prefix="/api/v1")
h5 = Blueprint("merchant_h5")

Text = Annotated[str, StringConstraints(strip_whitespace=True)]
PNG_HEADERS = {"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"}


class MerchantBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    uscc: Annotated[Text, Field(min_length=18, max_length=18)]
    name: Annotated[Text, Field(min_length=2, max_length=60)]
    zone_id: Annotated[Text, Field(min_length=1, max_length=40)]
    address: Annotated[Text, Field(min_length=2, max_length=120)]
    category: Annotated[Text, Field(min_length=1, max_length=30)]
    # Optional: the shop's name in traditional Mongolian script, printed on the plate.
    name_mn: Annotated[Text, Field(max_length=100)] = ""


class NameMnBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name_mn: Annotated[Text, Field(max_length=100)]


class CommitmentBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    accepted: StrictBool
    version: Annotated[Text, Field(min_length=1, max_length=20)]


class MerchantDecisionBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    decision: Literal["approve", "reject", "suspend", "reinstate", "revoke"]
    note: Annotated[Text, Field(max_length=200)] | None = None


class ComplaintBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    content: Annotated[Text, Field(min_length=5, max_length=1000)]
    attachments: Annotated[list[StrictInt], Field(default_factory=list, max_length=9)]


class ReplyBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    reply: Annotated[Text, Field(min_length=2, max_length=1000)]


class ComplaintDecisionBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    decision: Literal["uphold", "dismiss"]
    note: Annotated[Text, Field(max_length=500)] | None = None


# -- zones -----------------------------------------------------------------------------------


@bp.get("/zones")
@api_doc("诚信示范街区、景区与园区（含街区信用指数）", "merchants", page(ZONE))
async def zones(request: Request) -> HTTPResponse:
    return json_body(await street_index.list_zones())


@bp.get("/zones/<zone_id:str>/index")
@api_doc(
    "街区信用指数：构成与每日历史",
    "merchants",
    {
        "allOf": [
            ZONE,
            obj(
                {
                    "parts": ANY_OBJECT,
                    "as_of": STR,
                    "history": array(obj({"day": DATE, "value": nullable(NUM)})),
                }
            ),
        ]
    },
    params=[path("zone_id", "街区编号", {"type": "string", "example": "dingyuanying"})],
)
async def zone_index(request: Request, zone_id: str) -> HTTPResponse:
    return json_body(await street_index.zone_index(zone_id))


# -- operators and staff -----------------------------------------------------------------------


@bp.post("/merchants")
@api_doc(
    "登记商户（经营者须已实名），待工作人员审核",
    "merchants",
    ref("Merchant"),
    status=201,
    body=MerchantBody,
    secured=True,
    errors=(404, 409, 429),
)
async def register_merchant(request: Request) -> HTTPResponse:
    session = await require_session(request)
    await limit_per_client(request, session, "merchant_registration")
    body = parse_body(request, MerchantBody)
    merchant = await service.register(
        session,
        uscc=body.uscc,
        name=body.name,
        zone_id=body.zone_id,
        address=body.address,
        category=body.category,
        name_mn=body.name_mn,
    )
    return json_body(merchant, status=201)


@bp.get("/merchants")
@api_doc(
    "我经营的商户；工作人员可查看全部（status 筛选）",
    "merchants",
    page(ref("Merchant")),
    secured=True,
    params=[MERCHANT_STATUS, CURSOR],
)
async def list_merchants(request: Request) -> HTTPResponse:
    session = await require_session(request)
    return json_body(
        await service.list_merchants(
            session, request.args.get("status"), request.args.get("cursor")
        )
    )


@bp.get("/merchants/commitment")
@api_doc("诚信经营承诺书全文与版本", "merchants", obj({"version": STR, "text": STR}))
async def merchant_commitment_text(request: Request) -> HTTPResponse:
    return json_body(service.commitment_text())


@bp.get("/merchants/<merchant_id:str>")
@api_doc(
    "商户详情、等级与评价依据",
    "merchants",
    ref("Merchant"),
    secured=True,
    params=[MERCHANT_ID],
)
async def merchant_detail(request: Request, merchant_id: str) -> HTTPResponse:
    session = await require_session(request)
    return json_body(await service.merchant_detail(session, merchant_id))


@bp.post("/merchants/<merchant_id:str>/commitment")
@api_doc(
    "经营者签署诚信经营承诺",
    "merchants",
    obj(
        {
            "signed": BOOL,
            "version": nullable(STR),
            "signed_at": nullable(DATETIME),
            "hash": nullable(STR),
        }
    ),
    body=CommitmentBody,
    secured=True,
    params=[MERCHANT_ID],
    errors=(409,),
)
async def sign_commitment(request: Request, merchant_id: str) -> HTTPResponse:
    session = await require_session(request)
    body = parse_body(request, CommitmentBody)
    return json_body(
        await service.sign_commitment(
            runtime(request), session, merchant_id, accepted=body.accepted, version=body.version
        )
    )


@bp.get("/merchants/<merchant_id:str>/plate.png")
@api_doc(
    "可打印的商户信用码海报（PNG）",
    "merchants",
    BINARY,
    content_type="image/png",
    secured=True,
    params=[MERCHANT_ID],
    errors=(409,),
)
async def plate_png(request: Request, merchant_id: str) -> HTTPResponse:
    session = await require_session(request)
    image = await service.plate_image(runtime(request), session, merchant_id, "poster")
    return raw(image, content_type="image/png", headers=PNG_HEADERS)


@bp.get("/merchants/<merchant_id:str>/qr.png")
@api_doc(
    "商户码二维码（PNG）",
    "merchants",
    BINARY,
    content_type="image/png",
    secured=True,
    params=[MERCHANT_ID],
    errors=(409,),
)
async def qr_png(request: Request, merchant_id: str) -> HTTPResponse:
    session = await require_session(request)
    image = await service.plate_image(runtime(request), session, merchant_id, "qr")
    return raw(image, content_type="image/png", headers=PNG_HEADERS)


@bp.get("/merchants/<merchant_id:str>/complaints")
@api_doc(
    "商户收到的投诉（经营者或工作人员）",
    "merchants",
    page(ref("Complaint")),
    secured=True,
    params=[MERCHANT_ID, CURSOR],
)
async def merchant_complaints(request: Request, merchant_id: str) -> HTTPResponse:
    session = await require_session(request)
    return json_body(await complaints.of_merchant(session, merchant_id, request.args.get("cursor")))


@bp.post("/complaints/<complaint_id:str>/reply")
@api_doc(
    "经营者回复投诉",
    "merchants",
    ref("Complaint"),
    body=ReplyBody,
    secured=True,
    params=[path("complaint_id", "投诉编号")],
    errors=(409, 429),
)
async def reply_complaint(request: Request, complaint_id: str) -> HTTPResponse:
    session = await require_session(request)
    await limit_per_client(request, session, "complaint_reply")
    body = parse_body(request, ReplyBody)
    return json_body(await complaints.reply(runtime(request), session, complaint_id, body.reply))


@bp.get("/me/complaints")
@api_doc("我提交的投诉", "merchants", page(ref("Complaint")), secured=True, params=[CURSOR])
async def my_complaints(request: Request) -> HTTPResponse:
    session = await require_session(request)
    return json_body(await complaints.mine(session, request.args.get("cursor")))


@bp.post("/admin/merchants/<merchant_id:str>/decision")
@api_doc(
    "工作人员审核商户：approve / reject / suspend / reinstate / revoke",
    "review",
    ref("Merchant"),
    body=MerchantDecisionBody,
    secured=True,
    params=[MERCHANT_ID],
    errors=(409,),
)
async def decide_merchant(request: Request, merchant_id: str) -> HTTPResponse:
    session = await require_session(request, *service.STAFF_ROLES)
    body = parse_body(request, MerchantDecisionBody)
    return json_body(
        await service.decide(
            runtime(request), session, merchant_id, decision=body.decision, note=body.note
        )
    )


@bp.put("/admin/merchants/<merchant_id:str>/name-mn")
@api_doc(
    "工作人员更正商户的蒙古文名称（空字符串为删除），信用牌随之更新",
    "review",
    ref("Merchant"),
    body=NameMnBody,
    secured=True,
    params=[MERCHANT_ID],
)
async def correct_merchant_name_mn(request: Request, merchant_id: str) -> HTTPResponse:
    await require_session(request, *service.STAFF_ROLES)
    body = parse_body(request, NameMnBody)
    return json_body(await service.correct_name_mn(runtime(request), merchant_id, body.name_mn))


@bp.get("/admin/complaints")
@api_doc(
    "投诉处理队列（默认待处理，status 筛选）",
    "review",
    page(ref("Complaint")),
    secured=True,
    params=[COMPLAINT_STATUS, CURSOR],
)
async def complaint_queue(request: Request) -> HTTPResponse:
    await require_session(request, *service.STAFF_ROLES)
    return json_body(await complaints.queue(request.args.get("status"), request.args.get("cursor")))


@bp.post("/admin/complaints/<complaint_id:str>/decision")
@api_doc(
    "工作人员认定投诉：uphold 成立 / dismiss 不成立",
    "review",
    ref("Complaint"),
    body=ComplaintDecisionBody,
    secured=True,
    params=[path("complaint_id", "投诉编号")],
    errors=(409,),
)
async def decide_complaint(request: Request, complaint_id: str) -> HTTPResponse:
    session = await require_session(request, *service.STAFF_ROLES)
    body = parse_body(request, ComplaintDecisionBody)
    return json_body(
        await complaints.decide(
            runtime(request), session, complaint_id, decision=body.decision, note=body.note
        )
    )


# -- public: scanning a plate -----------------------------------------------------------------


@bp.get("/merchant-codes/<code:str>")
@api_doc(
    "扫码查看商户信用（无需登录）",
    "merchants",
    obj(
        {
            "code": STR,
            "status": enum(*MerchantStatus),
            "merchant": obj(
                {"name": STR, "zone": STR, "address": STR, "category": STR},
                {"name_mn": nullable(STR), "zone_mn": nullable(STR)},
            ),
            "level": ref("Level"),
            "commitment": ANY_OBJECT,
            "records": array(ref("Record")),
            "complaints": obj({"total": INT, "upheld": INT}),
        }
    ),
    params=[PLATE_CODE],
    errors=(429,),
)
async def merchant_code(request: Request, code: str) -> HTTPResponse:
    body = await public.scan(
        runtime(request), code, "json", channel=channel(request), client=lambda: client_ip(request)
    )
    return json_bytes(body)


@bp.post("/merchant-codes/<code:str>/complaints")
@api_doc(
    "消费者投诉商户（须登录）",
    "merchants",
    ref("Complaint"),
    status=201,
    body=ComplaintBody,
    secured=True,
    params=[PLATE_CODE],
    errors=(409, 429),
)
async def complain(request: Request, code: str) -> HTTPResponse:
    session = await require_session(request)
    await limit_per_client(request, session, "complaint")
    body = parse_body(request, ComplaintBody)
    complaint = await complaints.submit(
        runtime(request),
        session,
        code,
        content=body.content,
        attachments=body.attachments,
        client=lambda: client_ip(request),
    )
    return json_body(complaint, status=201)


@h5.get("/m/<code:str>")
@api_doc(
    "商户信用 H5 页面（手机浏览器扫码打开）",
    "merchants",
    STR,
    content_type="text/html",
    params=[PLATE_CODE],
    errors=(429,),
    other={404: ("商户码不存在（H5 提示页）", STR)},
)
async def merchant_page(request: Request, code: str) -> HTTPResponse:
    try:
        page = await public.scan(
            runtime(request), code, "html", channel="h5", client=lambda: client_ip(request)
        )
    except NotFound:
        missing = render_not_found(code).encode()
        return h5_page(missing, status=404)
    return h5_page(page)


@h5.get(FONT_ROUTE)
@api_doc(
    "H5 页面使用的蒙古文字体（Noto Sans Mongolian，由本服务提供，不经第三方）",
    "merchants",
    BINARY,
    content_type="font/ttf",
    other={304: ("未修改（If-None-Match）", STR)},
)
async def mongolian_font(request: Request) -> HTTPResponse:
    """Every H5 page's Mongolian font (infra/bilingual.py), from this host only."""
    path = default_rules().mongolian_font()
    if path is None:
        raise NotFound("服务器未安装蒙古文字体", code="FONT_MISSING")
    font = font_file(path)
    headers = {
        "Cache-Control": "public, max-age=604800",
        "ETag": font.etag,
        "Vary": "Accept-Encoding",
    }
    if request.headers.get("if-none-match") == font.etag:
        return raw(b"", status=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return raw(
            font.gzipped, content_type="font/ttf", headers=headers | {"Content-Encoding": "gzip"}
        )
    return raw(font.raw, content_type="font/ttf", headers=headers)
