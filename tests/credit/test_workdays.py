"""Working-day calendar: official schedules, the fallback past 2026, and config overrides."""

from __future__ import annotations

from datetime import date

from credit.workdays import WorkdayCalendar, default_calendar


def test_crossing_the_2026_national_day_holiday():
    calendar = default_calendar()
    # 30 Sep is the last working day before the holiday; 1–7 Oct are off; 8, 9 and the
    # make-up Saturday 10 Oct are working days.
    assert calendar.add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert calendar.add_working_days(date(2026, 9, 30), 3) == date(2026, 10, 10)
    assert calendar.add_working_days(date(2026, 9, 29), 5) == date(2026, 10, 12)
    assert not calendar.is_workday(date(2026, 10, 5))  # a Monday inside the holiday
    assert calendar.is_workday(date(2026, 10, 10))  # a Saturday worked in exchange


def test_crossing_from_2026_into_2027_uses_the_fallback():
    calendar = default_calendar()
    # 31 Dec 2026 is a Thursday; 1 Jan 2027 (Friday) is New Year's Day; 2–3 Jan a weekend.
    assert calendar.add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 4)
    assert calendar.add_working_days(date(2026, 12, 30), 10) == date(2027, 1, 14)
    assert calendar.working_days_between(date(2026, 12, 30), date(2027, 1, 14)) == 10


def test_config_overrides_win(tmp_path):
    config = tmp_path / "holidays.toml"
    config.write_text(
        'holidays = ["2027-02-08", "2027-02-09"]\nworkdays = ["2027-02-06"]\n'
        'fallback_fixed_holidays = ["01-01"]\n'
    )
    calendar = WorkdayCalendar.load(config)
    assert calendar.is_workday(date(2027, 2, 6))  # a Saturday entered as a working day
    assert not calendar.is_workday(date(2027, 2, 8))  # a Monday entered as a holiday
    # Friday 5 Feb 2027 + 2 working days: Sat 6 (worked), Mon 8 and Tue 9 off, Wed 10.
    assert calendar.add_working_days(date(2027, 2, 5), 2) == date(2027, 2, 10)
    # Overrides apply inside years the library knows too.
    override_known = tmp_path / "known.toml"
    override_known.write_text('holidays = ["2026-11-25"]\n')
    assert not WorkdayCalendar.load(override_known).is_workday(date(2026, 11, 25))
    assert default_calendar().is_workday(date(2026, 11, 25))
