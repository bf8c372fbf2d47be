"""Health, readiness, OpenAPI and the error shape."""

from __future__ import annotations

import time

from redis.asyncio import Redis


async def test_healthz(client):
    response = await client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_readyz_checks_database_and_cache(client, runtime):
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "cache": "ok"}
    working = runtime.redis
    runtime.redis = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)  # nothing there
    try:
        down = await client.get("/readyz")
    finally:
        await runtime.redis.aclose()
        runtime.redis = working
    assert down.status_code == 503
    assert down.json()["checks"]["cache"] == "unavailable"


async def test_a_cache_that_does_not_answer_is_a_503_not_a_500(client, runtime, login):
    headers = await login("demo-citizen")
    working = runtime.redis
    runtime.redis = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)  # nothing there
    try:
        answers = [
            await client.get("/api/v1/me", headers=headers),
            await client.get("/api/v1/merchant-codes/DemoTuoling01"),
        ]
    finally:
        await runtime.redis.aclose()
        runtime.redis = working
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert answer.headers["retry-after"] == "5"


async def test_openapi_document_and_ui(client):
    spec = await client.get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    for path in (
        "/healthz", "/readyz", "/api/v1/auth/wechat-login", "/api/v1/auth/logout", "/api/v1/me",
        "/api/v1/me/identity/verify-session", "/api/v1/me/identity", "/api/v1/me/credit",
        "/api/v1/me/credit/queries", "/api/v1/subjects", "/api/v1/subjects/{uscc}",
    ):  # fmt: skip
        assert path in paths, path
    login = paths["/api/v1/auth/wechat-login"]["post"]
    assert "code" in login["requestBody"]["content"]["application/json"]["schema"]["properties"]
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "html" in docs.headers["content-type"]


async def test_unknown_path_and_method_use_the_error_shape(client):
    missing = await client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND" and missing.json()["error"]["message"]
    wrong = await client.delete("/api/v1/me")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


async def test_a_frozen_redis_answers_503_within_a_second_on_every_path(
    client, runtime, login, private_redis
):
    from infra.cache import make_redis
    from infra.redis_scripts import close_scripts

    citizen = await login("demo-citizen")
    staff = await login("demo-staff")
    issued = await client.get("/api/v1/me/credit-code", headers=citizen)
    assert issued.status_code == 200, issued.text
    token = issued.json()["token"]
    working = runtime.redis
    frozen = make_redis(private_redis.url, timeout=runtime.settings.redis_timeout_seconds)
    await frozen.ping()  # pooled, then frozen: the pool and the pipelined channel both meet it
    private_redis.freeze()
    runtime.redis = frozen
    try:
        requests = [
            ("GET", "/api/v1/me/credit", citizen, None),  # the hot path's pipelined script
            ("POST", "/api/v1/scan/verify", staff, {"token": token}),  # the other one
            ("GET", "/api/v1/me", citizen, None),  # the session through the pool
            ("GET", "/api/v1/merchant-codes/DemoTuoling01", None, None),  # a plate scan
            ("GET", "/api/v1/subjects?q=驼铃", None, None),  # a rate-limited public search
        ]
        for method, path, headers, body in requests:
            started = time.monotonic()
            answer = await client.request(method, path, headers=headers, json=body)
            elapsed = time.monotonic() - started
            assert answer.status_code == 503, (path, answer.text)
            assert answer.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
            assert answer.headers["retry-after"] == "5"
            assert elapsed < 1.0, (path, elapsed)
    finally:
        runtime.redis = working
        private_redis.thaw()
        await close_scripts(frozen)
        await frozen.aclose()
    assert (await client.get("/api/v1/me", headers=citizen)).status_code == 200


async def test_a_redis_still_loading_its_aof_answers_503_not_500(
    client, runtime, login, private_redis
):
    """After a crash a production Redis answers `-LOADING` until its AOF is read: the hot path's
    pipelined script and the pool's commands both meet it (the peak bench saw 500s here)."""
    from infra.cache import make_redis
    from infra.redis_scripts import close_scripts

    citizen = await login("demo-citizen")
    working = runtime.redis
    restarted = make_redis(private_redis.url, timeout=runtime.settings.redis_timeout_seconds)
    private_redis.restart_loading(seconds=3.0)
    runtime.redis = restarted
    try:
        for path in ("/api/v1/me/credit", "/api/v1/merchant-codes/DemoTuoling01"):
            headers = citizen if path.startswith("/api/v1/me") else None
            answer = await client.get(path, headers=headers)
            assert answer.status_code == 503, (path, answer.text)
            assert answer.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
            assert answer.headers["retry-after"] == "5"
    finally:
        runtime.redis = working
        await close_scripts(restarted)
        await restarted.aclose()
