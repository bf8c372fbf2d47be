"""扫码登录 (issue 14 item 1): a one-time ticket, confirmed from the mini-program by an official
with a console role, claimed once by the browser that holds its secret; the session cookie's
flags; CSRF; idle timeout; logout and logout everywhere."""

from __future__ import annotations

import re

import httpx

from infra.security.console import ticket_key

CONFIRM = "/api/v1/console-tickets/{}/confirm"


def ticket_id_of(page: str) -> str:
    return re.search(r'name="ticket" value="([^"]+)"', page).group(1)


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


async def scan_login(browser, client, login, code="demo-reviewer"):  # type: ignore[no-untyped-def]
    page = await browser.get("/console/login")
    assert page.status_code == 200
    ticket = ticket_id_of(page.text)
    official = await login(code)
    confirmed = await client.post(CONFIRM.format(ticket), headers=official)
    assert confirmed.status_code == 200, confirmed.text
    claimed = await browser.get("/console/login")
    assert claimed.status_code == 303 and claimed.headers["location"] == "/console"
    return ticket, claimed


async def test_scan_login_claims_the_ticket_once(browser, client, login, runtime):
    ticket, claimed = await scan_login(browser, client, login)
    cookie = claimed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    home = await browser.get("/console")
    assert home.status_code == 200 and "信用修复审核" in home.text
    assert "Content-Security-Policy" in home.headers
    assert "script-src" not in home.headers["content-security-policy"]
    # one-time: the ticket is gone, a second confirmation finds nothing
    assert not await runtime.redis.exists(ticket_key(runtime.keys, ticket))
    again = await client.post(CONFIRM.format(ticket), headers=await login("demo-reviewer"))
    assert again.status_code == 404 and again.json()["error"]["code"] == "TICKET_NOT_FOUND"


async def test_only_console_roles_confirm_and_only_the_browser_with_the_secret_claims(
    browser, client, login, app
):
    page = await browser.get("/console/login")
    ticket = ticket_id_of(page.text)
    for code in ("demo-citizen", "demo-merchant"):
        refused = await client.post(CONFIRM.format(ticket), headers=await login(code))
        assert refused.status_code == 403
    assert (await client.post(CONFIRM.format(ticket))).status_code == 401
    assert (
        await client.post(CONFIRM.format(ticket), headers=await login("demo-staff"))
    ).status_code == 200
    twice = await client.post(CONFIRM.format(ticket), headers=await login("demo-admin"))
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "TICKET_USED"
    # Someone who saw the QR code (the id) but lacks the browser's secret gets no session.
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40002))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        other.cookies.set("console-ticket", f"{ticket}.guessed-secret")
        stolen = await other.get("/console/login")
        assert stolen.status_code == 200 and "login-qr" in stolen.text
        assert (await other.get("/console")).status_code == 302
    claimed = await browser.get("/console/login")
    assert claimed.status_code == 303


async def test_the_default_cookie_is_secure_with_the_host_prefix(app, runtime, client, login):
    assert runtime.settings.console_secure_cookie is True
    response = await client.post("/api/v1/console-tickets")
    assert response.status_code == 201
    body = response.json()
    assert body["qr"].endswith(f"/console/scan/{body['id']}") and body["expires_in"] == 120
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-console-ticket=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie


async def test_a_form_without_the_csrf_token_is_refused(browser, client, login):
    await scan_login(browser, client, login)
    home = await browser.get("/console")
    refused = await browser.post("/console/logout", data={})
    assert refused.status_code == 403 and "安全令牌" in refused.text
    wrong = await browser.post("/console/logout", data={"csrf": "x" * 32})
    assert wrong.status_code == 403
    assert (await browser.get("/console")).status_code == 200  # still logged in
    done = await browser.post("/console/logout", data={"csrf": csrf_of(home.text)})
    assert done.status_code == 303
    assert (await browser.get("/console")).status_code == 302


async def test_idle_timeout_and_logout_everywhere(browser, client, login, runtime, app):
    await scan_login(browser, client, login, "demo-admin")
    token = browser.cookies.get("console")
    from infra.security.sessions import hash_token

    ttl = await runtime.redis.ttl(runtime.keys.session(hash_token(token)))
    assert 0 < ttl <= runtime.settings.console_idle_seconds
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40003))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as second:
        await scan_login(second, client, login, "demo-admin")
        assert (await second.get("/console")).status_code == 200
        home = await browser.get("/console")
        ended = await browser.post("/console/logout-everywhere", data={"csrf": csrf_of(home.text)})
        assert ended.status_code == 303
        assert (await second.get("/console")).status_code == 302
        assert (await browser.get("/console")).status_code == 302
    # the mini-program login stays
    assert (await client.get("/api/v1/me", headers=await login("demo-admin"))).status_code == 200


async def test_an_expired_session_goes_back_to_the_login_page(browser, client, login, runtime):
    await scan_login(browser, client, login)
    from infra.security.sessions import hash_token

    await runtime.redis.delete(runtime.keys.session(hash_token(browser.cookies.get("console"))))
    back = await browser.get("/console/applications/repairs")
    assert back.status_code == 302
    assert back.headers["location"].startswith("/console/login?next=")


async def test_a_mini_program_token_in_the_cookie_is_no_console_session(browser, client):
    response = await client.post("/api/v1/auth/wechat-login", json={"code": "demo-reviewer"})
    browser.cookies.set("console", response.json()["token"])
    assert (await browser.get("/console")).status_code == 302


async def test_demo_logins_confirm_this_browsers_ticket(browser, runtime):
    page = await browser.get("/console/login")
    ticket = ticket_id_of(page.text)
    forged = await browser.post(
        "/console/login/demo", data={"ticket": "someone-else", "code": "demo-admin"}
    )
    assert forged.status_code == 403
    done = await browser.post("/console/login/demo", data={"ticket": ticket, "code": "demo-admin"})
    assert done.status_code == 303
    assert (await browser.get("/console/login")).status_code == 303
    assert "管理员" in (await browser.get("/console")).text
    runtime.settings.demo = False
    try:
        off = await browser.post(
            "/console/login/demo", data={"ticket": ticket, "code": "demo-admin"}
        )
        assert off.status_code == 404
    finally:
        runtime.settings.demo = True


async def test_past_the_absolute_lifetime_the_session_ends(browser, client, login, runtime):
    await scan_login(browser, client, login)
    from infra.security.console import STARTED
    from infra.security.sessions import hash_token

    name = runtime.keys.session(hash_token(browser.cookies.get("console")))
    await runtime.redis.hset(name, STARTED, "1000")  # started in 1970
    assert (await browser.get("/console")).status_code == 302
    assert not await runtime.redis.exists(name)


async def test_a_phone_camera_opening_the_qr_code_is_told_to_use_the_mini_program(browser):
    page = await browser.get("/console/scan/anything")
    assert page.status_code == 200 and "小程序" in page.text
    assert "script-src" not in page.headers["content-security-policy"]
