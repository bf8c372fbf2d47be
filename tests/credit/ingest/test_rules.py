"""Publication windows from config/records.toml (credit/ingest/rules.py)."""

from __future__ import annotations

from datetime import date

from credit.ingest.rules import load_rules

DECIDED = date(2026, 1, 10)


def test_a_source_deadline_earlier_than_the_minimum_is_kept():
    """Publication ends when the source's 公示截止期 says, even before the minimum period
    (issue 10 item 4: it was stretched to the minimum)."""
    rules = load_rules()
    feed_until = date(2026, 2, 10)  # one month: a general penalty's minimum is three
    assert rules.window("general", DECIDED, feed_until) == (date(2026, 4, 10), feed_until)


def test_a_source_deadline_is_capped_at_the_maximum_and_kept_inside_the_window():
    rules = load_rules()
    assert rules.window("general", DECIDED, date(2030, 1, 1)) == (
        date(2026, 4, 10),
        date(2027, 1, 10),
    )
    assert rules.window("general", DECIDED, date(2026, 6, 1)) == (
        date(2026, 4, 10),
        date(2026, 6, 1),
    )
    assert rules.window("general", DECIDED, None) == (date(2026, 4, 10), date(2027, 1, 10))
