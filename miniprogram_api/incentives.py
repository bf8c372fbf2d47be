"""信易游 / 信易租 (API.md "Incentives"): eligibility, the personal credit code, staff scanning
and redemption, offline bundles and sync, 信易租 applications, reports."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, StringConstraints
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, raw

from credit.identifiers import require_uscc
from infra.errors import Invalid
from miniprogram_api.common import (
    bearer_token,
    channel,
    json_body,
    json_bytes,
    parse_body,
    require_session,
)
from miniprogram_api.common import runtime as rt_of
from miniprogram_api.openapi_schemas import (
    ANY_OBJECT,
    BINARY,
    BOOL,
    CURSOR,
    DATE_RANGE,
    DATETIME,
    INT,
    RENTAL_STATUS,
    STR,
    SUBJECT_USCC,
    api_doc,
    array,
    enum,
    obj,
    page,
    path,
    query,
    ref,
)
from scenarios.incentives import (
    codes,
    eligibility,
    offline,
    redemptions,
    rentals,
    reports,
    staff,
    verify,
)

VENUE_ID = path("venue_id", "场所编号", {"type": "string", "example": "alxa-desert-park"})
STAFF_OF_VENUE = obj(
    {"venue": obj({"id": STR, "name": STR}), "user_id": INT, "venues": array(ANY_OBJECT)}
)

bp = Blueprint("incentives", url_prefix="/api/v1")

Text = Annotated[str, StringConstraints(strip_whitespace=True)]
Token = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=600)]
PolicyId = Annotated[str, StringConstraints(min_length=1, max_length=24)]
IdempotencyKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{8,100}$")]
Uscc = Annotated[Text, Field(min_length=18, max_length=18)]
STAFF = staff.STAFF_ROLE


class VerifyBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    token: Token
    venue_id: Annotated[str, StringConstraints(min_length=1, max_length=24)] | None = None


class RedeemBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    token: Token
    policy_id: PolicyId
    idempotency_key: IdempotencyKey


class SyncItem(BaseModel):
    model_config = ConfigDict(extra="ignore")
    token: Token
    policy_id: PolicyId
    idempotency_key: IdempotencyKey
    redeemed_at: AwareDatetime
    bundle_id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    device_id: Annotated[str, StringConstraints(max_length=64)] | None = None


class SyncBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    redemptions: Annotated[list[SyncItem], Field(min_length=1, max_length=offline.MAX_ITEMS)]


class HolderBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    subject_uscc: Uscc | None = None


class RentalBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    policy_id: PolicyId
    subject_uscc: Uscc | None = None
    note: Annotated[Text, Field(max_length=500)] | None = None


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    decision: Literal["confirm", "decline"]
    note: Annotated[Text, Field(max_length=500)] | None = None


class StaffBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    user_id: StrictInt = Field(ge=1)


def _uscc_arg(request: Request) -> str | None:
    value = request.args.get("subject_uscc")
    return None if value is None else require_uscc(value, "subject_uscc")


# -- holders ----------------------------------------------------------------------------------


@bp.get("/incentives")
@api_doc(
    "我（及我经办的企业）可享受的信易游 / 信易租优惠，及原因",
    "incentives",
    page(
        obj(
            {
                "holder": obj({"kind": STR, "name": STR}),
                "level": ref("Level"),
                "policies": array(
                    obj({"policy_id": STR, "title": STR, "eligible": BOOL, "reason": STR})
                ),
            }
        )
    ),
    secured=True,
)
async def my_incentives(request: Request) -> HTTPResponse:
    session = await require_session(request)
    return json_body(await eligibility.incentives_for(session))


@bp.get("/me/credit-code")
@api_doc(
    "个人信用码（Ed25519 签名，60 秒内有效，每次调用生成新码）；subject_uscc：为经办的企业生成",
    "incentives",
    obj(
        {"token": STR, "expires_at": DATETIME, "ttl": INT},
        {"qr_png": STR, "level": ref("Level"), "eligible": array(STR)},
    ),
    secured=True,
    params=[SUBJECT_USCC],
    errors=(409, 429),
)
async def my_credit_code(request: Request) -> HTTPResponse:
    session = await require_session(request)
    return json_body(await codes.issue_code(rt_of(request), session, _uscc_arg(request)))


@bp.get("/me/credit-code/qr.png")
@api_doc(
    "信用码二维码图片（token：本人刚取得的信用码）",
    "incentives",
    BINARY,
    content_type="image/png",
    secured=True,
    params=[query("token", {"type": "string", "maxLength": 600}, "本人刚取得的信用码")],
)
async def my_credit_code_png(request: Request) -> HTTPResponse:
    session = await require_session(request)
    png = await codes.qr_png_for(rt_of(request), session, request.args.get("token") or "")
    return raw(png, content_type="image/png", headers={"Cache-Control": "no-store"})


@bp.post("/me/credit-code/revoke")
@api_doc(
    "停用当前信用码标识（如手机丢失）：离线核验包将其列为已停用，下次生成新标识",
    "incentives",
    obj({"revoked": BOOL}),
    body=HolderBody,
    secured=True,
    errors=(409,),
)
async def revoke_credit_code(request: Request) -> HTTPResponse:
    session = await require_session(request)
    body = parse_body(request, HolderBody)
    return json_body(await codes.revoke_code(rt_of(request), session, body.subject_uscc))


@bp.get("/me/redemptions")
@api_doc(
    "我享受过或申请中的优惠",
    "incentives",
    page(ref("Redemption")),
    secured=True,
    params=[CURSOR],
)
async def my_redemptions(request: Request) -> HTTPResponse:
    session = await require_session(request)
    return json_body(await redemptions.my_redemptions(session, request.args.get("cursor")))


@bp.get("/venues")
@api_doc(
    "信易游 / 信易租场所",
    "incentives",
    page(obj({"id": STR, "name": STR, "kind": STR, "scenario": STR})),
)
async def venues(request: Request) -> HTTPResponse:
    return json_body(staff.list_venues())


# -- venue staff ------------------------------------------------------------------------------


@bp.post("/scan/verify")
@api_doc(
    "工作人员扫码核验：持码人脱敏姓名、信用等级与可享受的优惠（不含记录明细）",
    "incentives",
    obj(
        {
            "holder": obj({"name_masked": STR, "level": STR}),
            "eligible": array(obj({"policy_id": STR, "title": STR, "benefit": STR})),
            "ineligible": array(obj({"policy_id": STR, "reason": STR})),
        }
    ),
    body=VerifyBody,
    secured=True,
    errors=(409, 429),
)
async def scan_verify(request: Request) -> HTTPResponse:
    bearer = bearer_token(request)
    token, venue_id = _verify_args(request)
    result = await verify.verify_scan(rt_of(request), bearer, token, venue_id, channel(request))
    return json_bytes(result)


def _verify_args(request: Request) -> tuple[str, str | None]:
    """VerifyBody's token and venue_id. A body that plainly passes the model is taken as it is
    (validating it was about a tenth of the handler); anything else goes through the model, for
    its exact 4xx errors."""
    try:
        payload = json.loads(request.body or b"null")
    except (ValueError, RecursionError):  # bad JSON of any kind: parse_body says which
        payload = None
    if type(payload) is dict:
        token, venue_id = payload.get("token"), payload.get("venue_id")
        if (
            type(token) is str
            and 0 < len(token) <= 600
            and not token[0].isspace()  # nothing the model would strip
            and not token[-1].isspace()
            and (venue_id is None or (type(venue_id) is str and 0 < len(venue_id) <= 24))
        ):
            return token, venue_id
    body = parse_body(request, VerifyBody)
    return body.token, body.venue_id


@bp.post("/scan/redeem")
@api_doc(
    "核销优惠（同一幂等键返回同一核销记录；超出限制返回 409 ALREADY_REDEEMED）",
    "incentives",
    ref("Redemption"),
    status=201,
    body=RedeemBody,
    secured=True,
    errors=(404, 409),
    other={200: ("同一幂等键再次提交：原核销记录", ref("Redemption"))},
)
async def scan_redeem(request: Request) -> HTTPResponse:
    session = await require_session(request, STAFF)
    body = parse_body(request, RedeemBody)
    redemption, created = await redemptions.redeem_scan(
        rt_of(request),
        session,
        token=body.token,
        policy_id=body.policy_id,
        idempotency_key=body.idempotency_key,
        channel=channel(request),
    )
    return json_body(redemption, status=201 if created else 200)


@bp.get("/venues/<venue_id:str>/offline-bundle")
@api_doc(
    "离线核验包：公钥、本场所优惠、已停用标识与有效期",
    "incentives",
    obj(
        {
            "bundle_id": STR,
            "keys": array(obj({"kid": STR, "public_key": STR})),
            "policies": array(ANY_OBJECT),
            "revoked": array(STR),
            "issued_at": DATETIME,
            "valid_until": DATETIME,
        }
    ),
    secured=True,
    params=[VENUE_ID],
)
async def offline_bundle(request: Request, venue_id: str) -> HTTPResponse:
    session = await require_session(request, STAFF, staff.ADMIN_ROLE)
    return json_body(await offline.bundle_for(rt_of(request), session, venue_id))


@bp.post("/scan/offline-sync")
@api_doc(
    "同步离线核销记录：逐条返回 accepted / duplicate / rejected 及原因",
    "incentives",
    obj(
        {
            "items": array(
                obj(
                    {
                        "idempotency_key": STR,
                        "status": enum("accepted", "duplicate", "rejected"),
                    }
                )
            ),
            "summary": obj({"accepted": INT, "duplicate": INT, "rejected": INT}),
        }
    ),
    body=SyncBody,
    secured=True,
)
async def offline_sync(request: Request) -> HTTPResponse:
    session = await require_session(request, STAFF)
    body = parse_body(request, SyncBody)
    items = [item.model_dump() for item in body.redemptions]
    return json_body(await offline.sync(rt_of(request), session, items, channel(request)))


# -- 信易租 -----------------------------------------------------------------------------------


@bp.post("/rentals")
@api_doc(
    "申请信易租优惠（企业由经办人申请），由服务方工作人员确认或拒绝",
    "incentives",
    ref("Redemption"),
    status=201,
    body=RentalBody,
    secured=True,
    errors=(404, 409),
)
async def apply_rental(request: Request) -> HTTPResponse:
    session = await require_session(request)
    body = parse_body(request, RentalBody)
    result = await rentals.apply_rental(
        rt_of(request), session, policy_id=body.policy_id, uscc=body.subject_uscc, note=body.note
    )
    return json_body(result, status=201)


@bp.get("/venues/<venue_id:str>/rentals")
@api_doc(
    "本场所的信易租申请（status 筛选）",
    "incentives",
    page(ref("Redemption")),
    secured=True,
    params=[VENUE_ID, RENTAL_STATUS, CURSOR],
)
async def venue_rentals(request: Request, venue_id: str) -> HTTPResponse:
    session = await require_session(request, STAFF, staff.ADMIN_ROLE)
    result = await rentals.venue_rentals(
        rt_of(request), session, venue_id, request.args.get("status"), request.args.get("cursor")
    )
    return json_body(result)


@bp.post("/rentals/<application_id:str>/decision")
@api_doc(
    "服务方确认（confirm）或拒绝（decline）信易租申请",
    "incentives",
    ref("Redemption"),
    body=DecisionBody,
    secured=True,
    params=[path("application_id", "信易租申请编号")],
    errors=(409,),
)
async def decide_rental(request: Request, application_id: str) -> HTTPResponse:
    session = await require_session(request, STAFF)
    body = parse_body(request, DecisionBody)
    result = await rentals.decide_rental(
        rt_of(request),
        session,
        application_id,
        decision=body.decision,
        note=body.note,
        channel=channel(request),
    )
    return json_body(result)


# -- reports and administration ---------------------------------------------------------------


def _csv(data: bytes, name: str) -> HTTPResponse:
    return raw(
        data,
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/venues/<venue_id:str>/report")
@api_doc(
    "本场所按日、按优惠的核销统计与信用核查次数（from、to：YYYY-MM-DD，默认本月）",
    "incentives",
    ref("Report"),
    secured=True,
    params=[VENUE_ID, *DATE_RANGE],
)
async def venue_report(request: Request, venue_id: str) -> HTTPResponse:
    session = await require_session(request, STAFF, staff.ADMIN_ROLE)
    args = request.args
    data = await reports.report(rt_of(request), session, venue_id, args.get("from"), args.get("to"))
    return json_body(data)


@bp.get("/venues/<venue_id:str>/report.csv")
@api_doc(
    "本场所统计（CSV，月报用）",
    "incentives",
    STR,
    content_type="text/csv",
    secured=True,
    params=[VENUE_ID, *DATE_RANGE],
)
async def venue_report_csv(request: Request, venue_id: str) -> HTTPResponse:
    session = await require_session(request, STAFF, staff.ADMIN_ROLE)
    args = request.args
    data = await reports.report(rt_of(request), session, venue_id, args.get("from"), args.get("to"))
    return _csv(reports.as_csv(data), f"incentives-{data['venues'][0]['id']}-{data['from']}.csv")


@bp.get("/admin/incentives/report")
@api_doc("全部场所的统计（管理员）", "incentives", ref("Report"), secured=True, params=DATE_RANGE)
async def all_report(request: Request) -> HTTPResponse:
    session = await require_session(request, staff.ADMIN_ROLE)
    args = request.args
    return json_body(
        await reports.report(rt_of(request), session, None, args.get("from"), args.get("to"))
    )


@bp.get("/admin/incentives/report.csv")
@api_doc(
    "全部场所的统计（CSV，管理员）",
    "incentives",
    STR,
    content_type="text/csv",
    secured=True,
    params=DATE_RANGE,
)
async def all_report_csv(request: Request) -> HTTPResponse:
    session = await require_session(request, staff.ADMIN_ROLE)
    args = request.args
    data = await reports.report(rt_of(request), session, None, args.get("from"), args.get("to"))
    return _csv(reports.as_csv(data), f"incentives-all-{data['from']}.csv")


@bp.post("/admin/venues/<venue_id:str>/staff")
@api_doc(
    "指定场所工作人员（管理员；同时授予 venue_staff 角色）",
    "incentives",
    STAFF_OF_VENUE,
    body=StaffBody,
    secured=True,
    params=[VENUE_ID],
)
async def add_staff(request: Request, venue_id: str) -> HTTPResponse:
    await require_session(request, staff.ADMIN_ROLE)
    body = parse_body(request, StaffBody)
    result = await staff.assign_staff(rt_of(request), venue_id, body.user_id, assign=True)
    return json_body(result)


@bp.delete("/admin/venues/<venue_id:str>/staff/<user_id:str>")
@api_doc(
    "取消场所工作人员（管理员）",
    "incentives",
    STAFF_OF_VENUE,
    secured=True,
    params=[VENUE_ID, path("user_id", "用户编号")],
)
async def remove_staff(request: Request, venue_id: str, user_id: str) -> HTTPResponse:
    await require_session(request, staff.ADMIN_ROLE)
    if not (user_id.isascii() and user_id.isdigit()) or len(user_id) > 18:
        raise Invalid("用户编号无效", fields={"user_id": "须为数字"})
    return json_body(await staff.assign_staff(rt_of(request), venue_id, int(user_id), assign=False))
