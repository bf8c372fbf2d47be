"""`GET /api/v1/me/credit`: the caller's own credit view, the busiest authenticated read.

One server-side script resolves the session, counts the rate limit, appends the audit entry of
the read to the stream and returns the cached view, so a warm read is a single Redis round trip
and no database query. On a miss the view is built from the database and cached
(`credit.lookup.cached_view_bytes`). The session fields and key prefixes the script reads come
from their owners (`SessionHash`, `Keys`), the audit entry from an `AuditTemplate`.
"""

from __future__ import annotations

from functools import lru_cache
from string import Template

from credit import lookup
from infra.audit import AuditEvent, AuditTemplate
from infra.errors import Conflict, RateLimited, Unauthorized
from infra.redis_scripts import script_for
from infra.runtime import Runtime
from infra.security.sessions import SessionHash, hash_token

RATE_BUCKET = "credit_lookup"

# Replies: {0} no session; {2, ttl} over the limit; {3} no identity bound (nothing read, nothing
# audited); {1, subject id, view or false}. The audit entry is spliced from the caller's pieces
# around the user and subject ids, which only the script knows.
_SCRIPT = Template("""
local s = redis.call('HMGET', KEYS[1], '$uid', '$subject')
if not s[1] then return {0} end
local rl = KEYS[3] .. s[1]
local n = redis.call('INCR', rl)
if n == 1 then redis.call('EXPIRE', rl, ARGV[2]) end
if n > tonumber(ARGV[1]) then return {2, redis.call('TTL', rl)} end
if not s[2] or s[2] == '' then return {3} end
local view = redis.call('GET', KEYS[4] .. s[2])
redis.call('XADD', KEYS[2], '*', 'e', ARGV[3] .. s[1] .. ARGV[4] .. s[2] .. ARGV[5])
return {1, s[2], view or false}
""").substitute(uid=SessionHash.UID, subject=SessionHash.SUBJECT)

_USER_MARK, _SUBJECT_MARK = "-911911911", "-922922922"


@lru_cache(maxsize=16)  # channels are a small fixed set
def _audit_template(channel: str) -> AuditTemplate:
    return AuditTemplate(
        AuditEvent(
            action="credit.read", actor_kind="self", actor_role="citizen", purpose="本人查询",
            channel=channel, actor_user_id=int(_USER_MARK), subject_id=int(_SUBJECT_MARK),
        ),
        (_USER_MARK, _SUBJECT_MARK),
    )  # fmt: skip


async def read_own_credit(rt: Runtime, bearer: str, *, channel: str) -> bytes:
    """The caller's view as JSON. 401 for a dead token, 429 past the limit, 409 when no
    identity is bound."""
    head, middle, tail = _audit_template(channel).render_open(None, None)
    rule = rt.settings.rate_limits[RATE_BUCKET]  # read per request: it may change
    result = await script_for(rt.redis, _SCRIPT)(
        keys=[
            rt.keys.session(hash_token(bearer)),
            rt.keys.audit_stream,
            rt.keys.rate(RATE_BUCKET, ""),
            rt.keys.credit_view(""),
        ],
        args=[rule.limit, rule.window, head, middle, tail],
    )
    status = int(result[0])
    if status == 0:
        raise Unauthorized("登录已失效，请重新登录", code="TOKEN_INVALID")
    if status == 2:
        raise RateLimited(int(result[1]))
    if status == 3:
        raise Conflict("请先完成实名核验，再查询本人信用", code="IDENTITY_NOT_BOUND")
    if result[2]:
        return bytes(result[2])
    return await lookup.cached_view_bytes(
        rt.redis, rt.keys, rt.cipher, int(result[1]), "self", known_missing=True
    )
