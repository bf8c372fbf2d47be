"""信易游 / 信易租 (API.md "Incentives"): eligibility, the personal credit code, staff verification
and redemption, 信易租 applications.

The credit code check on the server is a Redis lookup, not a signature check: issuing a code
records its nonce (holder, masked name, level, reasons, SHA-256 of the token) in Redis for its
lifetime, and `POST /scan/verify` compares the scanned token's hash with the recorded one in
constant time. One Ed25519 verification costs ~200 µs here, enough alone to cap the endpoint
near the bench goal; a Redis read is a fraction of that. Only a token whose nonce is not recorded
(Redis lost it, e.g. restarted without AOF) or whose hash differs is checked with Ed25519 — then
the exact error (tampered, unknown key, expired) is also told apart. Staff devices without network
verify the signature (qr/offline_verifier.py).

Redemptions keep their limits with unique slot keys (see models.Redemption) and the total quota
with a conditional UPDATE, so racing redemptions leave exactly one winner on SQLite and
PostgreSQL alike; the idempotency key is unique too, so a retried request gets the same row.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from credit.acting import acting_subject, operated_subject_ids
from credit.calendar_dates import SHANGHAI, today
from credit.models import Subject, SubjectKind, SubjectOperator
from qr import credit_code
from qr.offline_verifier import CodeError, CreditCode, Expired, Revoked, parse
from scenarios.incentives.eligibility import Facts, evaluate, holder_facts
from scenarios.incentives.models import (
    HolderRef,
    PolicyCounter,
    Redemption,
    RedemptionSource,
    RedemptionStatus,
    StaffAssignment,
)
from scenarios.incentives.programmes import SCENARIOS, Policy, Programmes, default_programmes
from server.audit import AuditEvent
from server.audit import append as append_audit
from server.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized, path_id
from server.hotpath import script_for
from server.models import User
from server.pagination import cursor_id, page
from server.runtime import Runtime
from server.security import ratelimit
from server.security.crypto import mask_name
from server.security.sessions import Session, hash_token, refresh_user_sessions
from server.settings import RateLimit

log = logging.getLogger(__name__)

STAFF_ROLE = "venue_staff"
ADMIN_ROLE = "admin"
CODE_TTL_SECONDS = credit_code.MAX_TTL_SECONDS
CODE_RATE = RateLimit(limit=30, window=60)  # per user, unless [rate_limits] credit_code is set
STAFF_CACHE_SECONDS = 300
USED_CACHE_SECONDS = 2 * 86400
PAGE_SIZE = 20
QR_PATH = "/api/v1/me/credit-code/qr.png"
CHECK_PURPOSES = {"travel": "信易游优惠核验", "rental": "信易租优惠核验"}


# -- Redis keys (all under the deployment's prefix) ---------------------------------------------


def code_key(rt: Runtime, nonce: str) -> str:
    return f"{rt.keys.prefix}ccode:{nonce}"


def staff_key_prefix(rt: Runtime) -> str:
    return f"{rt.keys.prefix}staff-venues:"


def used_key_prefix(rt: Runtime) -> str:
    """+ "<subject id>:<day>" -> hash policy id -> redemptions that day (a cache for verify)."""
    return f"{rt.keys.prefix}incentive-used:"


def programmes() -> Programmes:
    return default_programmes()


def _policy(policy_id: str) -> Policy:
    policy = programmes().policies.get(policy_id) if isinstance(policy_id, str) else None
    if policy is None:
        raise NotFound("优惠政策不存在", code="POLICY_NOT_FOUND")
    return policy


# -- staff and venues ------------------------------------------------------------------------


async def staff_venue_ids(rt: Runtime, user_id: int) -> list[str]:
    """The venues a user staffs (cached in Redis, dropped when an assignment changes)."""
    key = staff_key_prefix(rt) + str(user_id)
    cached = await rt.redis.get(key)
    if cached is not None:
        return _split_venues(cached)
    return await _load_staff_venues(rt, user_id)


def _split_venues(raw: bytes) -> list[str]:
    known = programmes().venues
    return [v for v in raw.decode().split(",") if v in known]


async def _load_staff_venues(rt: Runtime, user_id: int) -> list[str]:
    rows = (
        await StaffAssignment.filter(user_id=user_id)
        .order_by("id")
        .values_list("venue_id", flat=True)
    )
    venues = [v for v in rows if v in programmes().venues]  # type: ignore[operator]
    await rt.redis.set(
        staff_key_prefix(rt) + str(user_id), ",".join(venues), ex=STAFF_CACHE_SECONDS
    )
    return venues  # type: ignore[return-value]


async def venues_of_user(user_id: int) -> list[dict[str, str]]:
    """For GET /api/v1/me: the venues the user staffs."""
    rows = (
        await StaffAssignment.filter(user_id=user_id)
        .order_by("id")
        .values_list("venue_id", flat=True)
    )
    known = programmes().venues
    return [known[v].brief() for v in rows if v in known]  # type: ignore[index,operator]


def _venue_or_404(venue_id: str) -> Any:
    venue = programmes().venue(venue_id)
    if venue is None:
        raise NotFound("场所不存在", code="VENUE_NOT_FOUND")
    return venue


async def require_venue_access(rt: Runtime, session: Session, venue_id: str) -> Any:
    """Staff of this venue, or an admin."""
    venue = _venue_or_404(venue_id)
    if session.has_role(ADMIN_ROLE):
        return venue
    if not session.has_role(STAFF_ROLE) or venue.id not in await staff_venue_ids(
        rt, session.user_id
    ):
        raise Forbidden("您不是该场所的工作人员", code="NOT_VENUE_STAFF")
    return venue


def list_venues() -> dict[str, Any]:
    return {"items": [v.as_dict() for v in programmes().venues.values()], "next": None}


async def assign_staff(rt: Runtime, venue_id: str, user_id: int, *, assign: bool) -> dict[str, Any]:
    """Admin: make a user staff of a venue (adds the venue_staff role) or remove them."""
    venue = _venue_or_404(venue_id)
    user = await User.get_or_none(id=user_id)
    if user is None:
        raise NotFound("用户不存在", code="USER_NOT_FOUND")
    if assign:
        try:
            await StaffAssignment.get_or_create(user_id=user.id, venue_id=venue.id)
        except IntegrityError:
            pass  # the same assignment made twice at once
        if STAFF_ROLE not in user.roles:
            user.roles = [*user.roles, STAFF_ROLE]
            await user.save(update_fields=["roles"])
    else:
        await StaffAssignment.filter(user_id=user.id, venue_id=venue.id).delete()
    await rt.redis.delete(staff_key_prefix(rt) + str(user.id))
    binding_subject = await _bound_subject_id(user.id)
    await refresh_user_sessions(rt.redis, rt.keys, user.id, list(user.roles), binding_subject)
    return {"venue": venue.brief(), "user_id": user.id, "venues": await venues_of_user(user.id)}


async def _bound_subject_id(user_id: int) -> int | None:
    from server.models import IdentityBinding

    binding = await IdentityBinding.get_or_none(user_id=user_id)
    return binding.subject_id if binding else None  # type: ignore[attr-defined]


# -- holders: the caller's own person or an organisation they operate ---------------------------


def display_name(subject: Subject) -> str:
    """Persons masked; organisations' names are public."""
    return mask_name(subject.name) if subject.kind == SubjectKind.PERSON else subject.name


