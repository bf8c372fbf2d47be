"""Identifier checks: citizen ID numbers (GB 11643) and USCCs (GB 32100), via python-stdnum; the
one check for the feed (credit.ingest.fields) and for requests alike.

An ID number's first six digits are the address code at issue time; counties are renamed and
merged, so the check is format, check digit and birth date, never today's county list (which
stdnum's own `validate` consults)."""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

from stdnum.cn import ric
from stdnum.cn import uscc as stdnum_uscc
from stdnum.exceptions import ValidationError

from infra.errors import Invalid

# GB 32100-2015: 18 characters from this alphabet (no I, O, S, V, Z); characters 3–8 are the
# administrative region code.
USCC_ALPHABET = frozenset("0123456789ABCDEFGHJKLMNPQRTUWXY")
_REGION = re.compile(r"^\d{6}$")


def normalise_id_number(value: str) -> str:
    return ric.compact(value.strip()).upper()


def is_valid_id_number(value: str) -> bool:
    number = normalise_id_number(value)
    if len(number) != 18 or not number[:17].isdigit():
        return False
    if number[-1] != ric.calc_check_digit(number):
        return False
    try:
        ric.get_birth_date(number)
    except ValidationError:
        return False
    return True


def id_birth_date(value: str) -> date:
    """The birth date of a valid ID number (characters 7–14 of the 18)."""
    return ric.get_birth_date(normalise_id_number(value))


@lru_cache(maxsize=65536)
def parse_uscc(value: str) -> tuple[str, bool] | None:
    """(normalised code, whether its check character is right) for anything shaped like a USCC;
    None otherwise. A wrong check character is not a wrong code: some real pilot-era codes fail
    it (DESIGN.md §1), so the caller decides what it means."""
    code = value.replace(" ", "").replace("-", "").upper()  # stdnum's compact, minus its cost
    if len(code) != 18 or not _REGION.match(code[2:8]) or not USCC_ALPHABET.issuperset(code):
        return None
    return code, code[-1] == stdnum_uscc.calc_check_digit(code[:17])


def require_uscc(value: str, field: str) -> str:
    """A USCC a request names, normalised; 422 naming `field` when it is not shaped like one."""
    parsed = parse_uscc(value) if isinstance(value, str) and len(value) <= 40 else None
    if parsed is None:
        raise Invalid("统一社会信用代码格式有误", fields={field: "须为 18 位代码"})
    return parsed[0]
