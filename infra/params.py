"""The one parser of what a request names by text: object ids in paths, cursors, dates in query
strings and free text (issue 12). Each bounds what it accepts to what the database can hold, so
hostile input is a 4xx here and never a 500 from a driver further down."""

from __future__ import annotations

import contextlib
import re
from datetime import date
from enum import StrEnum
from typing import TypeVar

from infra.errors import Invalid, NotFound

# The database's BIGINT: ids and cursors beyond it name nothing.
MAX_BIGINT = 2**63 - 1
_MAX_ID_DIGITS = len(str(MAX_BIGINT)) - 1  # 18 digits always fit
# Dates a request may name: beyond these there is no data, and date arithmetic overflows
# (9999-12-31 + 1 day).
EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2099, 12, 31)
# C0 controls but tab, line feed and carriage return, and DEL: PostgreSQL cannot store U+0000,
# and none of them belongs in a name, a reason or a complaint.
_MONTH = re.compile(r"(\d{4})-(\d{2})", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

Status = TypeVar("Status", bound=StrEnum)


def _bigint(text: str) -> int | None:
    """ASCII digits that fit a BIGINT ("²" and "①" are digits to str.isdigit, not to int)."""
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_ID_DIGITS:
        return None
    return int(text)


def path_id(value: str | int, message: str, code: str) -> int:
    """An object id from a URL. Anything but a number that fits a BIGINT names no object: 404
    (never a 500 from the database, and no hint that the id is "invalid" rather than unknown)."""
    number = _bigint(str(value))
    if number is None:
        raise NotFound(message, code=code)
    return number


def cursor_id(cursor: str | None) -> int | None:
    """A list's `?cursor=`: the id of the last item shown."""
    if not cursor:
        return None
    number = _bigint(cursor)
    if number is None:
        raise Invalid("分页参数无效", fields={"cursor": "无效"})
    return number


def query_id(value: str | None, name: str) -> int | None:
    """An object id a query string filters by (`?subject_id=`): 422 when it is not one."""
    if not value:
        return None
    number = _bigint(value)
    if number is None:
        raise Invalid("编号参数无效", fields={name: "须为数字编号"})
    return number


def query_date(value: str | None, default: date, name: str) -> date:
    """A `YYYY-MM-DD` query parameter, within EARLIEST_DATE .. LATEST_DATE."""
    if not value:
        return default
    try:
        day = date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise Invalid("日期格式有误", fields={name: "须为 YYYY-MM-DD"})
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise Invalid(
            "日期超出范围",
            fields={name: f"须在 {EARLIEST_DATE.isoformat()} 至 {LATEST_DATE.isoformat()} 之间"},
        )
    return day


def query_month(value: str | None, name: str = "month") -> date:
    """A `YYYY-MM` parameter (required): the month's first day, within the dates above."""
    match = _MONTH.fullmatch(value or "")
    first = None
    if match:
        with contextlib.suppress(ValueError):
            first = date(int(match[1]), int(match[2]), 1)
    if first is None:
        raise Invalid("月份格式有误", fields={name: "须为 YYYY-MM"})
    if not EARLIEST_DATE <= first <= LATEST_DATE:
        raise Invalid(
            "月份超出范围",
            fields={name: f"须在 {EARLIEST_DATE:%Y-%m} 至 {LATEST_DATE:%Y-%m} 之间"},
        )
    return first


def status_filter(statuses: type[Status], value: str) -> Status:
    """`?status=` of a list: one of the enum's values, else 422 naming the choices."""
    try:
        return statuses(value)
    except ValueError as exc:
        choices = "、".join(s.value for s in statuses)
        raise Invalid("状态参数无效", fields={"status": f"可选：{choices}"}) from exc


def has_control_characters(text: str) -> bool:
    return _CONTROL.search(text) is not None


def strip_control_characters(text: str) -> str:
    return _CONTROL.sub("", text)


CONTROL_CHARACTER_MESSAGE = "含有不允许的控制字符"
