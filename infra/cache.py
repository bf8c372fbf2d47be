"""Redis wiring: `redis.asyncio` on a real server, or on an in-process fakeredis for the embedded
default. One code path either way; every key goes through `Keys` so a prefix separates
deployments and test runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

# Seconds a connect or a command may take before it fails (REDIS_TIMEOUT_SECONDS): a frozen
# Redis then costs a request this long and a 503, never a hang.
DEFAULT_TIMEOUT = 0.5


def make_redis(url: str, *, timeout: float = DEFAULT_TIMEOUT) -> Redis:
    """A client whose every connection carries the timeouts (set once on the pool, so no call
    pays for them). A connection that broke while idle (Redis restarted) is reconnected and the
    command sent once more; a command that timed out is not retried (the server may still be
    frozen), and redis-py drops that connection, so no late reply is ever read as another's."""
    if url.startswith("fakeredis"):
        import fakeredis

        # One shared in-process server: every client made in this process sees the same data.
        return fakeredis.FakeAsyncRedis(server=_fake_server(), decode_responses=False)
    return Redis.from_url(
        url,
        decode_responses=False,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        health_check_interval=30,
    )


_FAKE_SERVER = None


def _fake_server() -> Any:
    global _FAKE_SERVER
    if _FAKE_SERVER is None:
        import fakeredis

        _FAKE_SERVER = fakeredis.FakeServer()
    return _FAKE_SERVER


def as_bytes(value: bytes | str) -> bytes:
    """A reply value as bytes: every client here is made with decode_responses=False, so Redis
    answers bytes, but redis-py's types allow str too."""
    return value if isinstance(value, bytes) else value.encode()


def as_text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class Keys:
    prefix: str

    def session(self, token_hash: str) -> str:
        return f"{self.prefix}sess:{token_hash}"

    def user_sessions(self, user_id: int) -> str:
        return f"{self.prefix}user-sess:{user_id}"

    def credit_view(self, subject_id: int | str) -> str:
        return f"{self.prefix}credit:view:{subject_id}"

    def public_view(self, subject_id: int) -> str:
        return f"{self.prefix}credit:public:{subject_id}"

    @property
    def public_lists_generation(self) -> str:
        """A counter every change of shown records bumps: the public lists' cached pages carry
        it in their key, so one INCR retires them all (invalidate_subjects)."""
        return f"{self.prefix}public:lists:gen"

    def public_list(self, generation: int, digest: str) -> str:
        """One cached page of a public list (红黑榜, 双公示, 政务诚信), by its filters' digest."""
        return f"{self.prefix}public:list:{generation}:{digest}"

    def merchant_views(self, subject_id: int) -> str:
        """A hash: merchant id -> its public plate view (JSON) and H5 page, per subject."""
        return f"{self.prefix}merchant:views:{subject_id}"

    def poster(self, merchant_id: int, fingerprint: str) -> str:
        return f"{self.prefix}merchant:poster:{merchant_id}:{fingerprint}"

    def report_reuse(self, fingerprint: str) -> str:
        """The number of the report issued for this content fingerprint (while it may be reused)."""
        return f"{self.prefix}report:fp:{fingerprint}"

    def report_view(self, report_no: str) -> str:
        """A hash: what verifying a credit report reads (scenarios/reports/service.py
        _VERIFY_SCRIPT), with its rendered API body and H5 page per status."""
        return f"{self.prefix}report:view:{report_no}"

    def rate(self, bucket: str, who: str) -> str:
        return f"{self.prefix}rl:{bucket}:{who}"

    def credit_code(self, nonce: str) -> str:
        """A credit code's issuance record (scenarios.incentives.redis_formats.CodeRecord)."""
        return f"{self.prefix}ccode:{nonce}"

    def staff_venues(self, user_id: int | str) -> str:
        """The venues a user staffs; `staff_venues("")` is the prefix a script appends to."""
        return f"{self.prefix}staff-venues:{user_id}"

    def incentive_used(self, subject_id: int, day: str) -> str:
        before, after = self.incentive_used_around(day)
        return f"{before}{subject_id}{after}"

    def incentive_used_around(self, day: str) -> tuple[str, str]:
        """incentive_used's key around the subject id, for a script that reads the subject."""
        return f"{self.prefix}incentive-used:", f":{day}"

    def identity_pending(self, verify_id: str) -> str:
        return f"{self.prefix}idv:{verify_id}"

    @property
    def wechat_access_token(self) -> str:
        """Shared by every worker of the deployment (WeChat allows one valid token per appid)."""
        return f"{self.prefix}wechat:access_token"

    @property
    def wechat_access_token_lock(self) -> str:
        return f"{self.prefix}wechat:access_token:lock"

    @property
    def wechat_access_token_failed(self) -> str:
        """Set for a moment after a refresh failed: its waiters give up together."""
        return f"{self.prefix}wechat:access_token:failed"

    @property
    def wechat_force_refresh_gate(self) -> str:
        """Set for the interval after a forced refresh: at most one per interval."""
        return f"{self.prefix}wechat:access_token:force_gate"

    def wechat_force_refresh_count(self, day: str) -> str:
        """Forced refreshes made on a (Shanghai) day, against the daily allowance."""
        return f"{self.prefix}wechat:access_token:forced:{day}"

    @property
    def audit_stream(self) -> str:
        return f"{self.prefix}audit:stream"

    @property
    def audit_lock(self) -> str:
        return f"{self.prefix}audit:lock"


async def invalidate_subjects(redis: Redis, keys: Keys, subject_ids: list[int] | set[int]) -> None:
    """Drop the cached credit views of these subjects; the next read recomputes them."""
    if not subject_ids:
        return
    names = [
        name
        for s in subject_ids
        for name in (keys.credit_view(s), keys.public_view(s), keys.merchant_views(s))
    ]
    for start in range(0, len(names), 500):
        await redis.delete(*names[start : start + 500])
    await invalidate_public_lists(redis, keys)


async def invalidate_public_lists(redis: Redis, keys: Keys) -> None:
    """Retire every cached page of the public lists (their keys name the old generation, and
    expire by themselves)."""
    await redis.incr(keys.public_lists_generation)
