"""The application factory's start-up."""

from __future__ import annotations

import logging
from datetime import date

from credit import workdays
from server import app as server_app


async def start_and_stop(runtime) -> None:
    """The app's before-start and after-stop listeners (Sanic rewrites its methods once per
    process, so a second app cannot run a whole ASGI start-up beside the suite's)."""
    application = server_app.create_app(runtime=runtime)
    await server_app._start(application)
    await server_app._stop(application)


async def test_start_up_warns_while_this_or_next_year_is_estimated(runtime, monkeypatch, caplog):
    # chinesecalendar knows 2026; on 1 March 2027 neither 2027 nor 2028 is announced.
    monkeypatch.setattr(workdays, "today", lambda: date(2027, 3, 1))
    caplog.set_level(logging.WARNING, logger="credit.workdays")
    await start_and_stop(runtime)
    warnings = [r for r in caplog.records if r.name == "credit.workdays"]
    assert [r.levelno for r in warnings] == [logging.WARNING, logging.WARNING]
    assert "working days of 2027 are estimated" in warnings[0].getMessage()
    assert "working days of 2028 are estimated" in warnings[1].getMessage()


async def test_no_warning_at_start_up_while_both_years_are_announced(runtime, monkeypatch, caplog):
    monkeypatch.setattr(workdays, "today", lambda: date(2025, 6, 1))
    caplog.set_level(logging.WARNING, logger="credit.workdays")
    await start_and_stop(runtime)
    assert not [r for r in caplog.records if r.name == "credit.workdays"]
