"""`/api/v1/me/enterprises`: becoming able to act for a market entity of the store (credit/acting.py
holds the rule), and the list of the entities a user acts for and the requests still open.

One path for every enterprise and individual business, in a demonstration zone or not: the legal
representative proves it by the bound identity alone; anyone else files a 授权委托书 with the
营业执照, which a reviewer approves (an `authorisation` application, credit/applications/).
"""

from __future__ import annotations

from typing import Any

from credit.acting import (
    PROOF_REQUIRED,
    is_legal_representative,
    link_operator,
    market_entity,
    operated_subject_ids,
)
from credit.applications.models import OPEN_STATUSES, Application, ApplicationKind
from credit.applications.service import STATUS_LABELS, submit_authorisation
from credit.calendar_dates import shanghai_iso
from credit.models import OperatorBasis, Subject, SubjectOperator
from infra.audit import AuditEvent
from infra.audit import append as append_audit
from infra.errors import Conflict, Forbidden, Invalid
from infra.runtime import Runtime
from infra.security.sessions import Session

BASIS_LABELS = {
    OperatorBasis.LEGAL_REPRESENTATIVE: "法定代表人本人",
    OperatorBasis.POWER_OF_ATTORNEY: "授权委托（已审核）",
    OperatorBasis.UNPROVEN: "未认证",
}


def _enterprise(subject: Subject) -> dict[str, Any]:
    return {"uscc": subject.uscc, "name": subject.name, "kind": str(subject.kind)}


def _link_json(link: SubjectOperator, subject: Subject) -> dict[str, Any]:
    return {
        "enterprise": _enterprise(subject),
        "status": "active",
        "basis": str(link.basis),
        "basis_label": BASIS_LABELS[link.basis],
        "request_id": link.application_id,
        "since": shanghai_iso(link.created_at),
    }


async def claim(
    rt: Runtime,
    session: Session,
    *,
    uscc: str,
    power_of_attorney_upload_id: int | None,
    licence_upload_id: int | None,
    channel: str,
) -> tuple[dict[str, Any], int]:
    """(body, HTTP status): an existing right again (200), the link at once for the legal
    representative (201), or a request filed for review (201, status pending)."""
    if session.subject_id is None:
        raise Conflict("请先完成实名核验，再认证企业", code="IDENTITY_NOT_BOUND")
    subject = await market_entity(uscc)
    if subject.id in await operated_subject_ids(session):
        link = await SubjectOperator.get(user_id=session.user_id, subject_id=subject.id)
        return _link_json(link, subject), 200
    if await is_legal_representative(session, subject):
        link = await link_operator(session.user_id, subject.id, OperatorBasis.LEGAL_REPRESENTATIVE)
        await _audit_link(rt, session, link, channel)
        return _link_json(link, subject), 201
    if power_of_attorney_upload_id is None and licence_upload_id is None:
        raise Forbidden(PROOF_REQUIRED, code="AUTHORISATION_REQUIRED")
    if power_of_attorney_upload_id is None or licence_upload_id is None:
        missing = "power_of_attorney_upload_id" if licence_upload_id else "licence_upload_id"
        raise Invalid("请同时上传授权委托书和营业执照", fields={missing: "必填"})
    application = await submit_authorisation(
        session,
        subject,
        power_of_attorney_upload_id=power_of_attorney_upload_id,
        licence_upload_id=licence_upload_id,
    )
    return {
        "enterprise": _enterprise(subject),
        "status": "pending",
        "basis": None,
        "request": _request_json(application),
    }, 201


def _request_json(application: Application) -> dict[str, Any]:
    return {
        "id": application.id,
        "status": str(application.status),
        "status_label": STATUS_LABELS[application.status],
        "due_on": application.due_on.isoformat(),
        "created_at": shanghai_iso(application.created_at),
    }


async def _audit_link(rt: Runtime, session: Session, link: SubjectOperator, channel: str) -> None:
    await append_audit(
        rt.redis,
        rt.keys,
        AuditEvent(
            action="operator.link",
            actor_kind="self",
            actor_role="citizen",
            purpose="认证为企业法定代表人",
            channel=channel,
            actor_user_id=session.user_id,
            subject_id=link.subject_id,
            detail={"basis": str(link.basis)},
        ),
    )


async def my_enterprises(session: Session) -> dict[str, Any]:
    """The entities the caller may act for now, and their requests still open."""
    active = set(await operated_subject_ids(session))
    links = (
        await SubjectOperator.filter(user_id=session.user_id, subject_id__in=list(active))
        .order_by("id")
        .prefetch_related("subject")
        if active
        else []
    )
    requests = (
        await Application.filter(
            applicant_id=session.user_id,
            kind=ApplicationKind.AUTHORISATION,
            status__in=list(OPEN_STATUSES),
        )
        .order_by("-id")
        .prefetch_related("subject")
    )
    return {
        "items": [_link_json(link, link.subject) for link in links],
        "requests": [
            {"enterprise": _enterprise(row.subject)} | _request_json(row) for row in requests
        ],
        "next": None,
    }
