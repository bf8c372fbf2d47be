"""Redeeming an incentive (scenarios/incentives/redemptions.py): per visit, per holder per day
and the policy's total quota, the idempotency key, and concurrent redeems."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from credit.calendar_dates import today
from infra.errors import Conflict
from scenarios.incentives.models import PolicyCounter, Redemption
from scenarios.incentives.programmes import default_programmes
from scenarios.incentives.redemptions import claim, creator
from tests.scenarios.incentives.support import code_of, honour_holder, redeem, verify


async def test_redeem_keeps_the_limits_and_the_idempotency_key(client, login):
    holder, _, subject_id = await honour_holder(client, login)
    staff = await login("demo-staff")
    token = (await code_of(client, holder))["token"]
    key = f"gate1-{uuid.uuid4().hex}"
    first = await redeem(client, staff, token, "dp-honour-free", key)
    assert first.status_code == 201, first.text
    again = await redeem(client, staff, token, "dp-honour-free", key)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again.json()["replayed"] is True
    second = await redeem(client, staff, token, "dp-honour-free")
    assert second.status_code == 409 and second.json()["error"]["code"] == "ALREADY_REDEEMED"
    # A new code the same day: the per-day limit.
    fresh = (await code_of(client, holder))["token"]
    third = await redeem(client, staff, fresh, "dp-honour-free")
    assert third.status_code == 409 and third.json()["error"]["code"] == "ALREADY_REDEEMED"
    # Verify now says so, from the cache of today's use.
    view = (await verify(client, staff, fresh)).json()
    assert {"policy_id": "dp-honour-free", "title": "荣誉称号获得者免费游览",
            "reason": "今日已享受过该优惠"} in view["ineligible"]  # fmt: skip
    # Not eligible: the A-level discount.
    refused = await redeem(client, staff, fresh, "dp-ticket-a")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "NOT_ELIGIBLE"
    # The same key for another redemption is refused, not silently replayed.
    reused = await redeem(client, staff, fresh, "dp-honour-free", key)
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await Redemption.filter(holder_id=subject_id).count() == 1
    mine = (await client.get("/api/v1/me/redemptions", headers=holder)).json()["items"]
    assert [r["id"] for r in mine] == [first.json()["id"]]


async def test_a_hundred_concurrent_redeems_of_one_code_make_one_redemption(client, login):
    holder, _, subject_id = await honour_holder(client, login)
    staff = await login("demo-staff")
    token = (await code_of(client, holder))["token"]
    responses = await asyncio.gather(
        *(redeem(client, staff, token, "dp-honour-free") for _ in range(100))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1 and statuses.count(409) == 99, [
        r.text for r in responses if r.status_code not in (201, 409)
    ]
    assert all(
        r.json()["error"]["code"] == "ALREADY_REDEEMED" for r in responses if r.status_code == 409
    )
    assert await Redemption.filter(holder_id=subject_id, policy_id="dp-honour-free").count() == 1


async def test_concurrent_retries_of_one_idempotency_key_return_one_redemption(client, login):
    holder, _, subject_id = await honour_holder(client, login)
    staff = await login("demo-staff")
    token = (await code_of(client, holder))["token"]
    key = f"retry-{uuid.uuid4().hex}"
    responses = await asyncio.gather(
        *(redeem(client, staff, token, "dp-honour-free", key) for _ in range(20))
    )
    assert {r.status_code for r in responses} <= {200, 201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert await Redemption.filter(holder_id=subject_id).count() == 1


async def test_the_total_quota_stops_at_its_number(client, login):
    base = default_programmes().policies["dp-honour-free"]
    policy = base.__class__(**{**base.__dict__, "id": f"q{uuid.uuid4().hex[:12]}", "quota": 1})
    holders = [(await honour_holder(client, login))[2] for _ in range(2)]
    on = today()

    def values(holder_id: int, nonce: str) -> dict:
        return {
            "policy_id": policy.id, "venue_id": policy.venue, "scenario": policy.scenario,
            "holder_id": holder_id, "status": "redeemed", "source": "scan",
            "token_nonce": nonce, "day": on, "idem_key": f"{policy.id}:{nonce}",
        }  # fmt: skip

    await claim(policy, holders[0], "n1", on, creator(values(holders[0], "n1")))
    with pytest.raises(Conflict) as refused:
        await claim(policy, holders[1], "n2", on, creator(values(holders[1], "n2")))
    assert refused.value.code == "QUOTA_EXHAUSTED"
    assert (await PolicyCounter.get(policy_id=policy.id)).used == 1
    assert await Redemption.filter(policy_id=policy.id).count() == 1
    with pytest.raises(Conflict) as refused:  # the holder's own daily limit comes first
        await claim(policy, holders[0], "n3", on, creator(values(holders[0], "n3")))
    assert refused.value.code == "ALREADY_REDEEMED"
