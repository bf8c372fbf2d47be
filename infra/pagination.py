"""Cursor pages for every list in the API (API.md: `{"items": [...], "next": cursor}`), and the
status filter lists take. The cursor is the id of the last item shown; callers fetch `limit + 1`
rows to see if more exist."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from infra.errors import Invalid


class HasId(Protocol):
    @property
    def id(self) -> int: ...


Row = TypeVar("Row", bound=HasId)
Status = TypeVar("Status", bound=StrEnum)
MAX_LIMIT = 50


def cursor_id(cursor: str | None) -> int | None:
    if not cursor:
        return None
    if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 18:
        raise Invalid("分页参数无效", fields={"cursor": "无效"})
    return int(cursor)


def page(rows: Sequence[Row], limit: int, shape: Callable[[Row], dict[str, Any]]) -> dict[str, Any]:
    shown = rows[:limit]
    next_cursor = str(shown[-1].id) if len(rows) > limit else None
    return {"items": [shape(row) for row in shown], "next": next_cursor}


def status_filter(statuses: type[Status], value: str) -> Status:
    """`?status=` of a list: one of the enum's values, else 422 naming the choices."""
    try:
        return statuses(value)
    except ValueError as exc:
        choices = "、".join(s.value for s in statuses)
        raise Invalid("状态参数无效", fields={"status": f"可选：{choices}"}) from exc
