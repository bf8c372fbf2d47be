"""Working days for statutory deadlines (信用修复, 异议 due dates).

A day's status comes from, first match wins (config/holidays.toml says the same for officials):

1. the State Council's announcement of its year, entered in config/holidays.toml
   (`[announced.YYYY]`) each December;
2. chinesecalendar, which carries the announcements up to its release (2026 for the pinned one);
3. otherwise an estimate: Monday–Friday less the statutory holidays of 《全国年节及纪念日放假办法》
   (`[[statutory]]`), their lunar dates and the 清明 solar term computed by tyme4py. Only the
   statutory days: the 调休 of a year is unknown until it is announced, so none is guessed.

A year counted by the estimate is "estimated": due dates over it say so, and the service warns at
start-up while the current or the next year is."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache, lru_cache
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal

import chinese_calendar
from tyme4py.lunar import LunarDay
from tyme4py.solar import SolarTerm

from credit.calendar_dates import today
from infra.settings import read_config

log = logging.getLogger(__name__)

CalendarKind = Literal["date", "lunar", "solar_term"]
_CALENDAR_KINDS: tuple[CalendarKind, ...] = ("date", "lunar", "solar_term")
# The years a statutory holiday's rule is checked for when the config is read (2028 is a leap year).
_CHECKED_YEARS = range(2025, 2051)


class HolidayConfigError(ValueError):
    """config/holidays.toml cannot be used as written (the message says where, in Chinese)."""


@dataclass(frozen=True)
class StatutoryHoliday:
    """One holiday of 《全国年节及纪念日放假办法》第二条: its first day in one calendar, then
    `offset` days added and `days` consecutive days."""

    name: str
    kind: CalendarKind
    when: str  # "MM-DD" (Gregorian or lunar) or a solar term's name
    offset: int = 0
    days: int = 1

    def dates(self, year: int) -> list[date]:
        """The holiday's days that belong to `year` (春节's 除夕 is that of the same year's
        正月初一, so every day of it falls in the Gregorian year too)."""
        first = self._anchor(year) + timedelta(days=self.offset)
        return [first + timedelta(days=n) for n in range(self.days)]

    def _anchor(self, year: int) -> date:
        if self.kind == "date":
            month, day = _month_day(self.when)
            return date(year, month, day)
        if self.kind == "lunar":
            month, day = _month_day(self.when)
            solar = LunarDay.from_ymd(year, month, day).get_solar_day()
            return date(int(solar.get_year()), int(solar.get_month()), int(solar.get_day()))
        # A solar term of `year`: tyme4py counts a term year from the previous 冬至, so the
        # term called 冬至 of N falls in December of N - 1.
        for term_year in (year, year + 1):
            solar = SolarTerm.from_name(term_year, self.when).get_solar_day()
            if int(solar.get_year()) == year:
                return date(year, int(solar.get_month()), int(solar.get_day()))
        raise HolidayConfigError(f"节气“{self.when}”不在 {year} 年")


@dataclass(frozen=True)
class Announcement:
    """The State Council's holiday announcement of one year, as entered in the config."""

    year: int
    source: str
    holidays: frozenset[date]
    workdays: frozenset[date]


