"""Console sessions beside mini-program sessions: a short-lived console login never shortens
the user's session set (logout everywhere and role refreshes still find the long login)."""

from __future__ import annotations

import uuid

from infra.models import User
from infra.security.console import start_console_session
from infra.security.sessions import create_session


async def test_a_console_session_never_shortens_the_users_session_set(runtime):
    rt = runtime
    user_id = (await User.create(openid=f"openid-{uuid.uuid4().hex}", roles=["reviewer"])).id
    await create_session(
        rt.redis, rt.keys, user_id=user_id, roles=["reviewer"], subject_id=None, ttl_seconds=86400
    )
    await start_console_session(
        rt.redis, rt.keys, user_id=user_id, roles=["reviewer"], subject_id=None, idle_seconds=60
    )
    assert await rt.redis.ttl(rt.keys.user_sessions(user_id)) > 80000
    assert await rt.redis.scard(rt.keys.user_sessions(user_id)) == 2