def _subject_brief(subject: Subject) -> dict[str, Any]:
    brief: dict[str, Any] = {"kind": str(subject.kind), "name": display_name(subject)}
    if subject.kind != SubjectKind.PERSON:
        brief["uscc"] = subject.uscc
    return brief


async def incentives_for(session: Session) -> dict[str, Any]:
    """GET /incentives: for the caller's person and every organisation they operate, each
    policy of a kind they can hold, eligible or not, with the reason."""
    subjects: list[Subject] = []
    if session.subject_id is not None:
        subjects.append(await Subject.get(id=session.subject_id))
    operated = await operated_subject_ids(session)
    subjects += await Subject.filter(id__in=operated).order_by("id")
    on = today()
    items = []
    for subject in subjects:
        facts = await holder_facts(subject, on)
        policies = []
        for policy in programmes().policies.values():
            if facts.kind not in policy.subject_kinds:
                continue
            verdict = evaluate(policy, facts, on)
            venue = programmes().venues[policy.venue]
            policies.append(
                {
                    "policy_id": policy.id,
                    "scenario": policy.scenario,
                    "scenario_label": SCENARIOS[policy.scenario],
                    "venue": venue.brief() | {"kind": venue.kind},
                    "title": policy.title,
                    "benefit": policy.benefit,
                    "eligible": verdict.eligible,
                    "reason": verdict.reason,
                    "how": "申请" if policy.scenario == "rental" else "出示信用码",
                }
            )
        items.append(
            {
                "holder": _subject_brief(subject),
                "level": facts.level.as_dict(),
                "policies": policies,
            }
        )
    return {"items": items, "next": None}


# -- the personal credit code -----------------------------------------------------------------


async def holder_ref_of(subject_id: int) -> str:
    """The subject's active pseudonym, made on first use."""
    found = await HolderRef.get_or_none(active_key=f"s{subject_id}")
    if found is not None:
        return found.ref
    try:
        made = await HolderRef.create(
            subject_id=subject_id, ref=credit_code.new_reference(), active_key=f"s{subject_id}"
        )
    except IntegrityError:  # made by a concurrent request
        return (await HolderRef.get(active_key=f"s{subject_id}")).ref
    return made.ref


