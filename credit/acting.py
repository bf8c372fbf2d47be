"""Which subjects a user acts for: their own bound person, and the organisations they operate
(`subject_operator`, made when staff approve their shop). Registration, repair, objection and
the incentives all ask the same question, so they ask it here."""

from __future__ import annotations

from credit.identifiers import require_uscc
from credit.models import MARKET_ENTITY_KINDS, Subject, SubjectOperator
from infra.errors import Conflict, Forbidden, NotFound
from infra.security.sessions import Session


async def operated_subject_ids(session: Session) -> list[int]:
    rows = await SubjectOperator.filter(user_id=session.user_id).only("id", "subject_id")
    return [row.subject_id for row in rows]


async def acting_subject_ids(session: Session) -> set[int]:
    """The caller's own person and every organisation they operate."""
    ids = set(await operated_subject_ids(session))
    if session.subject_id is not None:
        ids.add(session.subject_id)
    return ids


async def acting_subject(
    session: Session, uscc: str | None, field: str = "subject_uscc"
) -> Subject:
    """The enterprise `uscc` names, which the caller must operate; without one, the caller's own
    bound person."""
    if uscc:
        code = require_uscc(uscc, field)
        subject = await Subject.get_or_none(uscc=code, kind__in=list(MARKET_ENTITY_KINDS))
        if subject is None:
            raise NotFound("未找到该企业", code="SUBJECT_NOT_FOUND")
        if not await SubjectOperator.exists(user_id=session.user_id, subject_id=subject.id):
            raise Forbidden("您不是该企业的经办人", code="NOT_SUBJECT_OPERATOR")
        return subject
    if session.subject_id is None:
        raise Conflict("请先完成实名核验", code="IDENTITY_NOT_BOUND")
    return await Subject.get(id=session.subject_id)
