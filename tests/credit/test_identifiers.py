"""ID number checks: format, check digit and birth date, never today's county list."""

from __future__ import annotations

import pytest
from stdnum.cn import ric

from credit.identifiers import is_valid_id_number, normalise_id_number


def with_check(first17: str) -> str:
    return first17 + ric.calc_check_digit(first17 + "0")


def test_an_address_code_no_longer_in_the_county_list_is_still_valid():
    number = with_check("15290119700101123")  # 152901: a code stdnum's list does not know
    with pytest.raises(KeyError):
        ric.get_birth_place(number)
    assert is_valid_id_number(number)


@pytest.mark.parametrize(
    "number",
    [
        "15292219880808100",  # 17 characters
        "1529221988080810AB",  # letters
        with_check("15292219880230100"),  # 30 February
        with_check("15292219880808100")[:-1] + "0"
        if with_check("15292219880808100")[-1] != "0"
        else with_check("15292219880808100")[:-1] + "1",  # wrong check digit
    ],
)
def test_invalid(number):
    assert not is_valid_id_number(number)


def test_lower_case_x_is_normalised():
    number = next(
        with_check(f"15292219900101{serial:03d}")
        for serial in range(1000)
        if ric.calc_check_digit(f"15292219900101{serial:03d}0") == "X"
    )
    assert is_valid_id_number(number.lower())
    assert normalise_id_number(f" {number.lower()} ") == number