async def issue_code(rt: Runtime, session: Session, uscc: str | None) -> dict[str, Any]:
    rule = rt.settings.rate_limits.get("credit_code", CODE_RATE)
    await ratelimit.enforce(rt.redis, rt.keys, "credit_code", str(session.user_id), rule)
    subject = await acting_subject(session, uscc)
    ref = await holder_ref_of(subject.id)
    on = today()
    facts = await holder_facts(subject, on)
    verdicts = {p.id: evaluate(p, facts, on) for p in programmes().policies.values()}
    signer = credit_code.signer_for(rt.settings)
    issued = signer.issue(ref, [pid for pid, v in verdicts.items() if v.eligible], CODE_TTL_SECONDS)
    await _remember(rt, issued, subject, facts, verdicts)
    return {
        "token": issued.token,
        "expires_at": datetime.fromtimestamp(issued.exp, SHANGHAI).isoformat(),
        "ttl": CODE_TTL_SECONDS,
        "holder": _subject_brief(subject),
        "level": facts.level.as_dict(),
        "eligible": [pid for pid, v in verdicts.items() if v.eligible],
        # The PNG of this code (the caller's bearer token is still needed to fetch it).
        "qr_png": f"{rt.settings.public_base_url}{QR_PATH}?token={issued.token}",
    }


async def _remember(
    rt: Runtime,
    issued: credit_code.Issued,
    subject: Subject,
    facts: Facts,
    verdicts: dict[str, Any],
) -> None:
    """The issuance record the fast check reads, for the code's lifetime (+ clock leeway)."""
    reasons = {pid: v.reason for pid, v in verdicts.items() if not v.eligible}
    key = code_key(rt, issued.nonce)
    async with rt.redis.pipeline(transaction=False) as pipe:
        pipe.hset(
            key,
            mapping={
                "th": issued.token_hash,
                "s": str(subject.id),
                "nm": display_name(subject),
                "g": facts.grade,
                "gl": facts.level.label,
                "r": json.dumps(reasons, ensure_ascii=False),
                "x": str(issued.exp),
            },
        )
        pipe.expireat(key, issued.exp + programmes().offline.clock_leeway_seconds)
        await pipe.execute()


async def revoke_code(rt: Runtime, session: Session, uscc: str | None) -> dict[str, Any]:
    """The holder stops their current reference (lost phone, leaked screenshot): offline
    bundles list it as revoked; the next code carries a new one."""
    subject = await acting_subject(session, uscc)
    changed = await HolderRef.filter(active_key=f"s{subject.id}").update(
        active_key=None, revoked_at=datetime.now(UTC)
    )
    return {"revoked": changed > 0}


async def qr_png_for(rt: Runtime, session: Session, token: str) -> bytes:
    """The caller's own code as a PNG (the token must be theirs and still valid)."""
    import asyncio

    code = _parse(rt, token)
    record = await rt.redis.hmget(code_key(rt, code.nonce), ["th", "s"])
    subjects = {session.subject_id} | set(
        await SubjectOperator.filter(user_id=session.user_id).values_list("subject_id", flat=True)
    )
    if (
        record[0] is None
        or not hmac.compare_digest(record[0].decode(), credit_code.token_hash(token))
        or int(record[1]) not in subjects
    ):
        raise NotFound("信用码不存在或已过期", code="CODE_NOT_FOUND")
    return await asyncio.to_thread(credit_code.qr_png, token)


# -- checking a scanned code --------------------------------------------------------------------


def _parse(rt: Runtime, token: Any) -> CreditCode:
    """The code, its claims opened (a 4xx for a malformed, foreign-key or altered code)."""
    try:
        return credit_code.signer_for(rt.settings).open(parse(token))
    except CodeError as exc:
        raise _code_error(exc) from exc


def _code_error(exc: CodeError) -> Invalid:
    return Invalid(exc.message, code=exc.code, fields={"token": exc.message})


@dataclass(frozen=True)
class Holder:
    subject_id: int
    name: str
    grade: str
    grade_label: str
    reasons: dict[str, str]  # policy id -> why not eligible (when issued)


def _holder_from_record(record: list[Any]) -> Holder:
    return Holder(
        subject_id=int(record[1]),
        name=record[2].decode(),
        grade=record[3].decode(),
        grade_label=record[4].decode() if record[4] else "",
        reasons=_reasons(record[5]) if record[5] else {},
    )


_REASONS: dict[bytes, dict[str, str]] = {}


def _reasons(raw: bytes) -> dict[str, str]:
    """The issuance record's reasons, decoded once per distinct value: holders share a few
    combinations. Callers only read the dict."""
    reasons = _REASONS.get(raw)
    if reasons is None:
        reasons = json.loads(raw)
        if len(_REASONS) >= 1024:
            _REASONS.clear()
        _REASONS[raw] = reasons
    return reasons