@dataclass(frozen=True)
class WorkdayCalendar:
    statutory: tuple[StatutoryHoliday, ...]
    announced: Mapping[int, Announcement]
    # Every day that an announcement names, whichever year's (a 元旦 break may start in December).
    _days_off: frozenset[date] = field(init=False, repr=False)
    _days_on: frozenset[date] = field(init=False, repr=False)
    # Each day's answer once worked out: chinesecalendar checks a date's range against its
    # whole table on every call (~25 µs), and a queue page counts the working days of each
    # item's deadline day by day. The days asked about lie within a few years of today.
    _answers: dict[date, bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        days_off = frozenset().union(*(a.holidays for a in self.announced.values()))
        days_on = frozenset().union(*(a.workdays for a in self.announced.values()))
        if days_off & days_on:
            clash = ", ".join(map(str, sorted(days_off & days_on)))
            raise HolidayConfigError(f"以下日期同时列为放假和上班：{clash}")
        object.__setattr__(self, "_days_off", days_off)
        object.__setattr__(self, "_days_on", days_on)
        object.__setattr__(self, "_answers", {})

    @classmethod
    def load(cls, path: Path | None = None) -> WorkdayCalendar:
        raw = read_config("holidays.toml", path)
        unknown = set(raw) - {"statutory", "announced"}
        if unknown:
            raise HolidayConfigError(
                f"holidays.toml 中有无法识别的配置项 {sorted(unknown)}：国务院的放假安排请写在 "
                "[announced.YYYY] 表中，法定节假日写在 [[statutory]] 中"
            )
        statutory = tuple(_statutory(entry) for entry in raw.get("statutory", []))
        tables = raw.get("announced", {})
        if not all(str(year).isdigit() and len(str(year)) == 4 for year in tables):
            raise HolidayConfigError(f"[announced.YYYY] 的年份须为四位数字：{sorted(tables)}")
        announced = {int(year): _announcement(int(year), entry) for year, entry in tables.items()}
        return cls(statutory=statutory, announced=announced)

    # -- the calendar ------------------------------------------------------------------------------

    def is_workday(self, day: date) -> bool:
        answer = self._answers.get(day)
        if answer is None:
            answer = self._answers[day] = self._works_on(day)
        return answer

    def _works_on(self, day: date) -> bool:
        if day in self._days_off:
            return False
        if day in self._days_on:
            return True
        if _library_knows(day.year):
            return bool(chinese_calendar.is_workday(day))
        if day.year in self.announced:  # announced, and not a day the announcement names
            return day.weekday() < 5
        return day.weekday() < 5 and day not in self.statutory_days(day.year)

    def is_estimated(self, year: int) -> bool:
        """True when no announcement of `year` is known: its working days are the estimate."""
        return year not in self.announced and not _library_knows(year)

    def statutory_days(self, year: int) -> dict[date, str]:
        """The statutory holidays of `year` (date → name), as the estimate counts them."""
        return _statutory_days(self.statutory, year)

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


def due_estimated(due_on: date) -> bool:
    """The `due_estimated` flag of a due date: it falls in a year whose working days are
    estimated, so counting up to it went through days no announcement has fixed (announcements
    come year by year, so an earlier year is never estimated while a later one is not)."""
    return default_calendar().is_estimated(due_on.year)


def warn_of_estimated_years(calendar: WorkdayCalendar | None = None) -> list[int]:
    """At start-up: a warning for the current and the next year when their working days are
    estimated (the announcement is not in chinesecalendar nor config/holidays.toml)."""
    calendar = calendar or default_calendar()
    this_year = today().year
    years = [year for year in (this_year, this_year + 1) if calendar.is_estimated(year)]
    for year in years:
        log.warning(
            "working days of %d are estimated: no State Council holiday announcement for %d in "
            "chinesecalendar %s or config/holidays.toml; due dates count the statutory holidays "
            "only (no 调休) and carry due_estimated=true. Enter the announcement as "
            "[announced.%d] in config/holidays.toml.",
            year,
            year,
            _library_version(),
            year,
        )
    return years


# -- helpers --------------------------------------------------------------------------------------


@cache
def _library_knows(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def _library_version() -> str:
    return version("chinesecalendar")


@cache
def _statutory_days(statutory: tuple[StatutoryHoliday, ...], year: int) -> dict[date, str]:
    days: dict[date, str] = {}
    for holiday in statutory:
        for day in holiday.dates(year):
            days.setdefault(day, holiday.name)
    return days


def _month_day(text: str) -> tuple[int, int]:
    month, day = text.split("-")
    return int(month), int(day)


def _statutory(entry: Mapping[str, Any]) -> StatutoryHoliday:
    name = str(entry.get("name", "?"))
    given = [kind for kind in _CALENDAR_KINDS if kind in entry]
    if len(given) != 1:
        raise HolidayConfigError(f"法定节假日“{name}”须且只能给出 date、lunar、solar_term 中的一项")
    kind = given[0]
    holiday = StatutoryHoliday(
        name=name,
        kind=kind,
        when=str(entry[kind]),
        offset=int(entry.get("offset", 0)),
        days=int(entry.get("days", 1)),
    )
    if holiday.days < 1:
        raise HolidayConfigError(f"法定节假日“{name}”的天数须至少为 1")
    try:  # every year it may estimate: a lunar 三十 that some years lack is refused too
        for year in _CHECKED_YEARS:
            holiday.dates(year)
    except (ValueError, IndexError) as exc:
        raise HolidayConfigError(f"法定节假日“{name}”的日期无法识别：{entry[kind]}") from exc
    return holiday


def _announcement(year: int, entry: Mapping[str, Any]) -> Announcement:
    holidays = frozenset(_days(year, entry.get("holidays", []), "holidays"))
    workdays = frozenset(_days(year, entry.get("workdays", []), "workdays"))
    return Announcement(
        year=year, source=str(entry.get("source", "")), holidays=holidays, workdays=workdays
    )


def _days(year: int, entries: Iterable[Any], key: str) -> list[date]:
    days: list[date] = []
    for entry in entries:
        text = str(entry)
        try:
            first_text, _, last_text = text.partition("/")
            first = date.fromisoformat(first_text)
            last = date.fromisoformat(last_text) if last_text else first
            if last < first:
                raise ValueError(text)
        except ValueError as exc:
            raise HolidayConfigError(
                f"[announced.{year}] {key} 中的日期无法识别：{text}"
                "（应为 YYYY-MM-DD 或 YYYY-MM-DD/YYYY-MM-DD）"
            ) from exc
        if not {first.year, last.year} <= {year - 1, year, year + 1}:
            raise HolidayConfigError(
                f"[announced.{year}] {key} 中的日期不属于 {year} 年的安排：{text}"
            )
        days.extend(first + timedelta(days=n) for n in range((last - first).days + 1))
    return days
