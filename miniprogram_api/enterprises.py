"""Acting for an enterprise (`/api/v1/me/enterprises`): the legal representative is recognised by
the bound identity; anyone else files a 授权委托书 with the 营业执照 for review. The requests are
followed and reviewed like the other applications (`/api/v1/enterprise-authorisations`,
`/api/v1/admin/enterprise-authorisations`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints
from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from credit import enterprises
from miniprogram_api.common import (
    channel,
    json_body,
    limit_per_client,
    parse_body,
    require_session,
    runtime,
)
from miniprogram_api.openapi_schemas import ANY_OBJECT, STR, api_doc, array, obj, page

ENTERPRISE = obj(
    {"enterprise": obj({"uscc": STR, "name": STR, "kind": STR}), "status": STR, "basis": STR}
)

bp = Blueprint("enterprises", url_prefix="/api/v1")


class EnterpriseClaimBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    uscc: Annotated[
        str, StringConstraints(strip_whitespace=True), Field(min_length=18, max_length=18)
    ]
    power_of_attorney_upload_id: StrictInt | None = Field(default=None, ge=1)
    licence_upload_id: StrictInt | None = Field(default=None, ge=1)


@bp.post("/me/enterprises")
@api_doc(
    "认证可代办的企业或个体工商户：法定代表人（经营者）本人实名即可，"
    "受托经办人须上传授权委托书和营业执照，经审核通过",
    "enterprises",
    ANY_OBJECT,
    status=201,
    description="法定代表人本人：201 即可代办；受托经办人：201 授权申请待审核；已可代办：200",
    body=EnterpriseClaimBody,
    secured=True,
    errors=(404, 409, 429),
    other={200: ("已可代办（重复认证）", ANY_OBJECT)},
)
async def claim_enterprise(request: Request) -> HTTPResponse:
    session = await require_session(request)
    await limit_per_client(request, session, "enterprise_claim")
    body = parse_body(request, EnterpriseClaimBody)
    shaped, status = await enterprises.claim(
        runtime(request),
        session,
        uscc=body.uscc,
        power_of_attorney_upload_id=body.power_of_attorney_upload_id,
        licence_upload_id=body.licence_upload_id,
        channel=channel(request),
    )
    return json_body(shaped, status=status)


@bp.get("/me/enterprises")
@api_doc(
    "我可代办的企业，以及待审核的授权申请",
    "enterprises",
    page(ENTERPRISE, requests=array(ANY_OBJECT)),
    secured=True,
)
async def my_enterprises(request: Request) -> HTTPResponse:
    session = await require_session(request)
    return json_body(await enterprises.my_enterprises(session))