async def _holder_by_signature(rt: Runtime, code: CreditCode, now: float) -> Holder:
    """No usable issuance record: check the signature (and tell the exact error apart), then
    find the holder by reference and recompute the reasons."""
    try:
        credit_code.signer_for(rt.settings).check(code)
        if now > code.exp:
            raise Expired
    except CodeError as exc:
        raise _code_error(exc) from exc
    ref = await HolderRef.get_or_none(ref=code.holder).prefetch_related("subject")
    if ref is None:
        raise _code_error(CodeError())
    if ref.revoked_at is not None:
        raise _code_error(Revoked())
    subject = ref.subject
    on = today()
    facts = await holder_facts(subject, on)
    reasons = {
        p.id: v.reason
        for p in programmes().policies.values()
        if not (v := evaluate(p, facts, on)).eligible
    }
    return Holder(subject.id, display_name(subject), facts.grade, facts.level.label, reasons)


async def check_code(rt: Runtime, token: str, code: CreditCode) -> Holder:
    """The holder behind a valid, unexpired code (redeem's check; verify has a faster one)."""
    record = await rt.redis.hmget(code_key(rt, code.nonce), ["th", "s", "nm", "g", "gl", "r"])
    return await _resolve(rt, token, code, record, time.time())


async def _resolve(
    rt: Runtime,
    token: str,
    code: CreditCode,
    record: list[Any],
    now: float,
    digest: str | None = None,
) -> Holder:
    """`digest`: the token's hash when the caller has it already."""
    if record[0] is not None and hmac.compare_digest(
        record[0], (digest or credit_code.token_hash(token)).encode()
    ):
        if now > code.exp:
            raise _code_error(Expired())
        return _holder_from_record(record)
    return await _holder_by_signature(rt, code, now)


# One round trip for the scan: the staff member's session and cached venues, the code's
# issuance record and what the holder already redeemed today. When the caller's venue is known
# beforehand (asked for, or this worker saw the user's only venue before) and everything checks
# out, the script also appends the audit entry (user and subject ids spliced in, as in
# server/hotpath.py); otherwise Python appends it after its own checks (a second round trip).
_VERIFY_SCRIPT = """
local s = redis.call('HMGET', KEYS[1], 'uid', 'roles')
if not s[1] then return {0} end
local v = redis.call('GET', KEYS[3] .. s[1])
local c = redis.call('HMGET', KEYS[2], 'th', 's', 'nm', 'g', 'gl', 'r', 'x')
local used = {}
if c[2] then used = redis.call('HGETALL', KEYS[4] .. c[2] .. ':' .. ARGV[1]) end
local audited = 0
if ARGV[4] ~= '' and v and c[1] == ARGV[2] and tonumber(c[7] or '0') >= tonumber(ARGV[3])
    and string.find(',' .. (s[2] or '') .. ',', ',venue_staff,', 1, true)
    and (v == ARGV[4] or (ARGV[5] == '1' and string.find(',' .. v .. ',', ',' .. ARGV[4] .. ',',
                                                         1, true))) then
  redis.call('XADD', KEYS[5], '*', 'e', ARGV[6] .. s[1] .. ARGV[7] .. c[2] .. ARGV[8])
  audited = 1
end
return {1, s[1], s[2] or '', v or false, used, c[1] or false, c[2] or false, c[3] or false,
        c[4] or false, c[5] or false, c[6] or false, audited}
"""
_APPEND_SCRIPT = "return redis.call('XADD', KEYS[1], '*', 'e', ARGV[1])"
_ONLY_VENUE: dict[int, str] = {}  # user id -> their only venue, as this worker last saw it


def _scan_scripts(rt: Runtime) -> tuple[Any, Any]:
    """(verify, audit append) over the hot path's pipelined connection on a plain TCP Redis."""
    return script_for(rt.redis, _VERIFY_SCRIPT), script_for(rt.redis, _APPEND_SCRIPT)


