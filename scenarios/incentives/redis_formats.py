"""The incentives' Redis formats, each owned here: Python writes and reads them through these
names, and the verify script (scenarios/incentives/verify.py) is rendered from them. Their keys
are `Keys.credit_code`, `Keys.staff_venues` and `Keys.incentive_used`."""

from __future__ import annotations

from collections.abc import Container, Iterable


class CodeRecord:
    """The issuance record of a credit code, a hash under `Keys.credit_code(nonce)` for the
    code's lifetime: what a scan needs without checking the signature or reading the database."""

    TOKEN_HASH = "th"  # noqa: S105 - a field name: SHA-256 of the whole token, hex
    SUBJECT = "s"  # the holder's subject id
    NAME = "nm"  # the holder's name as staff see it (persons masked)
    GRADE = "g"
    GRADE_LABEL = "gl"
    REASONS = "r"  # JSON: policy id -> why the holder was not eligible when the code was issued
    EXPIRES = "x"  # the code's expiry, epoch seconds

    # What a holder is read from, in this order (codes.holder_from_record).
    HOLDER = (TOKEN_HASH, SUBJECT, NAME, GRADE, GRADE_LABEL, REASONS)


# A staff member's venues, cached under `Keys.staff_venues(user_id)`: venue ids joined by this.
VENUE_SEPARATOR = ","


def encode_venues(venue_ids: Iterable[str]) -> str:
    return VENUE_SEPARATOR.join(venue_ids)


def decode_venues(raw: bytes, known: Container[str]) -> list[str]:
    """The cached ids still configured (a venue removed from config is no longer staffed)."""
    return [v for v in raw.decode().split(VENUE_SEPARATOR) if v in known]


# What a holder redeemed today, for the scan's "already had it today": a hash under
# `Keys.incentive_used(subject_id, day)`, policy id -> redemptions that Shanghai day.
USED_CACHE_SECONDS = 2 * 86400
