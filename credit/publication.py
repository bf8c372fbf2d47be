"""Which records are shown, and to whom (DESIGN.md §3): the one rule the self view, the public
view, the merchant plate and incentive eligibility all read."""

from __future__ import annotations

from datetime import date
from typing import Literal

from credit.models import Record, RecordStatus

Audience = Literal["self", "public"]


def is_shown(record: Record, audience: Audience, on: date) -> bool:
    """Shown: in its publication window and not repaired, expired or revoked. The subject also
    sees records under objection (marked so); the public sees only plain published ones."""
    visible = {RecordStatus.PUBLISHED}
    if audience == "self":
        visible.add(RecordStatus.UNDER_OBJECTION)
    if record.status not in visible or not record.shared:
        return False
    return record.publish_max_until is None or record.publish_max_until >= on