async def verify_scan(
    rt: Runtime, bearer: str, token: Any, venue_id: str | None, channel: str
) -> bytes:
    """POST /scan/verify: the masked name, the level and what the holder may get here (the
    JSON answer)."""
    code = _parse(rt, token)
    day = today()
    now = int(time.time())
    token_digest = credit_code.token_hash(token)
    session_key = rt.keys.session(hash_token(bearer))
    known = programmes().venues
    guess = venue_id if venue_id in known else None
    explicit = guess is not None
    if guess is None:
        guess = _ONLY_VENUE.get(_user_hint(session_key))
    head = middle = tail = ""
    if guess is not None:
        head, middle, tail = _audit_pieces(known[guess], channel, code.nonce)
    read, append = _scan_scripts(rt)
    result = await read(
        keys=[
            session_key,
            code_key(rt, code.nonce),
            staff_key_prefix(rt),
            used_key_prefix(rt),
            rt.keys.audit_stream,
        ],
        args=[day.isoformat(), token_digest, now, guess or "", "1" if explicit else "0",
              head, middle, tail],
    )  # fmt: skip
    if int(result[0]) == 0:
        raise Unauthorized("登录已失效，请重新登录", code="TOKEN_INVALID")
    user_id = int(result[1])
    if STAFF_ROLE not in result[2].decode().split(","):
        raise Forbidden("当前账号无权进行此操作", code="ROLE_REQUIRED")
    venues = (
        _split_venues(result[3]) if result[3] is not None else await _load_staff_venues(rt, user_id)
    )
    venue = _pick_venue(venues, venue_id)
    holder = await _resolve(rt, token, code, list(result[5:11]), now, token_digest)
    if not int(result[11]):
        head, middle, tail = _audit_pieces(venue, channel, code.nonce)
        payload = head + str(user_id) + middle + str(holder.subject_id) + tail
        await append(keys=[rt.keys.audit_stream], args=[payload])  # what audit.append() sends
    if venue_id is None and len(venues) == 1:
        _remember_only_venue(session_key, user_id, venue.id)
    raw_used = result[4] or []
    used = {raw_used[i].decode(): int(raw_used[i + 1]) for i in range(0, len(raw_used), 2)}
    view = _venue_view(venue)
    eligible, ineligible = [], []
    for policy in view.policies:
        reason = _why_not(policy, code, holder, used.get(policy.id, 0), day)
        if reason is None:
            eligible.append(view.eligible[policy.id])
        else:
            ineligible.append(view.ineligible(policy, reason))
    return "".join(
        (
            '{"holder":{"name_masked":', _json_str(holder.name),
            ',"level":', _json_str(holder.grade),
            ',"level_label":', _json_str(holder.grade_label),
            '},"venue":', view.venue,
            ',"eligible":[', ",".join(eligible),
            '],"ineligible":[', ",".join(ineligible),
            '],"expires_at":', _expires_json(code.exp), "}",
        )
    ).encode()  # fmt: skip


# The verify answer is json_body()'s JSON (ensure_ascii=False, no spaces), assembled from parts
# rendered once per venue and policy: building and encoding the dicts per request was about a
# fifth of the handler. Only the holder's fields, the reasons and the expiry vary.
_json_str = json.encoder.encode_basestring  # json.dumps(str, ensure_ascii=False), in C


class _VenueView:
    """A venue's policies and their rendered answer parts, for one loaded programmes()."""

    def __init__(self, programmes_: Programmes, venue: Any) -> None:
        self.programmes = programmes_
        self.policies = programmes_.policies_of([venue.id])
        self.venue = _compact(venue.brief())
        self.eligible = {
            p.id: _compact({"policy_id": p.id, "title": p.title, "benefit": p.benefit})
            for p in self.policies
        }
        self._ineligible: dict[tuple[str, str], str] = {}

    def ineligible(self, policy: Policy, reason: str) -> str:
        part = self._ineligible.get((policy.id, reason))
        if part is None:
            part = _compact({"policy_id": policy.id, "title": policy.title, "reason": reason})
            if len(self._ineligible) < 1024:  # reasons come from a small fixed set
                self._ineligible[(policy.id, reason)] = part
        return part


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_VENUE_VIEWS: dict[str, _VenueView] = {}
_EXPIRES: dict[int, str] = {}


def _venue_view(venue: Any) -> _VenueView:
    current = programmes()
    view = _VENUE_VIEWS.get(venue.id)
    if view is None or view.programmes is not current:
        view = _VenueView(current, venue)
        if len(_VENUE_VIEWS) >= 256:
            _VENUE_VIEWS.clear()
        _VENUE_VIEWS[venue.id] = view
    return view


def _expires_json(exp: int) -> str:
    """The code's expiry in Shanghai time, as JSON; codes issued in the same second share it."""
    text = _EXPIRES.get(exp)
    if text is None:
        if len(_EXPIRES) >= 4096:
            _EXPIRES.clear()
        text = _EXPIRES[exp] = _json_str(datetime.fromtimestamp(exp, SHANGHAI).isoformat())
    return text


# Per worker: session key -> user id seen before, so the next scan can name the venue up front.
_SESSION_USERS: dict[str, int] = {}
_HINTS_MAX = 50_000


def _user_hint(session_key: str) -> int:
    return _SESSION_USERS.get(session_key, 0)


def _remember_only_venue(session_key: str, user_id: int, venue: str) -> None:
    if len(_SESSION_USERS) >= _HINTS_MAX or len(_ONLY_VENUE) >= _HINTS_MAX:
        _SESSION_USERS.clear()  # a hint only saves a round trip: forgetting is safe
        _ONLY_VENUE.clear()
    _SESSION_USERS[session_key] = user_id
    _ONLY_VENUE[user_id] = venue


