"""Parsing and checking single feed values. Every failure is a `RowError` whose message, in
Chinese, goes to the rejects file as the reason; nothing here ever puts an ID number in a
message."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from credit.identifiers import is_valid_id_number, normalise_id_number, parse_uscc

# An individual business without a USCC is reported as 17 zeros + X; its 工商注册号 is then due.
NO_USCC_PLACEHOLDER = "0" * 17 + "X"
# 证件类型 values meaning the resident identity card (an empty type is read the same way).
ID_CARD_TYPES = frozenset({"", "身份证", "居民身份证", "中华人民共和国居民身份证", "公民身份号码"})
OTHER_DOCUMENT = re.compile(r"^[0-9A-Z()（）\-]{5,30}$")
REGISTRATION_NO = re.compile(r"^[0-9A-Z]{8,30}$")
ORG_CODE = re.compile(r"^[0-9A-Z]{8}[0-9X]$")  # GB 11714: 8 characters and a check character
TAX_REGISTRATION_NO = re.compile(r"^[0-9A-Z]{15,20}$")
DATE = re.compile(r"^(\d{4})[/-](\d{1,2})[/-](\d{1,2})$")
REGION = re.compile(r"^\d{6}$")


class RowError(ValueError):
    """The row is rejected; the message says why, in Chinese."""


def required(value: str, column: str) -> str:
    if not value:
        raise RowError(f"{column}为空")
    return value


def limited(value: str, column: str, max_length: int) -> str:
    """Columns are bounded in the database; a longer value would abort the whole batch."""
    if len(value) > max_length:
        raise RowError(f"{column}超过 {max_length} 个字符")
    return value


@lru_cache(maxsize=4096)
def _parse_date_text(value: str) -> date | None:
    match = DATE.match(value)
    if match is None:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def parse_date(value: str, column: str) -> date:
    """YYYY/MM/DD or YYYY-MM-DD, a real calendar date."""
    required(value, column)
    parsed = _parse_date_text(value)
    if parsed is None:
        raise RowError(f"{column}不是有效日期：{value}（应为 YYYY/MM/DD 或 YYYY-MM-DD）")
    return parsed


def parse_optional_date(value: str, column: str) -> date | None:
    return parse_date(value, column) if value else None


def parse_amount(value: str, column: str) -> Decimal | None:
    """An amount in 万元; empty means none."""
    if not value:
        return None
    try:
        amount = Decimal(value.replace(",", ""))
    except InvalidOperation:
        raise RowError(f"{column}不是有效金额：{value}") from None
    if not amount.is_finite() or amount < 0:
        raise RowError(f"{column}不是有效金额：{value}")
    return amount


def amount_text(amount: Decimal) -> str:
    """Canonical text of an amount (0.050000 -> 0.05, 10.0 -> 10), so the hash is stable."""
    text = f"{amount.normalize():f}"
    return text


def check_uscc(value: str, column: str) -> tuple[str, bool]:
    """(normalised code, check character ok). A malformed code is a reject; a failing check
    character is kept (some real pilot-era codes fail it) and the caller warns."""
    result = parse_uscc(value)
    if result is None:
        raise RowError(f"{column}格式错误：{value}（应为 18 位统一社会信用代码）")
    return result


def is_no_uscc(value: str) -> bool:
    return value.upper() == NO_USCC_PLACEHOLDER


def check_registration_no(value: str, column: str) -> str:
    number = value.replace(" ", "").upper()
    if not REGISTRATION_NO.match(number):
        raise RowError(f"{column}格式错误：{value}")
    return number


def check_id_number(value: str, column: str, today: date) -> str:
    """A resident ID number: 18 characters, GB 11643 check digit and a real birth date that is
    not in the future; lower-case x becomes X. Never the county list (codes get retired)."""
    number = normalise_id_number(value)
    if not is_valid_id_number(number):
        raise RowError(f"{column}无效（须为 18 位，校验位与出生日期正确）")
    if date(int(number[6:10]), int(number[10:12]), int(number[12:14])) > today:
        raise RowError(f"{column}无效（出生日期晚于今天）")
    return number


def check_other_document(value: str, column: str) -> str:
    number = value.replace(" ", "").upper()
    if not OTHER_DOCUMENT.match(number):
        raise RowError(f"{column}格式错误")
    return number


def region_of(code: str | None) -> str | None:
    """The six-digit administrative region code, when the identifier carries one."""
    if code and REGION.match(code):
        return code
    return None


def optional_code(
    value: str,
    column: str,
    warnings: list[str],
    *,
    pattern: re.Pattern[str] | None = None,
    max_length: int = 50,
) -> str | None:
    """Another identifier of an organisation (组织机构代码, 税务登记号, 事业单位证书号,
    社会组织登记证号): spaces and hyphens dropped, upper case; a malformed one is a warning and
    is not kept."""
    if not value:
        return None
    code = value.replace(" ", "").replace("-", "").upper()
    if (pattern is not None and not pattern.match(code)) or len(code) > max_length:
        warnings.append(f"{column}格式错误：{value}，未保存")
        return None
    return code
