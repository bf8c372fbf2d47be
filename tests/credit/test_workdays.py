"""Working-day calendar: official schedules, the estimate for later years, and the
announcements entered in config/holidays.toml."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest

from credit import workdays
from credit.workdays import HolidayConfigError, WorkdayCalendar, default_calendar

CONFIG = Path(__file__).parents[2] / "config" / "holidays.toml"


def with_announcement(tmp_path: Path, table: str) -> WorkdayCalendar:
    """The shipped config (its statutory holidays) plus an announcement table."""
    path = tmp_path / "holidays.toml"
    path.write_text(CONFIG.read_text(encoding="utf-8") + "\n" + table, encoding="utf-8")
    return WorkdayCalendar.load(path)


def test_crossing_the_2026_national_day_holiday():
    calendar = default_calendar()
    # 30 Sep is the last working day before the holiday; 1–7 Oct are off; 8, 9 and the
    # make-up Saturday 10 Oct are working days.
    assert calendar.add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert calendar.add_working_days(date(2026, 9, 30), 3) == date(2026, 10, 10)
    assert calendar.add_working_days(date(2026, 9, 29), 5) == date(2026, 10, 12)
    assert not calendar.is_workday(date(2026, 10, 5))  # a Monday inside the holiday
    assert calendar.is_workday(date(2026, 10, 10))  # a Saturday worked in exchange


def test_crossing_from_2026_into_2027_uses_the_estimate():
    calendar = default_calendar()
    # 31 Dec 2026 is a Thursday; 1 Jan 2027 (Friday) is New Year's Day; 2–3 Jan a weekend.
    assert calendar.add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 4)
    assert calendar.add_working_days(date(2026, 12, 30), 10) == date(2027, 1, 14)
    assert calendar.working_days_between(date(2026, 12, 30), date(2027, 1, 14)) == 10


def test_2027_statutory_holidays_are_not_working_days():
    calendar = default_calendar()
    assert calendar.is_estimated(2027) and not calendar.is_estimated(2026)
    holidays = {
        date(2027, 1, 1): "元旦",
        # 春节: 除夕 (the 29th of the twelfth month of 丙午) to 初三 of 丁未; 6 Feb is 正月初一.
        date(2027, 2, 5): "春节",
        date(2027, 2, 6): "春节",
        date(2027, 2, 7): "春节",
        date(2027, 2, 8): "春节",
        date(2027, 4, 5): "清明节",  # the solar term, a Monday
        date(2027, 5, 1): "劳动节",
        date(2027, 5, 2): "劳动节",
        date(2027, 6, 9): "端午节",  # 五月初五, a Wednesday
        date(2027, 9, 15): "中秋节",  # 八月十五, a Wednesday
        date(2027, 10, 1): "国庆节",
        date(2027, 10, 2): "国庆节",
        date(2027, 10, 3): "国庆节",
    }
    assert calendar.statutory_days(2027) == holidays
    for day in holidays:
        assert not calendar.is_workday(day), day
    # 劳动节's second day on a weekday (2 May 2028 is a Tuesday), 春节 of 2028 (除夕 25 Jan).
    assert not calendar.is_workday(date(2028, 5, 2))
    assert [day for day, name in calendar.statutory_days(2028).items() if name == "春节"] == [
        date(2028, 1, 25) + timedelta(days=n) for n in range(4)
    ]
    # Only the statutory days: no 调休 is guessed around them.
    assert calendar.is_workday(date(2027, 2, 4))  # Thursday before 除夕
    assert calendar.is_workday(date(2027, 2, 9))  # Tuesday after 初三
    assert calendar.is_workday(date(2027, 4, 6))  # Tuesday after 清明


def test_a_repair_filed_on_1_february_2027_is_not_due_inside_the_spring_festival():
    calendar = default_calendar()
    # 2, 3, 4 Feb; 5–8 Feb off (除夕 to 初三, with the weekend); 9–12 Feb; 15, 16, 17 Feb.
    assert calendar.add_working_days(date(2027, 2, 1), 10) == date(2027, 2, 17)
    assert workdays.due_estimated(date(2027, 2, 17))
    assert workdays.due_estimated(date(2027, 1, 4))  # counted over New Year's Day 2027
    assert not workdays.due_estimated(date(2026, 12, 31))


@pytest.mark.parametrize("year", [2025, 2026])
def test_the_estimate_agrees_with_the_announced_years(year):
    """The years under the law as amended in 2024 that chinesecalendar knows: every estimated
    statutory day is a day off there and not a swapped one (调休), so the lunar dates, the solar
    term and config/holidays.toml are right. What the estimate lacks are the 补假 days (a
    statutory day on a weekend made up on the next working day), which the announcement sets."""
    estimated = default_calendar().statutory_days(year)
    assert len(estimated) == 13
    for day in estimated:
        assert chinese_calendar.is_holiday(day) and not chinese_calendar.is_in_lieu(day), day
    days = [date(year, 1, 1) + timedelta(days=n) for n in range(365)]
    statutory_weekdays = {
        day
        for day in days
        if day.weekday() < 5
        and chinese_calendar.is_holiday(day)
        and not chinese_calendar.is_in_lieu(day)
    }
    made_up = {
        2025: {date(2025, 6, 2)},
        2026: {date(2026, 4, 6), date(2026, 5, 4), date(2026, 10, 5)},
    }
    assert statutory_weekdays - set(estimated) == made_up[year]


def test_an_announcement_entered_in_the_config_ends_the_estimate(tmp_path):
    # A made-up 2027 announcement, in the format of config/holidays.toml.
    calendar = with_announcement(
        tmp_path,
        "[announced.2027]\n"
        'source = "test"\n'
        'holidays = ["2026-12-31/2027-01-01", "2027-02-05/2027-02-13", 2027-04-05]\n'
        'workdays = ["2027-02-14", "2027-02-20", 2026-12-27]\n',
    )
    assert not calendar.is_estimated(2027)
    assert calendar.is_estimated(2028)
    assert not calendar.is_workday(date(2027, 2, 10))  # inside the announced break
    assert calendar.is_workday(date(2027, 2, 20))  # a Saturday worked in exchange
    assert calendar.is_workday(date(2027, 6, 9))  # 端午 not announced in this test: not estimated
    # Days of the neighbouring year that the announcement names win over chinesecalendar.
    assert not calendar.is_workday(date(2026, 12, 31))
    assert calendar.is_workday(date(2026, 12, 27))  # a Sunday
    assert default_calendar().is_workday(date(2026, 12, 31))
    # 1 Feb 2027 + 10 working days with that schedule: 2–4, 14 (Sunday), 15–19, 20 (Saturday).
    assert calendar.add_working_days(date(2027, 2, 1), 10) == date(2027, 2, 20)


def test_an_announcement_corrects_a_year_the_library_knows(tmp_path):
    calendar = with_announcement(tmp_path, '[announced.2026]\nholidays = ["2026-11-25"]\n')
    assert not calendar.is_workday(date(2026, 11, 25))
    assert default_calendar().is_workday(date(2026, 11, 25))
    # Every other day of 2026 still comes from chinesecalendar.
    assert not calendar.is_workday(date(2026, 10, 5))
    assert calendar.is_workday(date(2026, 10, 10))


@pytest.mark.parametrize(
    ("table", "complaint"),
    [
        # The layout before the estimate: flat lists and fixed dates.
        ('holidays = ["2027-02-08"]\n', "无法识别的配置项"),
        ('fallback_fixed_holidays = ["01-01"]\n', "无法识别的配置项"),
        ('[announced.2027]\nholidays = ["2027-02-30"]\n', "日期无法识别"),
        ('[announced.2027]\nholidays = ["2072-02-08"]\n', "不属于 2027 年"),
        ('[announced.27]\nholidays = ["2027-02-08"]\n', "四位数字"),
        ('[announced.2027]\nholidays = ["2027-02-13/2027-02-05"]\n', "日期无法识别"),
        (
            '[announced.2027]\nholidays = ["2027-02-06"]\n[announced.2028]\n'
            'workdays = ["2027-02-06"]\n',
            "同时列为放假和上班",
        ),
        ('[[statutory]]\nname = "清明"\nsolar_term = "清明节"\n', "日期无法识别"),
        ('[[statutory]]\nname = "春节"\nlunar = "13-01"\n', "日期无法识别"),
        (
            '[[statutory]]\nname = "除夕"\nlunar = "12-30"\n',
            "日期无法识别",
        ),  # 29 days in some years
        ('[[statutory]]\nname = "x"\ndate = "02-29"\n', "日期无法识别"),
        ('[[statutory]]\nname = "x"\ndate = "01-01"\nlunar = "01-01"\n', "只能给出"),
        ('[[statutory]]\nname = "x"\ndate = "01-01"\ndays = 0\n', "至少为 1"),
    ],
)
def test_a_config_that_cannot_be_used_is_refused(tmp_path, table, complaint):
    path = tmp_path / "holidays.toml"
    path.write_text(table, encoding="utf-8")
    with pytest.raises(HolidayConfigError, match=complaint):
        WorkdayCalendar.load(path)


@pytest.mark.parametrize(
    ("on", "warned"),
    [
        (date(2026, 12, 2), [2027]),  # 2026 is announced, 2027 not yet
        (date(2027, 3, 1), [2027, 2028]),
        (date(2025, 6, 1), []),
    ],
)
def test_start_up_warns_of_estimated_years(monkeypatch, caplog, on, warned):
    monkeypatch.setattr(workdays, "today", lambda: on)
    caplog.set_level(logging.WARNING, logger="credit.workdays")
    assert workdays.warn_of_estimated_years() == warned
    messages = [r.getMessage() for r in caplog.records if r.name == "credit.workdays"]
    assert len(messages) == len(warned)
    for year, message in zip(warned, messages, strict=True):
        assert f"working days of {year} are estimated" in message
        assert f"[announced.{year}]" in message


def test_no_warning_once_the_announcement_is_entered(tmp_path, monkeypatch, caplog):
    calendar = with_announcement(tmp_path, '[announced.2027]\nholidays = ["2027-02-05"]\n')
    monkeypatch.setattr(workdays, "today", lambda: date(2026, 12, 2))
    caplog.set_level(logging.WARNING, logger="credit.workdays")
    assert workdays.warn_of_estimated_years(calendar) == []
    assert not [r for r in caplog.records if r.name == "credit.workdays"]