# The staff check's audit entry is AuditEvent.payload() of the event below; rendering it through
# the dataclass per request (asdict, deepcopy) was a third of the handler, so it is rendered once
# per venue and channel with markers, and split around the user and subject ids.
_AT_MARK = "1999-09-09T09:09:09.999999+00:00"
_USER_MARK, _SUBJECT_MARK, _NONCE_MARK = "-911911911", "-922922922", "NONCE-MARK-0x7f3"
_TEMPLATES: dict[tuple[str, str], tuple[str, str, str]] = {}


def _audit_pieces(venue: Any, channel: str, nonce: str) -> tuple[str, str, str]:
    """(head, middle, tail): payload = head + user id + middle + subject id + tail."""
    pieces = _TEMPLATES.get((venue.id, channel))
    if pieces is None:
        event = AuditEvent(
            action="credit.read", actor_kind="staff", actor_role=STAFF_ROLE,
            purpose=CHECK_PURPOSES[venue.scenario], channel=channel,
            actor_user_id=int(_USER_MARK), actor_org=venue.name, subject_id=int(_SUBJECT_MARK),
            detail={"venue_id": venue.id, "nonce": _NONCE_MARK},
        )  # fmt: skip
        payload = event.payload(at=datetime.fromisoformat(_AT_MARK))
        head, _, rest = payload.partition(_USER_MARK)
        middle, _, tail = rest.partition(_SUBJECT_MARK)
        pieces = (head, middle, tail)
        if len(_TEMPLATES) < 256:  # venues x channels: small and fixed
            _TEMPLATES[(venue.id, channel)] = pieces
    head, middle, tail = pieces
    return (
        head.replace(_AT_MARK, datetime.now(UTC).isoformat(), 1),
        middle,
        tail.replace(_NONCE_MARK, nonce, 1),
    )


def _pick_venue(venues: list[str], venue_id: str | None) -> Any:
    if not venues:
        raise Forbidden("您尚未被分配到任何场所", code="NOT_VENUE_STAFF")
    if venue_id is None:
        if len(venues) > 1:
            raise Invalid("请选择核验的场所", fields={"venue_id": "您在多个场所工作，须指明"})
        venue_id = venues[0]
    if venue_id not in venues:
        raise Forbidden("您不是该场所的工作人员", code="NOT_VENUE_STAFF")
    return programmes().venues[venue_id]


def _why_not(policy: Policy, code: CreditCode, holder: Holder, used: int, day: date) -> str | None:
    if not policy.active_on(day):
        return "优惠不在有效期内"
    if policy.id not in code.policies:
        return holder.reasons.get(policy.id, "不符合该优惠的条件")
    if policy.per_day and used >= policy.per_day:
        return "今日已享受过该优惠"
    return None


# -- redeeming ----------------------------------------------------------------------------------


class Replayed(Exception):
    def __init__(self, redemption: Redemption) -> None:
        self.redemption = redemption


async def redeem_scan(
    rt: Runtime,
    session: Session,
    *,
    token: str,
    policy_id: str,
    idempotency_key: str,
    channel: str,
) -> tuple[dict[str, Any], bool]:
    """(redemption, created). The same idempotency key again returns the same redemption."""
    policy = _policy(policy_id)
    await _require_policy_staff(rt, session, policy)
    idem = f"{policy.venue}:{idempotency_key}"
    code = _parse(rt, token)
    existing = await Redemption.get_or_none(idem_key=idem)
    if existing is not None:
        return replay_of(existing, policy, code), False
    holder = await check_code(rt, token, code)
    at = datetime.now(UTC)
    day = at.astimezone(SHANGHAI).date()
    if not policy.active_on(day):
        raise Conflict("该优惠不在有效期内", code="POLICY_NOT_ACTIVE")
    if policy.id not in code.policies:
        raise Conflict(holder.reasons.get(policy.id, "不符合该优惠的条件"), code="NOT_ELIGIBLE")
    values = {
        "policy_id": policy.id, "venue_id": policy.venue, "scenario": policy.scenario,
        "holder_id": holder.subject_id, "holder_ref": code.holder, "grade": holder.grade,
        "status": RedemptionStatus.REDEEMED, "source": RedemptionSource.SCAN,
        "token_nonce": code.nonce, "staff_user_id": session.user_id, "day": day,
        "redeemed_at": at, "idem_key": idem,
    }  # fmt: skip
    try:
        redemption = await claim(
            policy, holder.subject_id, code.nonce, day, creator(values), idem_key=idem
        )
    except Replayed as replay:
        return replay_of(replay.redemption, policy, code), False
    await after_redeem(rt, redemption, session.user_id, channel)
    return redemption_json(redemption), True


def replay_of(existing: Redemption, policy: Policy, code: CreditCode) -> dict[str, Any]:
    if existing.policy_id != policy.id or existing.token_nonce != code.nonce:
        raise Conflict("该幂等键已用于另一次核销", code="IDEMPOTENCY_KEY_REUSED")
    return redemption_json(existing) | {"replayed": True}


