"""WeChatClient against a real FakeWeChat over HTTP and a real (fake)redis: no mocks."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from urllib.request import Request, urlopen

import httpx
import pytest
from fakeredis import FakeServer
from fakeredis.aioredis import FakeRedis

from infra.cache import Keys
from infra.wechat.client import (
    CodeSession,
    FaceOutcome,
    WeChatClient,
    WeChatDeadlineExceeded,
    WeChatError,
    WeChatUnavailable,
    cert_hash,
)
from infra.wechat.fake import (
    PATH_GET_VERIFY_ID,
    PATH_JSCODE2SESSION,
    PATH_MSG_SEC_CHECK,
    PATH_QUERY_VERIFY_INFO,
    PATH_STABLE_TOKEN,
    PATH_SUBSCRIBE_SEND,
    FakeWeChat,
)

VALID_ID = "11010519491231002X"  # GB 11643 check digit correct
INVALID_ID = "110105194912310021"  # same number, wrong check digit
TEMPLATE = "tmpl-repair-result"


VISITORS = ("demo-openid-citizen", "demo-openid-x")


@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    server = FakeWeChat()
    server.start()
    for openid in VISITORS:  # msg_sec_check wants a visit of the mini-program within 2 hours
        server.record_visit(openid)
    yield server
    server.stop()


@pytest.fixture
def redis_server() -> FakeServer:
    """One fresh in-memory Redis per test; several clients on it act like several processes."""
    return FakeServer()


@pytest.fixture
async def redis(redis_server: FakeServer) -> AsyncIterator[FakeRedis]:
    conn = FakeRedis(server=redis_server)
    yield conn
    await conn.aclose()


@pytest.fixture
async def client(fake: FakeWeChat, redis: FakeRedis) -> AsyncIterator[WeChatClient]:
    wc = make_client(fake, redis)
    yield wc
    await wc.aclose()


def make_client(
    fake: FakeWeChat, redis: FakeRedis, keys: Keys = Keys("t:"), **kwargs: object
) -> WeChatClient:
    return WeChatClient(
        api_base=fake.base_url,
        appid=fake.appid,
        secret=fake.secret,
        redis=redis,
        keys=keys,
        **kwargs,  # type: ignore[arg-type]
    )


def stable_token_calls(fake: FakeWeChat) -> list[dict]:
    return fake.calls_to(PATH_STABLE_TOKEN)


# -- login ----------------------------------------------------------------------------------


async def test_demo_code_gives_fixed_openid_and_can_be_reused(client: WeChatClient) -> None:
    first = await client.code_to_session("demo-citizen")
    second = await client.code_to_session("demo-citizen")
    assert first.openid == second.openid == "demo-openid-citizen"
    assert first.unionid == "demo-union-citizen"
    assert first.session_key and first.session_key != second.session_key


async def test_other_code_is_deterministic_and_single_use(
    client: WeChatClient, fake: FakeWeChat
) -> None:
    session = await client.code_to_session("081abcXYZ")
    assert isinstance(session, CodeSession)
    assert session.openid.startswith("o") and len(session.openid) == 28
    assert session.unionid is None
    assert session.session_key not in repr(session)
    with pytest.raises(WeChatError) as exc_info:
        await client.code_to_session("081abcXYZ")
    assert exc_info.value.errcode == 40163
    # A fresh fake maps the same code to the same openid.
    fake.reset()
    assert (await client.code_to_session("081abcXYZ")).openid == session.openid
    sent = fake.calls_to(PATH_JSCODE2SESSION)[-1]
    assert sent["grant_type"] == "authorization_code"
    assert sent["appid"] == fake.appid


@pytest.mark.parametrize(
    ("code", "errcode", "unavailable"),
    [
        ("invalid", 40029, False),
        ("bad-x", 40029, False),
        ("busy-1", 45011, False),
        ("sys-1", -1, True),
    ],
)
async def test_login_errors(
    client: WeChatClient, code: str, errcode: int, unavailable: bool
) -> None:
    with pytest.raises(WeChatError) as exc_info:
        await client.code_to_session(code)
    err = exc_info.value
    assert err.errcode == errcode
    assert err.path == PATH_JSCODE2SESSION
    assert isinstance(err, WeChatUnavailable) is unavailable


async def test_wrong_secret_is_40125_and_secret_not_in_error(
    fake: FakeWeChat, redis: FakeRedis
) -> None:
    wc = WeChatClient(api_base=fake.base_url, appid=fake.appid, secret="wrong-s3cret", redis=redis)
    try:
        with pytest.raises(WeChatError) as exc_info:
            await wc.code_to_session("demo-citizen")
    finally:
        await wc.aclose()
    assert exc_info.value.errcode == 40125
    assert not isinstance(exc_info.value, WeChatUnavailable)
    assert "wrong-s3cret" not in str(exc_info.value)


async def test_timeout_raises_unavailable(fake: FakeWeChat, redis: FakeRedis) -> None:
    wc = make_client(fake, redis, timeout=0.2)
    fake.delay_next(PATH_JSCODE2SESSION, 1.0)
    try:
        with pytest.raises(WeChatUnavailable) as exc_info:
            await wc.code_to_session("demo-citizen")
        assert exc_info.value.errcode == -1
        # The delay was used up: the next call goes through.
        assert (await wc.code_to_session("demo-citizen")).openid == "demo-openid-citizen"
    finally:
        await wc.aclose()


async def test_http_5xx_and_connection_refused_are_unavailable(
    fake: FakeWeChat, redis: FakeRedis
) -> None:
    wc = make_client(fake, redis)
    fake.fail_next(PATH_JSCODE2SESSION, -1, http_status=502)
    try:
        with pytest.raises(WeChatUnavailable):
            await wc.code_to_session("demo-citizen")
    finally:
        await wc.aclose()
    base = fake.base_url
    fake.stop()
    down = WeChatClient(api_base=base, appid="a", secret="s", redis=redis, timeout=1)
    try:
        with pytest.raises(WeChatUnavailable):
            await down.code_to_session("demo-citizen")
    finally:
        await down.aclose()


async def test_httpx_log_lines_do_not_carry_the_secret(
    client: WeChatClient, fake: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        await client.code_to_session("demo-citizen")
        await client.access_token()
    text = caplog.text
    assert "HTTP Request" in text  # httpx did log the request...
    assert fake.secret not in text  # ...with the secret redacted
    assert "demo-citizen" not in text


# -- access token ---------------------------------------------------------------------------


async def test_access_token_cached_in_redis_with_margin(
    client: WeChatClient, fake: FakeWeChat, redis: FakeRedis
) -> None:
    token = await client.access_token()
    assert await client.access_token() == token
    assert len(stable_token_calls(fake)) == 1
    assert stable_token_calls(fake)[0]["force_refresh"] is False
    assert (await redis.get("t:wechat:access_token")).decode() == token
    ttl = await redis.ttl("t:wechat:access_token")
    assert 7200 - 300 - 5 <= ttl <= 7200 - 300


async def test_explicit_force_refresh_replaces_the_cached_token(
    client: WeChatClient, fake: FakeWeChat, redis: FakeRedis
) -> None:
    old = await client.access_token()
    new = await client.access_token(force_refresh=True)
    assert new != old
    assert (await redis.get("t:wechat:access_token")).decode() == new
    # Normal mode first: it hands back the same token, so only then a forced refresh.
    assert [c["force_refresh"] for c in stable_token_calls(fake)] == [False, False, True]
    assert fake.valid_tokens == [new]


async def test_token_shared_by_two_clients_on_one_redis(
    fake: FakeWeChat, redis_server: FakeServer
) -> None:
    # Two connections to one Redis server stand for two worker processes.
    redis_a, redis_b = FakeRedis(server=redis_server), FakeRedis(server=redis_server)
    a, b = make_client(fake, redis_a), make_client(fake, redis_b)
    try:
        token_a = await a.access_token()
        token_b = await b.access_token()
    finally:
        await a.aclose()
        await b.aclose()
        await redis_a.aclose()
        await redis_b.aclose()
    assert token_a == token_b
    assert len(stable_token_calls(fake)) == 1


async def test_concurrent_first_fetch_makes_one_stable_token_call(
    fake: FakeWeChat, redis_server: FakeServer
) -> None:
    fake.delay_next(PATH_STABLE_TOKEN, 0.2)  # keep the lock held while the others arrive
    conns = [FakeRedis(server=redis_server) for _ in range(2)]
    clients = [make_client(fake, conns[i % 2]) for i in range(4)]
    try:
        tokens = await asyncio.gather(*(clients[i % 4].access_token() for i in range(20)))
    finally:
        for wc in clients:
            await wc.aclose()
        for conn in conns:
            await conn.aclose()
    assert len(set(tokens)) == 1
    assert len(stable_token_calls(fake)) == 1


async def test_token_voided_elsewhere_is_replaced_in_normal_mode_without_forcing(
    client: WeChatClient, fake: FakeWeChat
) -> None:
    old = await client.access_token()
    # Another holder of the appid forces a refresh: our cached token is void (40001).
    async with httpx.AsyncClient(base_url=fake.base_url) as http:
        forced = await http.post(
            PATH_STABLE_TOKEN,
            json={
                "grant_type": "client_credential",
                "appid": fake.appid,
                "secret": fake.secret,
                "force_refresh": True,
            },
        )
    current = forced.json()["access_token"]
    assert await client.msg_sec_check(openid="demo-openid-x", content="你好", scene=2) == "pass"
    checks = fake.calls_to(PATH_MSG_SEC_CHECK)
    assert [c["access_token"] for c in checks] == [old, current]
    assert [c["force_refresh"] for c in stable_token_calls(fake)] == [False, True, False]
    assert fake.forced_refreshes == 1  # the other holder's only
    assert await client.access_token() == current


async def test_rejected_token_still_current_is_force_refreshed_once_and_call_retried(
    client: WeChatClient, fake: FakeWeChat
) -> None:
    old = await client.access_token()
    fake.fail_next(PATH_MSG_SEC_CHECK, 40001)  # WeChat rejects a token it still hands out
    assert (
        await client.msg_sec_check(openid="demo-openid-citizen", content="你好", scene=3) == "pass"
    )
    calls = stable_token_calls(fake)
    assert [c["force_refresh"] for c in calls] == [False, False, True]
    checks = fake.calls_to(PATH_MSG_SEC_CHECK)
    assert len(checks) == 2
    assert checks[0]["access_token"] == old
    assert checks[1]["access_token"] != old
    assert await client.access_token() == checks[1]["access_token"]


async def test_token_rejected_twice_gives_up(client: WeChatClient, fake: FakeWeChat) -> None:
    fake.fail_next(PATH_MSG_SEC_CHECK, 42001, times=2)
    with pytest.raises(WeChatError) as exc_info:
        await client.msg_sec_check(openid="demo-openid-citizen", content="你好", scene=3)
    assert exc_info.value.errcode == 42001
    assert len(fake.calls_to(PATH_MSG_SEC_CHECK)) == 2
    assert [c["force_refresh"] for c in stable_token_calls(fake)] == [False, False, True]


async def test_concurrent_rejections_share_one_normal_mode_refetch(
    client: WeChatClient, fake: FakeWeChat
) -> None:
    await client.access_token()
    fake.invalidate_tokens()  # e.g. the token expired early on WeChat's side
    results = await asyncio.gather(
        *(client.msg_sec_check(openid="demo-openid-x", content="hi", scene=2) for _ in range(10))
    )
    assert results == ["pass"] * 10
    assert [c["force_refresh"] for c in stable_token_calls(fake)] == [False, False]
    assert fake.forced_refreshes == 0


@pytest.mark.parametrize("concurrent", [False, True])
async def test_two_deployments_sharing_an_appid_end_with_one_token_and_one_forced_refresh(
    fake: FakeWeChat, redis_server: FakeServer, concurrent: bool
) -> None:
    # Two deployments (two key prefixes) of the same mini-program, each seeing 40001 for the
    # token both hold while WeChat's normal mode still hands it out.
    conn = FakeRedis(server=redis_server)
    a = make_client(fake, conn, Keys("deployment-a:"))
    b = make_client(fake, conn, Keys("deployment-b:"))
    try:
        shared = await a.access_token()
        assert await b.access_token() == shared

        async def check(wc: WeChatClient) -> str:
            return await wc.msg_sec_check(openid="demo-openid-x", content="你好", scene=2)

        if concurrent:
            fake.fail_next(PATH_MSG_SEC_CHECK, 40001, times=2)
            results = list(await asyncio.gather(check(a), check(b)))
        else:
            fake.fail_next(PATH_MSG_SEC_CHECK, 40001)  # a; b then holds a token a's refresh voided
            results = [await check(a), await check(b)]
        assert results == ["pass", "pass"]
        [valid] = fake.valid_tokens
        assert valid != shared
        assert await a.access_token() == await b.access_token() == valid
    finally:
        await a.aclose()
        await b.aclose()
        await conn.aclose()
    assert fake.forced_refreshes == 1
    assert fake.calls_to(PATH_MSG_SEC_CHECK)[-1]["access_token"] == valid


async def test_forced_refresh_at_most_once_per_interval_for_the_deployment(
    fake: FakeWeChat, redis: FakeRedis
) -> None:
    a, b = make_client(fake, redis), make_client(fake, redis)  # two workers, one deployment
    try:
        await a.access_token()
        await a.access_token(force_refresh=True)
        assert fake.forced_refreshes == 1
        fake.fail_next(PATH_MSG_SEC_CHECK, 40001)
        with pytest.raises(WeChatUnavailable) as exc_info:
            await b.msg_sec_check(openid="demo-openid-x", content="你好", scene=2)
    finally:
        await a.aclose()
        await b.aclose()
    assert 0 < exc_info.value.retry_after <= 30
    assert fake.forced_refreshes == 1
    assert [c["force_refresh"] for c in stable_token_calls(fake)].count(True) == 1


async def test_forced_refreshes_stop_at_the_daily_allowance(
    client: WeChatClient, fake: FakeWeChat, redis: FakeRedis
) -> None:
    from datetime import datetime, timedelta, timezone

    day = datetime.now(timezone(timedelta(hours=8))).date().isoformat()
    await redis.set(Keys("t:").wechat_force_refresh_count(day), 20)  # 20 used today
    await client.access_token()
    with pytest.raises(WeChatUnavailable) as exc_info:
        await client.access_token(force_refresh=True)
    assert "allowance" in exc_info.value.errmsg
    assert exc_info.value.retry_after > 0
    assert [c["force_refresh"] for c in stable_token_calls(fake)] == [False, False]  # no force
    assert fake.forced_refreshes == 0


async def test_waiting_for_the_refresh_lock_is_bounded(fake: FakeWeChat, redis: FakeRedis) -> None:
    wc = make_client(fake, redis, token_wait=0.3)
    held = redis.lock("t:wechat:access_token:lock", timeout=10)
    assert await held.acquire()  # a worker that hangs while holding the lock
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        with pytest.raises(WeChatUnavailable):
            await wc.access_token()
    finally:
        await held.release()
        await wc.aclose()
    assert loop.time() - started < 1.0
    assert stable_token_calls(fake) == []


async def test_waiters_of_a_failed_refresh_give_up_together(
    fake: FakeWeChat, redis_server: FakeServer
) -> None:
    fake.delay_next(PATH_STABLE_TOKEN, 0.3)  # the holder's first call is slow, then fails
    fake.fail_next(PATH_STABLE_TOKEN, -1, times=2)  # and its one retry fails too
    conns = [FakeRedis(server=redis_server) for _ in range(2)]
    clients = [make_client(fake, conns[i % 2]) for i in range(4)]
    try:
        results = await asyncio.gather(
            *(clients[i % 4].access_token() for i in range(12)), return_exceptions=True
        )
    finally:
        for wc in clients:
            await wc.aclose()
        for conn in conns:
            await conn.aclose()
    assert all(isinstance(r, WeChatUnavailable) for r in results)
    assert len(stable_token_calls(fake)) == 2  # the holder's call and its retry, nobody else's


async def test_other_errcodes_do_not_refresh_the_token(
    client: WeChatClient, fake: FakeWeChat
) -> None:
    fake.fail_next(PATH_MSG_SEC_CHECK, 45009)
    with pytest.raises(WeChatError) as exc_info:
        await client.msg_sec_check(openid="demo-openid-x", content="hi", scene=2)
    assert exc_info.value.errcode == 45009
    assert len(stable_token_calls(fake)) == 1
    assert len(fake.calls_to(PATH_MSG_SEC_CHECK)) == 1


# -- retries and the deadline ---------------------------------------------------------------


async def test_idempotent_calls_are_retried_once_on_busy(
    client: WeChatClient, fake: FakeWeChat
) -> None:
    fake.fail_next(PATH_STABLE_TOKEN, -1)
    assert await client.access_token()
    assert len(stable_token_calls(fake)) == 2
    fake.fail_next(PATH_MSG_SEC_CHECK, -1)
    assert await client.msg_sec_check(openid="demo-openid-x", content="hi", scene=2) == "pass"
    assert len(fake.calls_to(PATH_MSG_SEC_CHECK)) == 2
    fake.fail_next(PATH_MSG_SEC_CHECK, -1, times=2)  # once only
    with pytest.raises(WeChatUnavailable):
        await client.msg_sec_check(openid="demo-openid-x", content="hi", scene=2)
    assert len(fake.calls_to(PATH_MSG_SEC_CHECK)) == 4


async def test_query_verify_info_is_retried_once_after_a_timeout(
    fake: FakeWeChat, redis: FakeRedis
) -> None:
    wc = make_client(fake, redis, timeout=0.3)
    try:
        verify_id, _ = await wc.get_verify_id(
            openid="demo-openid-x", name="张三", id_number=VALID_ID, out_seq_no="seq-retry-1"
        )
        fake.delay_next(PATH_QUERY_VERIFY_INFO, 1.0)
        result = await wc.query_verify_info(
            openid="demo-openid-x",
            verify_id=verify_id,
            name="张三",
            id_number=VALID_ID,
            out_seq_no="seq-retry-1",
        )
    finally:
        await wc.aclose()
    assert result.passed
    assert len(fake.calls_to(PATH_QUERY_VERIFY_INFO)) == 2


async def test_calls_that_are_not_idempotent_are_not_retried(
    client: WeChatClient, fake: FakeWeChat
) -> None:
    with pytest.raises(WeChatUnavailable):
        await client.code_to_session("sys-1")  # a login code is single-use
    assert len(fake.calls_to(PATH_JSCODE2SESSION)) == 1
    fake.fail_next(PATH_GET_VERIFY_ID, -1)
    with pytest.raises(WeChatUnavailable):
        await client.get_verify_id(
            openid="demo-openid-x", name="张三", id_number=VALID_ID, out_seq_no="seq-once-1"
        )
    assert len(fake.calls_to(PATH_GET_VERIFY_ID)) == 1
    fake.fail_next(PATH_SUBSCRIBE_SEND, -1)
    with pytest.raises(WeChatUnavailable):
        await client.send_subscribe_message(
            openid="demo-openid-x", template_id=TEMPLATE, data={"thing1": "你好"}
        )
    assert len(fake.calls_to(PATH_SUBSCRIBE_SEND)) == 1


async def test_overall_deadline_ends_a_slow_call_and_its_retry(
    fake: FakeWeChat, redis: FakeRedis
) -> None:
    wc = make_client(fake, redis, timeout=1.0, deadline=1.5)
    await wc.access_token()
    fake.delay_next(PATH_MSG_SEC_CHECK, 5.0, times=2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        with pytest.raises(WeChatDeadlineExceeded) as exc_info:
            await wc.msg_sec_check(openid="demo-openid-x", content="hi", scene=2)
    finally:
        await wc.aclose()
    assert 1.4 <= loop.time() - started < 2.0  # the timeout (1 s), then the retry cut at 1.5 s
    assert exc_info.value.retry_after > 0


async def test_calls_inside_one_deadline_share_it(fake: FakeWeChat, redis: FakeRedis) -> None:
    wc = make_client(fake, redis, timeout=2.0)
    await wc.access_token()
    fake.delay_next(PATH_MSG_SEC_CHECK, 0.6, times=2)
    try:
        async with wc.deadline(1.0):
            assert await wc.msg_sec_check(openid="demo-openid-x", content="a", scene=2) == "pass"
            with pytest.raises(WeChatDeadlineExceeded):  # 0.4 s left for a 0.6 s answer
                await wc.msg_sec_check(openid="demo-openid-x", content="b", scene=2)
            with pytest.raises(WeChatDeadlineExceeded):  # nothing left: not even sent
                await wc.msg_sec_check(openid="demo-openid-x", content="c", scene=2)
        # Outside, a call has its own deadline again.
        assert await wc.msg_sec_check(openid="demo-openid-x", content="d", scene=2) == "pass"
    finally:
        await wc.aclose()
    assert [c["content"] for c in fake.calls_to(PATH_MSG_SEC_CHECK)] == ["a", "b", "d"]


# -- face verification ----------------------------------------------------------------------


def test_cert_hash_matches_official_example() -> None:
    # The example in the queryVerifyInfo docs ("注意事项").
    assert cert_hash("IDENTITY_CARD", "张三", "310101199801011234") == (
        "3c241f7ff324977aeb91f173bb2a7b06569e6fd784d5573db34a636d8671108b"
    )


async def verify(client: WeChatClient, name: str, id_number: str, seq: str):
    openid = "demo-openid-citizen"
    verify_id, expires_in = await client.get_verify_id(
        openid=openid, name=name, id_number=id_number, out_seq_no=seq
    )
    assert verify_id and expires_in == 3600
    return await client.query_verify_info(
        openid=openid, verify_id=verify_id, name=name, id_number=id_number, out_seq_no=seq
    )


async def test_face_verification_passes_for_valid_id(
    client: WeChatClient, fake: FakeWeChat
) -> None:
    result = await verify(client, "张三", VALID_ID, "seq-pass-1")
    assert result.passed is True
    assert result.verify_ret == 10000
    sent = fake.calls_to(PATH_GET_VERIFY_ID)[0]
    assert sent["cert_info"] == {
        "cert_type": "IDENTITY_CARD",
        "cert_name": "张三",
        "cert_no": VALID_ID,
    }
    assert sent["out_seq_no"] == "seq-pass-1"
    assert fake.calls_to(PATH_QUERY_VERIFY_INFO)[0]["cert_hash"] == cert_hash(
        "IDENTITY_CARD", "张三", VALID_ID
    )


@pytest.mark.parametrize(
    ("name", "id_number", "verify_ret", "outcome"),
    [
        ("张三", INVALID_ID, 10003, FaceOutcome.ID_MISMATCH),
        ("失败测试", VALID_ID, 10004, FaceOutcome.FACE_MISMATCH),
    ],
)
async def test_face_verification_fails(
    client: WeChatClient, name: str, id_number: str, verify_ret: int, outcome: str
) -> None:
    result = await verify(client, name, id_number, f"seq-fail-{verify_ret}")
    assert result.passed is False
    assert result.verify_ret == verify_ret
    assert result.outcome == outcome


@pytest.mark.parametrize(
    ("verify_ret", "outcome"),
    [
        (90004, FaceOutcome.CANCELLED),
        (90008, FaceOutcome.PERMISSION),
        (90017, FaceOutcome.TIMEOUT),
        (90109, FaceOutcome.DEVICE),
        (90199, FaceOutcome.CLIENT_ERROR),
        (10001, FaceOutcome.REQUEST_INVALID),
    ],
)
async def test_face_results_from_the_phone_are_told_apart(
    client: WeChatClient, fake: FakeWeChat, verify_ret: int, outcome: str
) -> None:
    fake.set_face_result("demo-openid-citizen", verify_ret)
    result = await verify(client, "张三", VALID_ID, f"seq-phone-{verify_ret}")
    assert (result.passed, result.verify_ret, result.outcome) == (False, verify_ret, outcome)


async def test_query_with_other_identity_is_rejected(client: WeChatClient) -> None:
    verify_id, _ = await client.get_verify_id(
        openid="demo-openid-a", name="张三", id_number=VALID_ID, out_seq_no="seq-swap-1"
    )
    with pytest.raises(WeChatError) as exc_info:
        await client.query_verify_info(
            openid="demo-openid-a",
            verify_id=verify_id,
            name="李四",  # not the name the session was started with
            id_number=VALID_ID,
            out_seq_no="seq-swap-1",
        )
    assert exc_info.value.errcode == 47003


# -- content security -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "suggest"),
    [("申请信用修复，已整改", "pass"), ("这段内容待审", "review"), ("出售违禁物品", "risky")],
)
async def test_msg_sec_check(
    client: WeChatClient, fake: FakeWeChat, content: str, suggest: str
) -> None:
    assert await client.msg_sec_check(openid="demo-openid-x", content=content, scene=2) == suggest
    body = fake.calls_to(PATH_MSG_SEC_CHECK)[-1]
    assert body["version"] == 2 and body["scene"] == 2 and body["openid"] == "demo-openid-x"
    assert body["content"] == content


# -- subscribe messages ---------------------------------------------------------------------


async def test_subscribe_send_ok(client: WeChatClient, fake: FakeWeChat) -> None:
    fake.add_template(TEMPLATE)
    fake.user_subscribes("demo-openid-citizen", {TEMPLATE: "accept"})
    msgid = await client.send_subscribe_message(
        openid="demo-openid-citizen",
        template_id=TEMPLATE,
        data={
            "thing1": {"value": "信用修复申请已受理"},
            "date2": "2026年4月1日",
            "phrase3": "已通过",
        },
        page="pages/applications/detail?id=7",
    )
    [message] = fake.sent_messages
    assert message["touser"] == "demo-openid-citizen"
    assert message["template_id"] == TEMPLATE
    assert message["page"] == "pages/applications/detail?id=7"
    assert message["data"]["date2"] == {"value": "2026年4月1日"}
    body = fake.calls_to(PATH_SUBSCRIBE_SEND)[0]
    assert body["data"]["thing1"] == {"value": "信用修复申请已受理"}
    assert "miniprogram_state" not in body
    # WeChat then reports the delivery under the msgid it answered with
    [popup, sent] = fake.take_pushes()
    assert popup["Event"] == "subscribe_msg_popup_event"
    assert sent["Event"] == "subscribe_msg_sent_event"
    assert sent["List"][0]["MsgID"] == msgid and sent["List"][0]["ErrorCode"] == "0"


async def test_subscribe_send_refused_is_43101(client: WeChatClient, fake: FakeWeChat) -> None:
    fake.add_template(TEMPLATE)
    fake.user_subscribes("demo-openid-other", {TEMPLATE: "accept"})
    fake.refuse_subscriptions("demo-openid-other")
    for openid in ("demo-openid-refuse", "demo-openid-other", "demo-openid-never-asked"):
        with pytest.raises(WeChatError) as exc_info:
            await client.send_subscribe_message(
                openid=openid, template_id=TEMPLATE, data={"thing1": "你好"}
            )
        assert exc_info.value.errcode == 43101
    assert fake.sent_messages == []


async def test_subscribe_send_too_long_thing_is_47003(
    client: WeChatClient, fake: FakeWeChat
) -> None:
    fake.add_template(TEMPLATE)
    fake.user_subscribes("demo-openid-citizen", {TEMPLATE: "accept"})
    ok = "一" * 20
    with pytest.raises(WeChatError) as exc_info:
        await client.send_subscribe_message(
            openid="demo-openid-citizen", template_id=TEMPLATE, data={"thing1": ok + "一"}
        )
    assert exc_info.value.errcode == 47003
    await client.send_subscribe_message(
        openid="demo-openid-citizen", template_id=TEMPLATE, data={"thing1": ok}
    )
    assert len(fake.sent_messages) == 1  # the refused send did not use the acceptance


async def test_one_time_template_takes_one_send_per_acceptance(
    client: WeChatClient, fake: FakeWeChat
) -> None:
    fake.add_template(TEMPLATE)
    who = "demo-openid-counted"
    fake.user_subscribes(who, {TEMPLATE: "accept"})
    fake.user_subscribes(who, {TEMPLATE: "accept"})
    for _ in range(2):
        await client.send_subscribe_message(openid=who, template_id=TEMPLATE, data={"thing1": "a"})
    with pytest.raises(WeChatError) as exc_info:
        await client.send_subscribe_message(openid=who, template_id=TEMPLATE, data={"thing1": "a"})
    assert exc_info.value.errcode == 43101
    assert fake.credits(who, TEMPLATE) == 0


async def test_long_term_template_takes_sends_until_turned_off(
    client: WeChatClient, fake: FakeWeChat
) -> None:
    fake.add_template("tmpl-long", long_term=True)
    who = "demo-openid-long"
    fake.user_subscribes(who, {"tmpl-long": "accept"})
    for _ in range(3):
        await client.send_subscribe_message(
            openid=who, template_id="tmpl-long", data={"thing1": "a"}
        )
    fake.user_turns_off(who, "tmpl-long")
    with pytest.raises(WeChatError) as exc_info:
        await client.send_subscribe_message(
            openid=who, template_id="tmpl-long", data={"thing1": "a"}
        )
    assert exc_info.value.errcode == 43101
    assert fake.take_pushes()[-1]["Event"] == "subscribe_msg_change_event"


@pytest.mark.parametrize(
    ("template_id", "page", "data", "errcode"),
    [
        ("not-in-the-console", None, {"thing1": "a"}, 40037),
        (TEMPLATE, "pages/not/there?id=1", {"thing1": "a"}, 41030),
        (TEMPLATE, None, {"phrase1": "已经通过了审核"}, 47003),  # phrase: ≤ 5 汉字
        (TEMPLATE, None, {"phrase1": "ok"}, 47003),  # phrase: 汉字 only
        (TEMPLATE, None, {"time1": "明天"}, 47003),
        (TEMPLATE, None, {"character_string1": "中文"}, 47003),
        (TEMPLATE, None, {"name1": "一二三四五六七八九十一"}, 47003),  # name: ≤ 10 汉字
        (TEMPLATE, None, {"number1": "12a"}, 47003),
    ],
)
async def test_the_fake_refuses_what_wechat_refuses(
    client: WeChatClient, fake: FakeWeChat, template_id: str, page, data, errcode: int
) -> None:
    fake.add_template(TEMPLATE)
    fake.user_subscribes("demo-openid-strict", {TEMPLATE: "accept"})
    with pytest.raises(WeChatError) as exc_info:
        await client.send_subscribe_message(
            openid="demo-openid-strict", template_id=template_id, data=data, page=page
        )
    assert exc_info.value.errcode == errcode
    assert fake.credits("demo-openid-strict", TEMPLATE) == 1


# -- fake controls over HTTP ----------------------------------------------------------------


def _post(url: str, body: dict) -> dict:
    request = Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urlopen(request, timeout=5) as response:
        return json.loads(response.read())


async def test_http_controls(fake: FakeWeChat) -> None:
    base = fake.base_url
    assert (
        _post(f"{base}/_fake/fail", {"path": PATH_JSCODE2SESSION, "errcode": 40029})["errcode"] == 0
    )
    async with httpx.AsyncClient(base_url=base) as http:
        params = {"appid": fake.appid, "secret": fake.secret, "grant_type": "authorization_code"}
        failed = (
            await http.get(PATH_JSCODE2SESSION, params={**params, "js_code": "demo-a"})
        ).json()
        assert failed["errcode"] == 40029
        ok = (await http.get(PATH_JSCODE2SESSION, params={**params, "js_code": "demo-a"})).json()
        assert ok["openid"] == "demo-openid-a"
        calls = (await http.get("/_fake/calls")).json()["calls"]
        assert [c["path"] for c in calls] == [PATH_JSCODE2SESSION] * 2
        assert _post(f"{base}/_fake/reset", {})["errcode"] == 0
        assert (await http.get("/_fake/calls")).json()["calls"] == []
