"""Identifier checks: citizen ID numbers (GB 11643) and USCCs (GB 32100), via python-stdnum.

An ID number's first six digits are the address code at issue time; counties are renamed and
merged, so the check is format, check digit and birth date, never today's county list (which
stdnum's own `validate` consults)."""

from __future__ import annotations

from stdnum.cn import ric
from stdnum.exceptions import ValidationError


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
