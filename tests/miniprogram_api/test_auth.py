"""Login, logout and the profile (API.md "Login and identity")."""

from __future__ import annotations

from infra.models import SessionRecord, User
from infra.security.sessions import hash_token
from tests.helpers import unique_code


async def test_demo_citizen_logs_in_with_identity_bound(client):
    response = await client.post("/api/v1/auth/wechat-login", json={"code": "demo-citizen"})
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["identity_bound"] is True
    assert body["user"]["roles"] == ["citizen"]
    assert body["expires_in"] > 0 and len(body["token"]) >= 40
    assert "session_key" not in response.text and "openid" not in response.text


async def test_any_other_demo_code_is_a_new_citizen_without_identity(client):
    code = unique_code()
    response = await client.post("/api/v1/auth/wechat-login", json={"code": code})
    assert response.status_code == 200
    assert response.json()["user"] == {
        "id": response.json()["user"]["id"],
        "roles": ["citizen"],
        "identity_bound": False,
    }
    user = await User.get(id=response.json()["user"]["id"])
    assert user.openid == f"demo-openid-{code.removeprefix('demo-')}"
    # Logging in again is the same user, not a second one.
    again = await client.post("/api/v1/auth/wechat-login", json={"code": code})
    assert again.json()["user"]["id"] == user.id


async def test_session_is_an_opaque_token_kept_hashed(client, redis, keys):
    response = await client.post("/api/v1/auth/wechat-login", json={"code": unique_code()})
    token = response.json()["token"]
    assert await redis.exists(keys.session(hash_token(token)))
    assert not await redis.exists(keys.session(token))
    stored = await redis.hgetall(keys.session(hash_token(token)))
    assert stored[b"uid"] == str(response.json()["user"]["id"]).encode()
    assert set(stored) == {b"uid", b"roles", b"subject"}  # WeChat's session_key is not kept
    assert await SessionRecord.exists(token_hash=hash_token(token))


async def test_session_key_kept_by_older_sessions_is_dropped_at_the_next_login(client, redis, keys):
    code = unique_code()
    first = (await client.post("/api/v1/auth/wechat-login", json={"code": code})).json()["token"]
    older = keys.session(hash_token(first))
    await redis.hset(older, "wxsk", "v1:an-encrypted-session-key")  # as sessions before kept it
    again = await client.post("/api/v1/auth/wechat-login", json={"code": code})
    assert again.status_code == 200
    assert await redis.hget(older, "wxsk") is None
    assert await redis.hget(older, "uid") == str(again.json()["user"]["id"]).encode()


async def test_invalid_wechat_code_is_401(client):
    response = await client.post("/api/v1/auth/wechat-login", json={"code": "bad-code"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "WECHAT_CODE_INVALID"
    assert response.json()["error"]["message"]


async def test_used_code_is_refused(client):
    first = await client.post("/api/v1/auth/wechat-login", json={"code": "once-only-code-1"})
    assert first.status_code == 200
    second = await client.post("/api/v1/auth/wechat-login", json={"code": "once-only-code-1"})
    assert second.status_code == 401
    assert second.json()["error"]["code"] == "WECHAT_CODE_INVALID"


async def test_wechat_busy_and_down(client):
    busy = await client.post("/api/v1/auth/wechat-login", json={"code": "busy-1"})
    assert busy.status_code == 429 and busy.headers["retry-after"]
    down = await client.post("/api/v1/auth/wechat-login", json={"code": "sys-1"})
    assert down.status_code == 503
    assert down.json()["error"]["code"] == "WECHAT_UNAVAILABLE"


async def test_wechat_timeout_is_503(client, fake_wechat):
    fake_wechat.delay_next("/sns/jscode2session", 3.0)
    response = await client.post("/api/v1/auth/wechat-login", json={"code": unique_code()})
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) > 0


async def test_high_risk_user_is_told_so_not_sent_into_a_login_loop(client):
    users = await User.all().count()
    response = await client.post("/api/v1/auth/wechat-login", json={"code": "risk-user-1"})
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "WECHAT_USER_HIGH_RISK"
    assert "风险" in error["message"] and "登录凭证" not in error["message"]
    assert await User.all().count() == users


async def test_logout_stops_the_token_at_once(client, login):
    headers = await login("demo-citizen")
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 200
    assert (await client.get("/api/v1/me/credit", headers=headers)).status_code == 200
    logout = await client.post("/api/v1/auth/logout", headers=headers)
    assert logout.status_code == 204
    for path in ("/api/v1/me", "/api/v1/me/credit", "/api/v1/me/credit/queries"):
        refused = await client.get(path, headers=headers)
        assert refused.status_code == 401, path
        assert refused.json()["error"]["code"] == "TOKEN_INVALID"
    token_hash = hash_token(headers["Authorization"].split()[1])
    assert (await SessionRecord.get(token_hash=token_hash)).revoked_at is not None


async def test_missing_or_malformed_token_is_401(client):
    assert (await client.get("/api/v1/me")).json()["error"]["code"] == "TOKEN_MISSING"
    for header in ("Bearer", "Basic abc", "Bearer not-a-real-token", "Bearer " + "x" * 5000):
        response = await client.get("/api/v1/me", headers={"Authorization": header})
        assert response.status_code == 401, header


async def test_me_profile(client, login):
    headers = await login("demo-citizen")
    body = (await client.get("/api/v1/me", headers=headers)).json()
    assert body["identity_bound"] is True
    assert body["identity"] == {"name_masked": "巴**", "id_number_masked": "1529**********001X"}
    assert body["merchants"] == [] and body["venues"] == []
    staff = (await client.get("/api/v1/me", headers=await login("demo-staff"))).json()
    assert "venue_staff" in staff["roles"]


async def test_login_rate_limit_gives_429_with_retry_after(client, settings, redis, keys):
    rule = settings.rate_limits["login"]
    original = rule.limit
    await redis.delete(keys.rate("login", "127.0.0.1"))
    rule.limit = 2
    try:
        statuses = [
            (await client.post("/api/v1/auth/wechat-login", json={"code": "demo-citizen"}))
            for _ in range(3)
        ]
    finally:
        rule.limit = original
        await redis.delete(keys.rate("login", "127.0.0.1"))
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert 1 <= int(statuses[-1].headers["retry-after"]) <= rule.window
    assert statuses[-1].json()["error"]["code"] == "RATE_LIMITED"
