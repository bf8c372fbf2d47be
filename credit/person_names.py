"""Natural persons' names at rest (PIPL; issue 12 item 7): a person subject's name and an
organisation's legal representative's name are stored encrypted (AES-256-GCM, a field name per
column), and the plain column holds only the masked form every response shows (乌*, 欧阳**).

So a path that shows a person needs no key and cannot show more than the mask; the few that need
the name itself (a reviewer comparing a power of attorney, a future credit report) decrypt it.
No blind index: nothing looks a person up by name (persons are never searchable, and binding and
acting go by the ID number's index), and an index over the small space of Chinese names would be
open to a dictionary anyway. Enterprise names stay plain: they are public."""

from __future__ import annotations

from credit.models import LEGAL_REP_NAME_FIELD, PERSON_NAME_FIELD, Subject, SubjectKind
from infra.security.crypto import DecryptionError, FieldCipher, mask_name

# What an erased person subject is called (credit/identity.py): it names no one.
ERASED_NAME = "已解除绑定"


def masked(name: str) -> str:
    """What the plain column keeps: the mask, never the whole of a one-character name."""
    return mask_name(name) if len(name) > 1 else "*"


def seal(cipher: FieldCipher, name: str, field: str) -> tuple[str, str]:
    """(masked name, ciphertext) for a person's name under `field`."""
    return masked(name), cipher.encrypt(name, field)


def seal_person_name(cipher: FieldCipher, name: str) -> tuple[str, str]:
    return seal(cipher, name, PERSON_NAME_FIELD)


def seal_legal_representative(cipher: FieldCipher, name: str) -> tuple[str, str]:
    return seal(cipher, name, LEGAL_REP_NAME_FIELD)


def person_name(subject: Subject, cipher: FieldCipher) -> str:
    """A person subject's name itself (the plain name of any other subject)."""
    if subject.kind != SubjectKind.PERSON or not subject.name_enc:
        return subject.name
    return cipher.decrypt(subject.name_enc, PERSON_NAME_FIELD)


def legal_representative_name(subject: Subject, cipher: FieldCipher) -> str | None:
    if not subject.legal_representative_enc:
        return subject.legal_representative
    return cipher.decrypt(subject.legal_representative_enc, LEGAL_REP_NAME_FIELD)


def same_name(cipher: FieldCipher, token: str | None, name: str, field: str) -> bool:
    """Encryption is randomised: "unchanged" means the stored ciphertext decrypts to `name`."""
    if not token:
        return False
    try:
        return cipher.decrypt(token, field) == name
    except DecryptionError:
        return False


async def seal_stored_names(cipher: FieldCipher, batch: int = 500) -> int:
    """Encrypt the names stored in plain before migration 0013 (idempotent, run at start: the
    migration holds no key). A masked form always has a "*", which no real name has; an erased
    person's placeholder (ERASED_NAME) is no one's name. Returns the rows sealed."""
    sealed = 0
    while True:
        persons = (
            await Subject.filter(kind=SubjectKind.PERSON, name_enc=None)
            .exclude(name__contains="*")
            .exclude(name=ERASED_NAME)
            .limit(batch)
        )
        for subject in persons:
            subject.name, subject.name_enc = seal_person_name(cipher, subject.name)
            await subject.save(update_fields=["name", "name_enc"])
        reps = (
            await Subject.filter(
                legal_representative_enc=None, legal_representative__not_isnull=True
            )
            .exclude(legal_representative__contains="*")
            .exclude(legal_representative="")
            .limit(batch)
        )
        for subject in reps:
            subject.legal_representative, subject.legal_representative_enc = (
                seal_legal_representative(cipher, subject.legal_representative or "")
            )
            await subject.save(update_fields=["legal_representative", "legal_representative_enc"])
        sealed += len(persons) + len(reps)
        if len(persons) < batch and len(reps) < batch:
            return sealed
