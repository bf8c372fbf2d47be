"""Merchants as operators and staff handle them (scenarios/merchants/service.py): registration
and review, the operator role, and the integrity commitment."""

from __future__ import annotations

from credit.models import OperatorBasis, Subject, SubjectOperator
from infra.models import OutboxMessage, User
from scenarios.merchants.models import Merchant
from scenarios.merchants.rules import default_rules
from tests.helpers import bound_citizen, make_enterprise, represented_enterprise, unique_code
from tests.scenarios.merchants.support import SHOP, active_merchant, scan


async def test_registration_review_and_the_operator_role(client, login):
    operator, user_id, person_id, _ = await bound_citizen(client, login)
    enterprise = await represented_enterprise(client, operator, person_id)
    created = await client.post(
        "/api/v1/merchants", headers=operator, json=SHOP | {"uscc": enterprise.uscc}
    )
    assert created.status_code == 201
    merchant = created.json()
    assert merchant["status"] == "pending" and merchant["code"] is None
    no_plate = await client.get(f"/api/v1/merchants/{merchant['id']}/plate.png", headers=operator)
    assert no_plate.status_code == 409

    citizen = await login("demo-citizen")
    forbidden = await client.post(
        f"/api/v1/admin/merchants/{merchant['id']}/decision",
        headers=citizen,
        json={"decision": "approve"},
    )
    assert forbidden.status_code == 403
    assert (
        await client.get(f"/api/v1/merchants/{merchant['id']}", headers=citizen)
    ).status_code == 404

    admin = await login("demo-admin")
    approved = await client.post(
        f"/api/v1/admin/merchants/{merchant['id']}/decision",
        headers=admin,
        json={"decision": "approve"},
    )
    assert approved.status_code == 200
    code = approved.json()["code"]
    assert approved.json()["status"] == "active" and len(code) == 10 and code.isalnum()
    again = await client.post(
        f"/api/v1/admin/merchants/{merchant['id']}/decision",
        headers=admin,
        json={"decision": "approve"},
    )
    assert again.status_code == 409
    me = (await client.get("/api/v1/me", headers=operator)).json()
    assert "merchant" in me["roles"]
    assert me["merchants"] == [
        {"id": merchant["id"], "name": SHOP["name"], "code": code, "status": "active"}
    ]
    # the link came from the proof (POST /me/enterprises), not from the approval
    link = await SubjectOperator.get(user_id=user_id, subject_id=enterprise.id)
    assert link.basis == OperatorBasis.LEGAL_REPRESENTATIVE


