"""信易租 (scenarios/incentives/rentals.py): an organisation applies, the provider's staff confirm
or decline."""

from __future__ import annotations

from credit.calendar_dates import today
from credit.models import SubjectOperator
from infra.models import OutboxMessage
from qr import credit_code
from qr.offline_verifier import parse
from scenarios.incentives.models import Redemption
from tests.helpers import bound_citizen, unique_code
from tests.scenarios.incentives.support import PARK, code_of, operator_of_enterprise, staff_of


async def test_an_enterprise_applies_for_a_rental_and_the_provider_confirms(client, login):
    operator, _, enterprise = await operator_of_enterprise(client, login)
    park_staff, _ = await staff_of(client, login, PARK)
    scenic_staff = await login("demo-staff")
    body = {"policy_id": "pk-factory", "subject_uscc": enterprise.uscc, "note": "租用 3 号厂房"}
    applied = await client.post("/api/v1/rentals", headers=operator, json=body)
    assert applied.status_code == 201, applied.text
    application = applied.json()
    assert application["status"] == "pending" and "信用等级 B" in application["reason"]
    twice = await client.post("/api/v1/rentals", headers=operator, json=body)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "APPLICATION_EXISTS"

    queue = (
        await client.get(f"/api/v1/venues/{PARK}/rentals?status=pending", headers=park_staff)
    ).json()
    assert application["id"] in [i["id"] for i in queue["items"]]
    mine = next(i for i in queue["items"] if i["id"] == application["id"])
    assert mine["holder"]["name"] == enterprise.name and mine["grade_at_application"] == "B"
    assert (
        await client.get(f"/api/v1/venues/{PARK}/rentals", headers=scenic_staff)
    ).status_code == 403
    decide = f"/api/v1/rentals/{application['id']}/decision"
    refused = await client.post(decide, headers=scenic_staff, json={"decision": "confirm"})
    assert refused.status_code == 403
    assert (
        await client.post(decide, headers=operator, json={"decision": "confirm"})
    ).status_code == 403

    confirmed = await client.post(decide, headers=park_staff, json={"decision": "confirm"})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "redeemed" and confirmed.json()["source"] == "rental"
    again = await client.post(decide, headers=park_staff, json={"decision": "decline"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "ALREADY_DECIDED"
    # A second application the same day is accepted, but confirming it passes the daily limit.
    second = (await client.post("/api/v1/rentals", headers=operator, json=body)).json()
    over = await client.post(
        f"/api/v1/rentals/{second['id']}/decision", headers=park_staff, json={"decision": "confirm"}
    )
    assert over.status_code == 409 and over.json()["error"]["code"] == "ALREADY_REDEEMED"
    declined = await client.post(
        f"/api/v1/rentals/{second['id']}/decision", headers=park_staff,
        json={"decision": "decline", "note": "本月厂房已满"},
    )  # fmt: skip
    assert declined.json()["status"] == "declined"
    row = await Redemption.get(id=application["id"])
    assert row.holder_id == enterprise.id and row.day == today()  # type: ignore[attr-defined]


async def test_rentals_are_for_operators_and_rental_policies_only(client, login, settings):
    operator, _, enterprise = await operator_of_enterprise(client, login)
    stranger = await login(unique_code())
    body = {"policy_id": "pk-factory", "subject_uscc": enterprise.uscc}
    refused = await client.post("/api/v1/rentals", headers=stranger, json=body)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "NOT_SUBJECT_OPERATOR"
    person, *_ = await bound_citizen(client, login)
    refused = await client.post("/api/v1/rentals", headers=person, json={"policy_id": "pk-factory"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "NOT_ELIGIBLE"
    refused = await client.post(
        "/api/v1/rentals", headers=operator, json={"policy_id": "ht-deposit"}
    )
    assert refused.json()["error"]["code"] == "NOT_A_RENTAL_POLICY"
    # An enterprise's own credit code, through its operator.
    token = (await code_of(client, operator, subject_uscc=enterprise.uscc))["token"]
    assert credit_code.signer_for(settings).open(parse(token)).policies == ("pk-factory",)
    assert await SubjectOperator.exists(subject_id=enterprise.id)


async def test_the_provider_s_decision_tells_the_applicant(client, login):
    operator, operator_id, enterprise = await operator_of_enterprise(client, login)
    park_staff, _ = await staff_of(client, login, PARK)
    body = {"policy_id": "pk-factory", "subject_uscc": enterprise.uscc}
    first = (await client.post("/api/v1/rentals", headers=operator, json=body)).json()
    assert await OutboxMessage.filter(user_id=operator_id).count() == 0  # their own step
    confirmed = await client.post(
        f"/api/v1/rentals/{first['id']}/decision", headers=park_staff, json={"decision": "confirm"}
    )
    assert confirmed.status_code == 200, confirmed.text
    second = (await client.post("/api/v1/rentals", headers=operator, json=body)).json()
    declined = await client.post(
        f"/api/v1/rentals/{second['id']}/decision", headers=park_staff,
        json={"decision": "decline", "note": "本月厂房已满"},
    )  # fmt: skip
    assert declined.status_code == 200
    told = await OutboxMessage.filter(user_id=operator_id).order_by("id")
    assert [m.data["phrase2"] for m in told] == ["已确认", "未通过"]
    assert {m.template_key for m in told} == {"rental_decision"}
    assert told[1].content == "本月厂房已满"
    assert told[0].page == f"pages/rentals/detail?id={first['id']}"
