"""Calendar dates in Asia/Shanghai (DESIGN.md §2: dates are Shanghai dates, timestamps UTC)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def today() -> date:
    return datetime.now(SHANGHAI).date()


def now_iso() -> str:
    return datetime.now(SHANGHAI).isoformat(timespec="seconds")


def shanghai_iso(moment: datetime | None) -> str | None:
    """A stored (UTC) timestamp as API.md shows times: Shanghai time, to the second."""
    return moment.astimezone(SHANGHAI).isoformat(timespec="seconds") if moment else None


def shanghai_minute(moment: datetime) -> str:
    """A timestamp as a subscribe message's `time` value shows it: Shanghai time, to the minute."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def seconds_until_end_of(day: date) -> int:
    """Seconds from now until the end of `day` in Shanghai (a window ending that day is over)."""
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=SHANGHAI)
    return max(1, int((end - datetime.now(UTC)).total_seconds()))


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise ValueError(day)