async def _require_policy_staff(rt: Runtime, session: Session, policy: Policy) -> None:
    if policy.venue not in await staff_venue_ids(rt, session.user_id):
        raise Forbidden("该优惠不属于您所在的场所", code="NOT_VENUE_STAFF")


def creator(values: dict[str, Any]) -> Callable[[str | None, str | None], Awaitable[Redemption]]:
    async def create(day_slot: str | None, visit_slot: str | None) -> Redemption:
        return await Redemption.create(day_slot=day_slot, visit_slot=visit_slot, **values)

    return create


async def claim(
    policy: Policy,
    holder_id: int,
    visit: str,
    day: date,
    write: Callable[[str | None, str | None], Awaitable[Redemption]],
    idem_key: str | None = None,
) -> Redemption:
    """Take the next free per-day and per-visit slot and count the quota, in one transaction.
    A unique slot key lost to a racing redemption means: count again and retry, until the limit
    says no. Raises Conflict (limit or quota) or Replayed (the idempotency key won elsewhere)."""
    if policy.quota:
        await PolicyCounter.get_or_create(policy_id=policy.id)  # before the transaction
    for _ in range(policy.per_day + policy.per_visit + 3):
        redeemed = Redemption.filter(policy_id=policy.id, status=RedemptionStatus.REDEEMED)
        day_used = await redeemed.filter(holder_id=holder_id, day=day).count()
        visit_used = await redeemed.filter(token_nonce=visit).count() if policy.per_visit else 0
        day_full = policy.per_day and day_used >= policy.per_day
        if day_full or (policy.per_visit and visit_used >= policy.per_visit):
            await _raise_if_replayed(idem_key)  # a racing retry of this very request won
            if day_full:
                raise Conflict("该持码人今日已享受过此优惠", code="ALREADY_REDEEMED")
            raise Conflict("该信用码已核销过此优惠", code="ALREADY_REDEEMED")
        day_slot = f"{policy.id}|{holder_id}|{day}|{day_used + 1}" if policy.per_day else None
        visit_slot = f"{policy.id}|{visit}|{visit_used + 1}" if policy.per_visit else None
        try:
            async with in_transaction():
                redemption = await write(day_slot, visit_slot)
                if policy.quota:
                    counted = await PolicyCounter.filter(
                        policy_id=policy.id, used__lt=policy.quota
                    ).update(used=F("used") + 1)
                    if counted != 1:
                        raise Conflict("该优惠名额已用完", code="QUOTA_EXHAUSTED")
            return redemption
        except IntegrityError:
            await _raise_if_replayed(idem_key)
            continue
    raise Conflict("该持码人已享受过此优惠", code="ALREADY_REDEEMED")


async def _raise_if_replayed(idem_key: str | None) -> None:
    if idem_key is not None:
        existing = await Redemption.get_or_none(idem_key=idem_key)
        if existing is not None:
            raise Replayed(existing)


async def after_redeem(rt: Runtime, redemption: Redemption, staff_id: int, channel: str) -> None:
    """After the commit: the verify cache of today's use, and the audit entry."""
    if redemption.day is not None:
        key = f"{used_key_prefix(rt)}{redemption.holder_id}:{redemption.day.isoformat()}"  # type: ignore[attr-defined]
        async with rt.redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(key, redemption.policy_id, 1)
            pipe.expire(key, USED_CACHE_SECONDS)
            await pipe.execute()
    venue = programmes().venues.get(redemption.venue_id)
    await append_audit(
        rt.redis,
        rt.keys,
        AuditEvent(
            action="incentive.redeem", actor_kind="staff", actor_role=STAFF_ROLE,
            purpose=f"{SCENARIOS.get(redemption.scenario, '')}优惠核销", channel=channel,
            actor_user_id=staff_id, actor_org=venue.name if venue else None,
            subject_id=redemption.holder_id,  # type: ignore[attr-defined]
            detail={"redemption_id": redemption.id, "policy_id": redemption.policy_id},
        ),
    )  # fmt: skip


def redemption_json(redemption: Redemption) -> dict[str, Any]:
    policy = programmes().policies.get(redemption.policy_id)
    venue = programmes().venues.get(redemption.venue_id)
    return {
        "id": redemption.id,
        "policy_id": redemption.policy_id,
        "title": policy.title if policy else redemption.policy_id,
        "benefit": policy.benefit if policy else None,
        "venue": venue.brief() if venue else {"id": redemption.venue_id, "name": ""},
        "scenario": redemption.scenario,
        "status": str(redemption.status),
        "source": str(redemption.source),
        "day": redemption.day.isoformat() if redemption.day else None,
        "redeemed_at": _iso(redemption.redeemed_at),
        "created_at": _iso(redemption.created_at),
        "flag": redemption.flag,
    }


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(SHANGHAI).isoformat(timespec="seconds") if value else None


