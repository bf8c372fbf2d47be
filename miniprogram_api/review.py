"""The credit centre's review queues and decisions (API.md: /api/v1/admin/{registrations|repairs|
objections}). Reviewers and admins read the queues; only reviewers decide."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator
from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from credit.applications import service
from credit.applications.models import ApplicationKind
from miniprogram_api.applications import COLLECTIONS
from miniprogram_api.common import channel, json_body, parse_body, require_session, runtime
from miniprogram_api.openapi_schemas import (
    APPLICATION_ID,
    APPLICATION_STATUS,
    CURSOR,
    api_doc,
    enum,
    page,
    query,
    ref,
)

OVERDUE = query("overdue", enum("true", "false"), "true：只看已超过办理期限的在办申请")
MODERATION = query("moderation", enum("review"), "review：只看内容安全待人工复核的申请")

bp = Blueprint("review", url_prefix="/api/v1/admin")

TRUE_VALUES = {"1", "true", "yes"}
Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)]


class Correction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Line | None = None
    authority: Line | None = None
    decided_on: date | None = None

    def changes(self) -> dict[str, str]:
        return {
            name: value.isoformat() if isinstance(value, date) else value
            for name, value in self.model_dump(exclude_none=True).items()
        }


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    decision: Literal["accept", "reject", "approve", "deny", "supplement"]
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    outcome: Literal["corrected", "revoked"] | None = None
    correction: Correction | None = None

    @field_validator("note")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None


def _register(collection: str, kind: ApplicationKind) -> None:
    async def queue(request: Request) -> HTTPResponse:
        await require_session(request, *service.QUEUE_ROLES)
        return json_body(
            await service.review_queue(
                kind,
                status=request.args.get("status"),
                overdue=request.args.get("overdue", "").lower() in TRUE_VALUES,
                held_for_review=request.args.get("moderation") == "review",
                cursor=request.args.get("cursor"),
            )
        )

    async def read(request: Request, application_id: str) -> HTTPResponse:
        session = await require_session(request, *service.QUEUE_ROLES)
        return json_body(
            await service.review_detail(
                runtime(request), session, kind, application_id, channel=channel(request)
            )
        )

    async def decide(request: Request, application_id: str) -> HTTPResponse:
        session = await require_session(request, service.DECIDER_ROLE)
        body = parse_body(request, DecisionBody)
        return json_body(
            await service.decide(
                runtime(request),
                session,
                kind,
                application_id,
                decision=body.decision,
                note=body.note,
                outcome=body.outcome,
                correction=body.correction.changes() if body.correction else None,
                channel=channel(request),
            )
        )

    label = service.KIND_LABELS[kind]
    bp.add_route(
        api_doc(
            f"{label}审核队列（可按 status、overdue=true、moderation=review 筛选）",
            "review",
            page(ref("Application")),
            secured=True,
            params=[APPLICATION_STATUS, OVERDUE, MODERATION, CURSOR],
        )(queue),
        f"/{collection}",
        methods=["GET"],
        name=f"queue_{collection}",
    )
    bp.add_route(
        api_doc(
            f"{label}申请详情（审核）",
            "review",
            ref("Application"),
            secured=True,
            params=[APPLICATION_ID],
        )(read),
        f"/{collection}/<application_id:str>",
        methods=["GET"],
        name=f"review_{collection}",
    )
    bp.add_route(
        api_doc(
            f"{label}审核决定：accept 受理 / reject 不予受理 / approve 通过 / deny 不通过 / "
            "supplement 要求补正（note 写明所需材料，办理期限暂停至申请人补正）",
            "review",
            ref("Application"),
            body=DecisionBody,
            secured=True,
            params=[APPLICATION_ID],
            errors=(409,),
        )(decide),
        f"/{collection}/<application_id:str>/decision",
        methods=["POST"],
        name=f"decide_{collection}",
    )


for _collection, _kind in COLLECTIONS.items():
    _register(_collection, _kind)
