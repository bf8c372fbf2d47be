"""The console's pages through the suite's ASGI app, with a cookie-keeping client."""

from __future__ import annotations

import httpx
import pytest


@pytest.fixture
async def browser(app, runtime):  # type: ignore[no-untyped-def]
    """A cookie-keeping client of its own; the cookie is Secure unless configured off, and this
    client speaks http, so the tests turn it off (and one test checks the default flags)."""
    runtime.settings.console_secure_cookie = False
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40001))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
    runtime.settings.console_secure_cookie = True
