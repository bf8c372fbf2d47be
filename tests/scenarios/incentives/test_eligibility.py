"""Who may get which incentive, with the reason (scenarios/incentives/eligibility.py), as
`GET /api/v1/incentives` shows it."""

from __future__ import annotations

from datetime import timedelta

from credit.calendar_dates import today
from tests.helpers import make_record, unique_code
from tests.scenarios.incentives.support import honour_holder, operator_of_enterprise


def _by_id(holder_item: dict) -> dict:
    return {p["policy_id"]: p for p in holder_item["policies"]}


async def test_demo_citizen_sees_each_policy_with_its_reason(client, login):
    response = await client.get("/api/v1/incentives", headers=await login("demo-citizen"))
    assert response.status_code == 200, response.text
    [person] = response.json()["items"]
    assert person["holder"] == {"kind": "person", "name": "巴**"}
    # The demo citizen's general penalty, in its window, holds the level at C (issue 10 item 11;
    # the score alone, 775, would be B): no deposit-free rental until it is repaired.
    assert person["level"]["grade"] == "C"
    assert person["level"]["ceiling"]["reason"].startswith("公示期内有一般失信行政处罚")
    policies = _by_id(person)
    assert "pk-factory" not in policies  # enterprises only
    assert (
        policies["dp-honour-free"]["eligible"]
        and "劳动模范" in policies["dp-honour-free"]["reason"]
    )
    assert not policies["ht-deposit"]["eligible"]
    assert policies["ht-deposit"]["reason"] == "信用等级须为 B 及以上（当前为 C）"
    assert not policies["dp-ticket-a"]["eligible"]
    assert policies["dp-ticket-a"]["reason"] == "信用等级须为 A 及以上（当前为 C）"


async def test_serious_dishonesty_within_the_years_makes_an_honour_holder_ineligible(client, login):
    headers, _, subject_id = await honour_holder(client, login)
    before = _by_id((await client.get("/api/v1/incentives", headers=headers)).json()["items"][0])
    assert before["dp-honour-free"]["eligible"]
    await make_record(
        subject_id, record_class="serious_dishonesty", severity="serious",
        decided_on=today() - timedelta(days=400),
        publish_min_until=today() + timedelta(days=10),
        publish_max_until=today() + timedelta(days=700),
    )  # fmt: skip
    after = _by_id((await client.get("/api/v1/incentives", headers=headers)).json()["items"][0])
    assert not after["dp-honour-free"]["eligible"]
    assert after["dp-honour-free"]["reason"] == "3 年内有严重失信记录"


async def test_an_operator_sees_the_enterprise_policies_and_a_newcomer_none(client, login):
    headers, _, enterprise = await operator_of_enterprise(client, login)
    [item] = (await client.get("/api/v1/incentives", headers=headers)).json()["items"]
    assert item["holder"]["uscc"] == enterprise.uscc and item["holder"]["kind"] == "enterprise"
    policies = _by_id(item)
    assert set(policies) == {"pk-factory"} and policies["pk-factory"]["eligible"]
    assert policies["pk-factory"]["how"] == "申请"
    newcomer = await login(unique_code())
    assert (await client.get("/api/v1/incentives", headers=newcomer)).json()["items"] == []
    assert (await client.get("/api/v1/incentives")).status_code == 401
