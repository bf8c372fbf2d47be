"""Demo data of 信易游 / 信易租 (embedded mode only): demo-staff works at the demo scenic area."""

from __future__ import annotations

from infra.models import User
from infra.runtime import Runtime
from scenarios.incentives.models import StaffAssignment
from scenarios.incentives.programmes import default_programmes

DEMO_STAFF_OPENID = "demo-openid-staff"
DEMO_SCENIC_AREA = "alxa-desert-park"


async def seed_incentives(rt: Runtime) -> None:
    staff = await User.get_or_none(openid=DEMO_STAFF_OPENID)
    if staff is None or DEMO_SCENIC_AREA not in default_programmes().venues:
        return
    await StaffAssignment.get_or_create(user_id=staff.id, venue_id=DEMO_SCENIC_AREA)
    await rt.redis.delete(rt.keys.staff_venues(staff.id))
