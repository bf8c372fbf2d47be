"""Registration, repair and objection (API.md "Registration, repair, objection"): what applicants
call. The reviewers' side is in miniprogram_api/review.py."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StringConstraints
from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from credit.applications import service
from credit.applications.models import ApplicationKind
from credit.applications.rules import default_rules
from miniprogram_api.common import json_body, limit_per_client, parse_body, require_session, runtime
from miniprogram_api.openapi_schemas import (
    APPLICATION_ID,
    BOOL,
    CURSOR,
    DATE,
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

bp = Blueprint("applications", url_prefix="/api/v1")

Text = Annotated[str, StringConstraints(strip_whitespace=True)]
Attachments = Annotated[list[StrictInt], Field(default_factory=list, max_length=9)]
# Path segment -> kind, as API.md names the collections.
COLLECTIONS = {
    "registrations": ApplicationKind.REGISTRATION,
    "repairs": ApplicationKind.REPAIR,
    "objections": ApplicationKind.OBJECTION,
    # requests to act for an enterprise, filed through POST /api/v1/me/enterprises
    "enterprise-authorisations": ApplicationKind.AUTHORISATION,
}


class RegistrationBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    subject_uscc: Annotated[Text, Field(min_length=18, max_length=18)] | None = None
    category: Annotated[Text, Field(min_length=1, max_length=30)]
    title: Annotated[Text, Field(min_length=2, max_length=60)]
    content: Annotated[Text, Field(min_length=2, max_length=2000)]
    attachments: Attachments


class RepairBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    record_id: StrictInt = Field(ge=1)
    reason: Annotated[Text, Field(min_length=5, max_length=2000)]
    commitment_accepted: StrictBool
    attachments: Attachments
    # proof code (GET /records/{id}/repair-eligibility: required_proofs) -> its uploads
    proofs: Annotated[
        dict[Annotated[str, Field(max_length=40)], Annotated[list[StrictInt], Field(max_length=9)]],
        Field(default_factory=dict, max_length=9),
    ]


class ObjectionBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    record_id: StrictInt = Field(ge=1)
    reason: Annotated[Text, Field(min_length=5, max_length=2000)]
    attachments: Attachments
    # Required when the record's objection was decided before (新的事实和理由).
    new_facts: Annotated[Text, Field(min_length=5, max_length=2000)] | None = None


@bp.post("/registrations")
@api_doc(
    "自愿注册信用信息（审核通过后在信用记录中显示，来源为自愿注册）",
    "applications",
    ref("ApplicationReceipt"),
    status=201,
    body=RegistrationBody,
    secured=True,
    errors=(404, 409, 429),
)
async def submit_registration(request: Request) -> HTTPResponse:
    session = await require_session(request)
    await limit_per_client(request, session, "registration")
    body = parse_body(request, RegistrationBody)
    receipt = await service.submit_registration(
        runtime(request),
        session,
        subject_uscc=body.subject_uscc,
        category=body.category,
        title=body.title,
        content=body.content,
        attachments=body.attachments,
    )
    return json_body(receipt, status=201)


@bp.get("/registration-categories")
@api_doc(
    "自愿注册的信息类别", "applications", obj({"items": array(obj({"code": STR, "label": STR}))})
)
async def registration_categories(request: Request) -> HTTPResponse:
    categories = default_rules().categories.values()
    return json_body({"items": [{"code": c.code, "label": c.label} for c in categories]})


@bp.get("/records/<record_id:str>/repair-eligibility")
@api_doc(
    "该记录能否申请信用修复，及办理渠道（本平台或国家企业信用信息公示系统）",
    "applications",
    obj(
        {"eligible": BOOL, "reason": nullable(STR), "channel": enum("here", "gsxt")},
        {
            "earliest_date": nullable(DATE),
            "required_proofs": array(obj({"code": STR, "label": STR})),
        },
    ),
    secured=True,
    params=[path("record_id", "信用记录编号")],
)
async def repair_eligibility(request: Request, record_id: str) -> HTTPResponse:
    session = await require_session(request)
    return json_body(await service.repair_eligibility_of(session, record_id))


@bp.get("/repairs/commitment")
@api_doc(
    "信用承诺书全文与版本（申请修复前须阅读并同意）",
    "applications",
    obj({"version": STR, "text": STR}),
)
async def repair_commitment(request: Request) -> HTTPResponse:
    rules = default_rules()
    return json_body({"version": rules.commitment_version, "text": rules.commitment_text})


@bp.post("/repairs")
@api_doc(
    "申请信用修复（须同意信用承诺书；每条记录同时只能有一件在办申请）",
    "applications",
    ref("ApplicationReceipt"),
    status=201,
    body=RepairBody,
    secured=True,
    errors=(404, 409, 429),
)
async def submit_repair(request: Request) -> HTTPResponse:
    session = await require_session(request)
    await limit_per_client(request, session, "repair")
    body = parse_body(request, RepairBody)
    receipt = await service.submit_repair(
        runtime(request),
        session,
        record_id=body.record_id,
        reason=body.reason,
        commitment_accepted=body.commitment_accepted,
        attachments=body.attachments,
        proofs=body.proofs,
    )
    return json_body(receipt, status=201)


@bp.post("/objections")
@api_doc(
    "对信用记录提出异议（办理期间该记录标注为异议处理中）",
    "applications",
    ref("ApplicationReceipt"),
    status=201,
    body=ObjectionBody,
    secured=True,
    errors=(404, 409, 429),
)
async def submit_objection(request: Request) -> HTTPResponse:
    session = await require_session(request)
    await limit_per_client(request, session, "objection")
    body = parse_body(request, ObjectionBody)
    receipt = await service.submit_objection(
        runtime(request),
        session,
        record_id=body.record_id,
        reason=body.reason,
        attachments=body.attachments,
        new_facts=body.new_facts,
    )
    return json_body(receipt, status=201)


class SupplementBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    note: Annotated[Text, Field(min_length=2, max_length=400)]
    attachments: Attachments


def _register(collection: str, kind: ApplicationKind) -> None:
    async def list_mine(request: Request) -> HTTPResponse:
        session = await require_session(request)
        return json_body(await service.my_applications(session, kind, request.args.get("cursor")))

    async def read_mine(request: Request, application_id: str) -> HTTPResponse:
        session = await require_session(request)
        return json_body(await service.application_detail(session, kind, application_id))

    async def withdraw(request: Request, application_id: str) -> HTTPResponse:
        session = await require_session(request)
        return json_body(await service.withdraw(runtime(request), session, kind, application_id))

    async def supplement(request: Request, application_id: str) -> HTTPResponse:
        session = await require_session(request)
        await limit_per_client(request, session, "supplement")
        body = parse_body(request, SupplementBody)
        return json_body(
            await service.answer_supplement(
                runtime(request),
                session,
                kind,
                application_id,
                note=body.note,
                attachments=body.attachments,
            )
        )

    label = service.KIND_LABELS[kind]
    bp.add_route(
        api_doc(
            f"补正{label}申请（按审核意见提交材料；补正期限内，办理期限随即恢复计算）",
            "applications",
            ref("Application"),
            body=SupplementBody,
            secured=True,
            params=[APPLICATION_ID],
            errors=(409,),
        )(supplement),
        f"/{collection}/<application_id:str>/supplement",
        methods=["POST"],
        name=f"supplement_{collection}",
    )
    bp.add_route(
        api_doc(
            f"我的{label}申请",
            "applications",
            page(ref("Application")),
            secured=True,
            params=[CURSOR],
        )(list_mine),
        f"/{collection}",
        methods=["GET"],
        name=f"list_{collection}",
    )
    bp.add_route(
        api_doc(
            f"我的{label}申请详情（含办理过程）",
            "applications",
            ref("Application"),
            secured=True,
            params=[APPLICATION_ID],
        )(read_mine),
        f"/{collection}/<application_id:str>",
        methods=["GET"],
        name=f"read_{collection}",
    )
    bp.add_route(
        api_doc(
            f"撤回{label}申请",
            "applications",
            ref("Application"),
            secured=True,
            params=[APPLICATION_ID],
            errors=(409,),
        )(withdraw),
        f"/{collection}/<application_id:str>/withdraw",
        methods=["POST"],
        name=f"withdraw_{collection}",
    )


for _collection, _kind in COLLECTIONS.items():
    _register(_collection, _kind)
