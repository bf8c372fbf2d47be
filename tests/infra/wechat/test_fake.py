"""The fake WeChat is as strict as the platform's documentation (infra/wechat/fake.py): spoken to
over HTTP, as the service speaks to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from infra.wechat.fake import (
    PATH_JSCODE2SESSION,
    PATH_MSG_SEC_CHECK,
    PATH_STABLE_TOKEN,
    FakeWeChat,
)


@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    server = FakeWeChat()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def http(fake: FakeWeChat) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake.base_url) as client:
        yield client


async def stable_token(http: httpx.AsyncClient, fake: FakeWeChat, force: bool) -> dict[str, Any]:
    body = {
        "grant_type": "client_credential",
        "appid": fake.appid,
        "secret": fake.secret,
        "force_refresh": force,
    }
    return dict((await http.post(PATH_STABLE_TOKEN, json=body)).json())


async def login(http: httpx.AsyncClient, fake: FakeWeChat, code: str) -> dict[str, Any]:
    params = {
        "appid": fake.appid,
        "secret": fake.secret,
        "js_code": code,
        "grant_type": "authorization_code",
    }
    return dict((await http.get(PATH_JSCODE2SESSION, params=params)).json())


async def sec_check(
    http: httpx.AsyncClient, token: str, openid: str, content: str
) -> dict[str, Any]:
    body = {"content": content, "version": 2, "scene": 2, "openid": openid}
    response = await http.post(PATH_MSG_SEC_CHECK, params={"access_token": token}, json=body)
    return dict(response.json())


# -- stable_token ---------------------------------------------------------------------------


async def test_normal_mode_hands_out_the_current_token(
    http: httpx.AsyncClient, fake: FakeWeChat
) -> None:
    first = await stable_token(http, fake, force=False)
    again = await stable_token(http, fake, force=False)
    assert again["access_token"] == first["access_token"]
    assert 300 < again["expires_in"] <= 7200
    # Within its last 5 minutes a new one comes, and the old one still works until it expires.
    fake.advance_clock(7200 - 200)
    renewed = await stable_token(http, fake, force=False)
    assert renewed["access_token"] != first["access_token"]
    assert set(fake.valid_tokens) == {first["access_token"], renewed["access_token"]}


async def test_forced_refresh_voids_the_previous_token_for_every_holder(
    http: httpx.AsyncClient, fake: FakeWeChat
) -> None:
    old = (await stable_token(http, fake, force=False))["access_token"]
    new = (await stable_token(http, fake, force=True))["access_token"]
    assert new != old
    assert fake.valid_tokens == [new]
    assert (await sec_check(http, old, "o-any", "你好"))["errcode"] == 40001
    assert (await stable_token(http, fake, force=False))["access_token"] == new


async def test_forced_refresh_within_30_seconds_returns_the_same_token(
    http: httpx.AsyncClient, fake: FakeWeChat
) -> None:
    first = (await stable_token(http, fake, force=True))["access_token"]
    fake.advance_clock(29)
    assert (await stable_token(http, fake, force=True))["access_token"] == first
    assert fake.forced_refreshes == 1
    fake.advance_clock(2)
    assert (await stable_token(http, fake, force=True))["access_token"] != first
    assert fake.forced_refreshes == 2


async def test_the_21st_forced_refresh_of_a_day_is_refused(
    http: httpx.AsyncClient, fake: FakeWeChat
) -> None:
    # A day boundary within the test would reset the count: start just after a Beijing midnight.
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone(timedelta(hours=8)))
    fake.advance_clock(86400 - (now.hour * 3600 + now.minute * 60 + now.second) + 60)
    for _ in range(20):
        assert "access_token" in await stable_token(http, fake, force=True)
        fake.advance_clock(31)
    refused = await stable_token(http, fake, force=True)
    assert refused["errcode"] == 45009 and "access_token" not in refused
    assert fake.forced_refreshes == 20
    assert "access_token" in await stable_token(http, fake, force=False)  # normal mode still works
    fake.advance_clock(86400)
    assert "access_token" in await stable_token(http, fake, force=True)  # a new day


# -- jscode2session -------------------------------------------------------------------------


async def test_high_risk_user_login_is_40226(http: httpx.AsyncClient, fake: FakeWeChat) -> None:
    answer = await login(http, fake, "risk-1")
    assert answer["errcode"] == 40226 and "openid" not in answer


# -- msg_sec_check --------------------------------------------------------------------------


async def test_msg_sec_check_content_is_at_most_2500_characters(
    http: httpx.AsyncClient, fake: FakeWeChat
) -> None:
    token = (await stable_token(http, fake, force=False))["access_token"]
    openid = (await login(http, fake, "demo-writer"))["openid"]
    assert (await sec_check(http, token, openid, "好" * 2500))["result"]["suggest"] == "pass"
    assert (await sec_check(http, token, openid, "好" * 2501))["errcode"] == 47001


async def test_msg_sec_check_wants_a_visit_within_two_hours(
    http: httpx.AsyncClient, fake: FakeWeChat
) -> None:
    token = (await stable_token(http, fake, force=False))["access_token"]
    assert (await sec_check(http, token, "o-never-seen", "你好"))["errcode"] == 43104
    openid = (await login(http, fake, "demo-visitor"))["openid"]
    fake.advance_clock(2 * 3600 - 60)
    token = (await stable_token(http, fake, force=False))["access_token"]
    assert (await sec_check(http, token, openid, "你好"))["errcode"] == 0
    fake.advance_clock(120)
    assert (await sec_check(http, token, openid, "你好"))["errcode"] == 61010
    await login(http, fake, "demo-visitor")  # opens the mini-program again
    assert (await sec_check(http, token, openid, "你好"))["errcode"] == 0
