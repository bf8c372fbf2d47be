"""Venue staff: who works at which venue (assigned by an admin), cached in Redis for the scan.

The cached list's encoding is `encode_venues` in scenarios/incentives/redis_formats.py, which
the verify script reads too."""

from __future__ import annotations

from typing import Any

from tortoise.exceptions import IntegrityError

from credit.models import IdentityBinding
from infra.cache import as_bytes
from infra.errors import Forbidden, NotFound
from infra.models import User
from infra.runtime import Runtime
from infra.security.sessions import Session, refresh_user_sessions
from scenarios.incentives.models import StaffAssignment
from scenarios.incentives.programmes import Policy, Venue, default_programmes, venue_or_404
from scenarios.incentives.redis_formats import decode_venues, encode_venues

STAFF_ROLE = "venue_staff"
ADMIN_ROLE = "admin"
STAFF_CACHE_SECONDS = 300


async def staff_venue_ids(rt: Runtime, user_id: int) -> list[str]:
    """The venues a user staffs (cached in Redis, dropped when an assignment changes)."""
    cached = await rt.redis.get(rt.keys.staff_venues(user_id))
    if cached is not None:
        return decode_venues(as_bytes(cached), default_programmes().venues)
    return await load_staff_venues(rt, user_id)


async def load_staff_venues(rt: Runtime, user_id: int) -> list[str]:
    """From the database, cached again for the next scan."""
    venues = await _assigned_venue_ids(user_id)
    await rt.redis.set(rt.keys.staff_venues(user_id), encode_venues(venues), ex=STAFF_CACHE_SECONDS)
    return venues


async def _assigned_venue_ids(user_id: int) -> list[str]:
    rows = (
        await StaffAssignment.filter(user_id=user_id)
        .order_by("id")
        .values_list("venue_id", flat=True)
    )
    known = default_programmes().venues
    return [venue for venue in map(str, rows) if venue in known]


async def venues_of_user(user_id: int) -> list[dict[str, str]]:
    """For GET /api/v1/me: the venues the user staffs."""
    known = default_programmes().venues
    return [known[v].brief() for v in await _assigned_venue_ids(user_id)]


async def require_venue_access(rt: Runtime, session: Session, venue_id: str) -> Venue:
    """Staff of this venue, or an admin."""
    venue = venue_or_404(venue_id)
    if session.has_role(ADMIN_ROLE):
        return venue
    if not session.has_role(STAFF_ROLE) or venue.id not in await staff_venue_ids(
        rt, session.user_id
    ):
        raise Forbidden("您不是该场所的工作人员", code="NOT_VENUE_STAFF")
    return venue


async def require_policy_staff(rt: Runtime, session: Session, policy: Policy) -> None:
    if policy.venue not in await staff_venue_ids(rt, session.user_id):
        raise Forbidden("该优惠不属于您所在的场所", code="NOT_VENUE_STAFF")


def list_venues() -> dict[str, Any]:
    return {"items": [v.as_dict() for v in default_programmes().venues.values()], "next": None}


async def assign_staff(rt: Runtime, venue_id: str, user_id: int, *, assign: bool) -> dict[str, Any]:
    """Admin: make a user staff of a venue (adds the venue_staff role) or remove them."""
    venue = venue_or_404(venue_id)
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
    await rt.redis.delete(rt.keys.staff_venues(user.id))
    binding = await IdentityBinding.get_or_none(user_id=user.id)
    subject_id = binding.subject_id if binding else None
    await refresh_user_sessions(rt.redis, rt.keys, user.id, list(user.roles), subject_id)
    return {"venue": venue.brief(), "user_id": user.id, "venues": await venues_of_user(user.id)}


async def staff_by_venue() -> dict[str, list[int]]:
    """Admin: every venue's staff (user ids), for the console's assignment page."""
    rows = await StaffAssignment.all().order_by("id").values_list("venue_id", "user_id")
    staff: dict[str, list[int]] = {venue: [] for venue in default_programmes().venues}
    for venue_id, user_id in rows:
        if str(venue_id) in staff:
            staff[str(venue_id)].append(int(user_id))
    return staff
