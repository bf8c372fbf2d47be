"""Cursor pages for every list in the API (API.md: `{"items": [...], "next": cursor}`). The cursor
is the id of the last item shown (parsed by infra.params.cursor_id); callers fetch `limit + 1`
rows to see if more exist."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar


class HasId(Protocol):
    @property
    def id(self) -> int: ...


Row = TypeVar("Row", bound=HasId)
MAX_LIMIT = 50


def page(rows: Sequence[Row], limit: int, shape: Callable[[Row], dict[str, Any]]) -> dict[str, Any]:
    shown = rows[:limit]
    next_cursor = str(shown[-1].id) if len(rows) > limit else None
    return {"items": [shape(row) for row in shown], "next": next_cursor}
