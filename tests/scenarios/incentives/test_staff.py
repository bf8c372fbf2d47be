"""Venue staff (scenarios/incentives/staff.py): only staff of a policy's venue may verify or
redeem it."""

from __future__ import annotations

from qr.offline_verifier import parse
from scenarios.incentives.models import Redemption
from tests.helpers import unique_code
from tests.scenarios.incentives.support import (
    HOTEL,
    SCENIC,
    code_of,
    honour_holder,
    redeem,
    staff_of,
    verify,
)


async def test_only_staff_of_the_policys_venue_may_verify_or_redeem(client, login):
    holder, *_ = await honour_holder(client, login)
    token = (await code_of(client, holder))["token"]
    hotel_staff, _ = await staff_of(client, login, HOTEL)
    citizen = await login("demo-citizen")
    # A citizen is no staff; staff of the hotel cannot redeem the scenic area's policy.
    refused = await verify(client, citizen, token)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "ROLE_REQUIRED"
    assert (await redeem(client, citizen, token, "dp-honour-free")).status_code == 403
    refused = await redeem(client, hotel_staff, token, "dp-honour-free")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "NOT_VENUE_STAFF"
    refused = await verify(client, hotel_staff, token, venue_id=SCENIC)
    assert refused.status_code == 403
    # At the hotel, verify shows only the hotel's policies.
    hotel_view = (await verify(client, hotel_staff, token)).json()
    assert [p["policy_id"] for p in hotel_view["eligible"]] == ["ht-deposit"]
    assert hotel_view["ineligible"] == []
    # A venue_staff user with no venue at all.
    from infra.models import User

    lone = await login(unique_code("lone"))
    user = await User.get(id=(await client.get("/api/v1/me", headers=lone)).json()["id"])
    user.roles = ["citizen", "venue_staff"]
    await user.save()
    lone = await login(user.openid.replace("demo-openid-", "demo-"))
    refused = await verify(client, lone, token)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "NOT_VENUE_STAFF"
    assert (await redeem(client, hotel_staff, token, "no-such-policy")).status_code == 404
    # No redemption was made by any of these.
    assert not await Redemption.filter(token_nonce=parse(token).nonce).exists()
