"""Holders of incentives: the caller's own person or an organisation they operate, shown to staff
by a masked name, and known to codes only by a pseudonymous reference."""

from __future__ import annotations

from typing import Any

from tortoise.exceptions import IntegrityError

from credit.models import Subject, SubjectKind
from infra.security.crypto import mask_name
from qr import credit_code
from scenarios.incentives.models import HolderRef


def display_name(subject: Subject) -> str:
    """Persons masked; organisations' names are public."""
    return mask_name(subject.name) if subject.kind == SubjectKind.PERSON else subject.name


def subject_brief(subject: Subject) -> dict[str, Any]:
    brief: dict[str, Any] = {"kind": str(subject.kind), "name": display_name(subject)}
    if subject.kind != SubjectKind.PERSON:
        brief["uscc"] = subject.uscc
    return brief


async def holder_ref_of(subject_id: int) -> str:
    """The subject's active pseudonym, made on first use."""
    found = await HolderRef.get_or_none(active_key=f"s{subject_id}")
    if found is not None:
        return found.ref
    try:
        made = await HolderRef.create(
            subject_id=subject_id, ref=credit_code.new_reference(), active_key=f"s{subject_id}"
        )
    except IntegrityError:  # made by a concurrent request
        return (await HolderRef.get(active_key=f"s{subject_id}")).ref
    return made.ref
