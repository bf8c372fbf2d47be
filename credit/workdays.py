"""Working days for statutory deadlines (信用修复, 异议 due dates).

chinesecalendar carries the official holiday schedules but stops at the last year it knows (2026
for the pinned release); later years fall back to Monday–Friday minus fixed-date holidays, and
config/holidays.toml overrides both so officials can enter a new schedule without a release."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import chinese_calendar

from infra.settings import read_config


@dataclass(frozen=True)
class WorkdayCalendar:
    holidays: frozenset[date]
    workdays: frozenset[date]
    fallback_fixed: frozenset[tuple[int, int]]

    @classmethod
    def load(cls, path: Path | None = None) -> WorkdayCalendar:
        raw = read_config("holidays.toml", path)
        fixed = set()
        for text in raw.get("fallback_fixed_holidays", []):
            month, day = text.split("-")
            fixed.add((int(month), int(day)))
        return cls(
            holidays=frozenset(date.fromisoformat(str(d)) for d in raw.get("holidays", [])),
            workdays=frozenset(date.fromisoformat(str(d)) for d in raw.get("workdays", [])),
            fallback_fixed=frozenset(fixed),
        )

    def is_workday(self, day: date) -> bool:
        if day in self.holidays:
            return False
        if day in self.workdays:
            return True
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:  # a year the library does not know yet
            return day.weekday() < 5 and (day.month, day.day) not in self.fallback_fixed

    def add_working_days(self, start: date, count: int) -> date:
        """The `count`-th working day after `start` (the start day itself does not count)."""
        if count < 0:
            raise ValueError("count must not be negative")
        day = start
        remaining = count
        while remaining:
            day += timedelta(days=1)
            if self.is_workday(day):
                remaining -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end`."""
        return sum(
            1 for n in range(1, (end - start).days + 1) if self.is_workday(start + timedelta(n))
        )


@lru_cache(maxsize=1)
def default_calendar() -> WorkdayCalendar:
    return WorkdayCalendar.load()