async def my_redemptions(session: Session, cursor: str | None) -> dict[str, Any]:
    """What the caller (and organisations they operate) received or applied for."""
    subjects = {session.subject_id} if session.subject_id else set()
    subjects |= set(
        await SubjectOperator.filter(user_id=session.user_id).values_list("subject_id", flat=True)
    )
    query = Redemption.filter(holder_id__in=list(subjects))
    after = cursor_id(cursor)
    if after is not None:
        query = query.filter(id__lt=after)
    rows = await query.order_by("-id").limit(PAGE_SIZE + 1)
    return page(rows, PAGE_SIZE, redemption_json)


# -- 信易租: applications confirmed or declined by the provider -------------------------------


async def apply_rental(
    rt: Runtime, session: Session, *, policy_id: str, uscc: str | None, note: str | None
) -> dict[str, Any]:
    policy = _policy(policy_id)
    if policy.scenario != "rental":
        raise Conflict("该优惠须到场出示信用码核验，无需申请", code="NOT_A_RENTAL_POLICY")
    subject = await acting_subject(session, uscc)
    on = today()
    facts = await holder_facts(subject, on)
    verdict = evaluate(policy, facts, on)
    if not verdict.eligible:
        raise Conflict(verdict.reason, code="NOT_ELIGIBLE")
    try:
        application = await Redemption.create(
            policy_id=policy.id, venue_id=policy.venue, scenario=policy.scenario,
            holder_id=subject.id, grade=facts.grade, status=RedemptionStatus.PENDING,
            source=RedemptionSource.RENTAL, applicant_user_id=session.user_id,
            open_key=f"{policy.id}|{subject.id}", note=note,
        )  # fmt: skip
    except IntegrityError as exc:
        raise Conflict("已有待处理的申请，请勿重复提交", code="APPLICATION_EXISTS") from exc
    return redemption_json(application) | {"reason": verdict.reason}


async def venue_rentals(
    rt: Runtime, session: Session, venue_id: str, status: str | None, cursor: str | None
) -> dict[str, Any]:
    venue = await require_venue_access(rt, session, venue_id)
    query = Redemption.filter(venue_id=venue.id, source=RedemptionSource.RENTAL)
    if status:
        if status not in {s.value for s in RedemptionStatus}:
            raise Invalid("状态无效", fields={"status": "可选：pending、redeemed、declined"})
        query = query.filter(status=status)
    after = cursor_id(cursor)
    if after is not None:
        query = query.filter(id__lt=after)
    rows = await query.order_by("-id").limit(PAGE_SIZE + 1).prefetch_related("holder")

    def shape(row: Redemption) -> dict[str, Any]:
        return redemption_json(row) | {
            "holder": _subject_brief(row.holder),
            "grade_at_application": row.grade,
            "note": row.note,
        }

    return page(rows, PAGE_SIZE, shape)


async def decide_rental(
    rt: Runtime,
    session: Session,
    application_id: str,
    *,
    decision: str,
    note: str | None,
    channel: str,
) -> dict[str, Any]:
    application = await Redemption.get_or_none(
        id=path_id(application_id, "申请不存在", "APPLICATION_NOT_FOUND"),
        source=RedemptionSource.RENTAL,
    )
    if application is None:
        raise NotFound("申请不存在", code="APPLICATION_NOT_FOUND")
    policy = _policy(application.policy_id)
    await _require_policy_staff(rt, session, policy)
    now = datetime.now(UTC)
    if decision == "decline":
        changed = await Redemption.filter(
            id=application.id, status=RedemptionStatus.PENDING
        ).update(
            status=RedemptionStatus.DECLINED, open_key=None, staff_user_id=session.user_id,
            decision_note=note, updated_at=now,
        )  # fmt: skip
        if changed != 1:
            raise Conflict("该申请已处理", code="ALREADY_DECIDED")
        return redemption_json(await Redemption.get(id=application.id))
    day = now.astimezone(SHANGHAI).date()
    if not policy.active_on(day):
        raise Conflict("该优惠不在有效期内", code="POLICY_NOT_ACTIVE")

    async def confirm(day_slot: str | None, visit_slot: str | None) -> Redemption:
        changed = await Redemption.filter(
            id=application.id, status=RedemptionStatus.PENDING
        ).update(
            status=RedemptionStatus.REDEEMED, open_key=None, staff_user_id=session.user_id,
            day=day, redeemed_at=now, day_slot=day_slot, visit_slot=visit_slot,
            decision_note=note, updated_at=now,
        )  # fmt: skip
        if changed != 1:
            raise Conflict("该申请已处理", code="ALREADY_DECIDED")
        return await Redemption.get(id=application.id)

    redemption = await claim(
        policy,
        application.holder_id,
        f"rental-{application.id}",
        day,
        confirm,  # type: ignore[attr-defined]
    )
    await after_redeem(rt, redemption, session.user_id, channel)
    return redemption_json(redemption)