async def test_registration_and_approval_need_the_same_proof_as_acting(client, login):
    """Issue 10 item 7: approving a plate checked nothing; now the operator must be the legal
    representative or hold an approved power of attorney, at registration and at approval."""
    _, _, owner_person, _ = await bound_citizen(client, login)
    enterprise = await make_enterprise(represented_by=owner_person)
    stranger, stranger_id, *_ = await bound_citizen(client, login)
    refused = await client.post(
        "/api/v1/merchants", headers=stranger, json=SHOP | {"uscc": enterprise.uscc}
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "NOT_SUBJECT_OPERATOR"
    assert "授权委托书" in refused.json()["error"]["message"]
    assert await Merchant.filter(operator_id=stranger_id).count() == 0

    # registered while proven, but the platform names another legal representative before the
    # review: no plate, and the merchant stays pending
    operator, user_id, person_id, _ = await bound_citizen(client, login)
    lapsing = await represented_enterprise(client, operator, person_id)
    created = await client.post(
        "/api/v1/merchants", headers=operator, json=SHOP | {"uscc": lapsing.uscc}
    )
    assert created.status_code == 201, created.text
    await Subject.filter(id=lapsing.id).update(legal_representative_id_index="0" * 40)
    admin = await login("demo-admin")
    path = f"/api/v1/admin/merchants/{created.json()['id']}/decision"
    blocked = await client.post(path, headers=admin, json={"decision": "approve"})
    assert blocked.status_code == 409 and blocked.json()["error"]["code"] == "OPERATOR_NOT_PROVEN"
    merchant = await Merchant.get(id=created.json()["id"])
    assert merchant.status == "pending" and merchant.code is None
    user = await User.get(id=user_id)
    assert "merchant" not in user.roles

    # an approved power of attorney is the same proof: the plate is approved
    await SubjectOperator.filter(user_id=user_id, subject_id=lapsing.id).update(
        basis=OperatorBasis.POWER_OF_ATTORNEY
    )
    approved = await client.post(path, headers=admin, json={"decision": "approve"})
    assert approved.status_code == 200 and approved.json()["status"] == "active"


async def test_registration_bad_input(client, login):
    operator, user_id, *_ = await bound_citizen(client, login)
    enterprise = await make_enterprise()
    cases = [
        (SHOP | {"uscc": enterprise.uscc, "zone_id": "moon"}, "zone_id"),
        (SHOP | {"uscc": enterprise.uscc, "category": "赌场"}, "category"),
        (SHOP | {"uscc": "91152921MA0Q8XXXX1"}, "uscc"),
        ({"uscc": enterprise.uscc}, "name"),
    ]
    for body, field in cases:
        response = await client.post("/api/v1/merchants", headers=operator, json=body)
        assert response.status_code == 422, response.text
        assert field in response.json()["error"]["fields"]
    assert await Merchant.filter(operator_id=user_id).count() == 0
    unbound = await login(unique_code())
    refused = await client.post(
        "/api/v1/merchants", headers=unbound, json=SHOP | {"uscc": enterprise.uscc}
    )
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "IDENTITY_NOT_BOUND"


async def test_commitment_is_signed_by_the_operator_and_raises_the_level(client, login):
    operator, merchant = await active_merchant(client, login)
    before = await scan(client, merchant["code"])
    assert before["commitment"]["signed"] is False
    path = f"/api/v1/merchants/{merchant['id']}/commitment"
    version = (await client.get("/api/v1/merchants/commitment")).json()["version"]
    stale = await client.post(path, headers=operator, json={"accepted": True, "version": "2020-01"})
    assert (
        stale.status_code == 409 and stale.json()["error"]["code"] == "COMMITMENT_VERSION_CHANGED"
    )
    declined = await client.post(
        path, headers=operator, json={"accepted": False, "version": version}
    )
    assert declined.status_code == 422
    admin = await login("demo-admin")
    assert (
        await client.post(path, headers=admin, json={"accepted": True, "version": version})
    ).status_code == 403
    stranger, *_ = await bound_citizen(client, login)
    assert (
        await client.post(path, headers=stranger, json={"accepted": True, "version": version})
    ).status_code == 404

    signed = await client.post(path, headers=operator, json={"accepted": True, "version": version})
    assert (
        signed.status_code == 200
        and signed.json()["signed"] is True
        and len(signed.json()["hash"]) == 64
    )
    after = await scan(client, merchant["code"])
    assert after["commitment"]["signed"] is True
    assert after["level"]["score"] == before["level"]["score"] + default_rules().commitment_points
    assert any(f["reason"] == "已签署诚信经营承诺" for f in after["factors"])


async def test_operator_role_reaches_live_sessions(client, login):
    operator, merchant = await active_merchant(client, login)
    user = await User.get(id=(await client.get("/api/v1/me", headers=operator)).json()["id"])
    assert "merchant" in user.roles
    assert (await client.get("/api/v1/merchants", headers=operator)).json()["items"][0][
        "id"
    ] == merchant["id"]


async def test_staff_decisions_tell_the_operator_registering_does_not(client, login):
    operator, merchant = await active_merchant(client, login)
    operator_id = (await client.get("/api/v1/me", headers=operator)).json()["id"]
    [approved] = await OutboxMessage.filter(user_id=operator_id).order_by("id")
    assert approved.template_key == "merchant_status" and approved.data["phrase2"] == "已通过"
    assert approved.page == f"pages/merchants/detail?id={merchant['id']}"
    assert approved.title == f"商户“{merchant['name']}”正常亮码"
    admin = await login("demo-admin")
    suspended = await client.post(
        f"/api/v1/admin/merchants/{merchant['id']}/decision",
        headers=admin,
        json={"decision": "suspend", "note": "消费者投诉较多，暂停整改"},
    )
    assert suspended.status_code == 200
    latest = await OutboxMessage.filter(user_id=operator_id).order_by("-id").first()
    assert latest.data["phrase2"] == "已暂停" and latest.content == "消费者投诉较多，暂停整改"
    inbox = (await client.get("/api/v1/me/messages", headers=operator)).json()
    assert inbox["unread"] == 2
