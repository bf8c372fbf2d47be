"""Which subjects a user acts for: their own bound person, and the market entities (enterprises,
individual businesses) they have proved they may act for. Registration, repair, objection and
the incentives all ask the same question, so they ask it here.

A `subject_operator` link counts when its basis is a proof:
- `legal_representative`: the user's bound identity is the legal representative the platform
  names. Checked again on every use (blind index against blind index, no decryption), so the
  link lapses by itself when the identity is unbound or the platform names someone else;
- `power_of_attorney`: a reviewer approved the user's 授权委托书 and 营业执照 (an `authorisation`
  application, credit/applications/); it holds until revoked.
Links made by merchant approvals before proof was required are `unproven` and count for nothing.
"""

from __future__ import annotations

from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from credit.identifiers import require_uscc
from credit.models import (
    MARKET_ENTITY_KINDS,
    IdentityBinding,
    OperatorBasis,
    Subject,
    SubjectOperator,
)
from infra.errors import Conflict, Forbidden, NotFound
from infra.security.sessions import Session

PROOF_REQUIRED = (
    "您的实名身份与该企业登记的法定代表人不一致。如受企业委托办理，"
    "请上传加盖企业公章的授权委托书和营业执照，经审核通过后即可代企业办理"
)


async def _person_index(person_id: int | None) -> str | None:
    """The blind index of a bound person (None when no identity is bound)."""
    if person_id is None:
        return None
    person = await Subject.get_or_none(id=person_id).only("id", "id_number_index")
    return person.id_number_index if person else None


def _proven(own_index: str | None) -> Q:
    by_attorney = Q(basis=OperatorBasis.POWER_OF_ATTORNEY)
    if own_index is None:
        return by_attorney
    return by_attorney | Q(
        basis=OperatorBasis.LEGAL_REPRESENTATIVE,
        subject__legal_representative_id_index=own_index,
    )


async def _proven_subject_ids(user_id: int, person_id: int | None) -> list[int]:
    rows = await SubjectOperator.filter(
        _proven(await _person_index(person_id)), user_id=user_id
    ).only("id", "subject_id")
    return [row.subject_id for row in rows]


async def operated_subject_ids(session: Session) -> list[int]:
    """The market entities the caller may act for now."""
    return await _proven_subject_ids(session.user_id, session.subject_id)


async def user_may_act_for(user_id: int, subject_id: int) -> bool:
    """The same question about a user who is not the caller (e.g. a merchant's operator)."""
    binding = await IdentityBinding.get_or_none(user_id=user_id)
    person_id = binding.subject_id if binding else None
    return subject_id in await _proven_subject_ids(user_id, person_id)


async def may_act_for(session: Session, subject_id: int) -> bool:
    return subject_id in await operated_subject_ids(session)


async def acting_subject_ids(session: Session) -> set[int]:
    """The caller's own person and every organisation they operate."""
    ids = set(await operated_subject_ids(session))
    if session.subject_id is not None:
        ids.add(session.subject_id)
    return ids


async def market_entity(uscc: str, field: str = "uscc") -> Subject:
    """The enterprise or individual business of the store with this USCC, or 404."""
    code = require_uscc(uscc, field)
    subject = await Subject.get_or_none(uscc=code, kind__in=list(MARKET_ENTITY_KINDS))
    if subject is None:
        raise NotFound("未找到该企业", code="SUBJECT_NOT_FOUND")
    return subject


async def acting_subject(
    session: Session, uscc: str | None, field: str = "subject_uscc"
) -> Subject:
    """The enterprise `uscc` names, which the caller must operate; without one, the caller's own
    bound person."""
    if uscc:
        subject = await market_entity(uscc, field)
        if not await may_act_for(session, subject.id):
            raise Forbidden(
                "您尚未获得代该企业办理的资格：法定代表人本人请先完成实名核验并认证企业，"
                "受托经办人请上传授权委托书和营业执照",
                code="NOT_SUBJECT_OPERATOR",
            )
        return subject
    if session.subject_id is None:
        raise Conflict("请先完成实名核验", code="IDENTITY_NOT_BOUND")
    return await Subject.get(id=session.subject_id)


async def is_legal_representative(session: Session, subject: Subject) -> bool:
    own = await _person_index(session.subject_id)
    return own is not None and own == subject.legal_representative_id_index


async def link_operator(
    user_id: int,
    subject_id: int,
    basis: OperatorBasis,
    application_id: int | None = None,
) -> SubjectOperator:
    """Makes (or upgrades to a proof) the link; in the caller's transaction if there is one."""
    values: dict[str, Any] = {"basis": basis, "application_id": application_id}
    found = await SubjectOperator.get_or_none(user_id=user_id, subject_id=subject_id)
    if found is None:
        try:
            return await SubjectOperator.create(user_id=user_id, subject_id=subject_id, **values)
        except IntegrityError:  # a concurrent link won the unique (user, subject)
            found = await SubjectOperator.get(user_id=user_id, subject_id=subject_id)
    await SubjectOperator.filter(id=found.id).update(**values)
    await found.refresh_from_db()
    return found
