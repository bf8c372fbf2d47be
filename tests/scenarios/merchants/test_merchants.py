"""一店一码 as operators, staff and consumers use it: registration and review, the commitment,
the public scan (JSON and H5), complaints and the merchant level, zones and the street index."""

from __future__ import annotations

from credit.models import SubjectOperator
from infra.audit import drain
from infra.models import AuditEntry, User
from scenarios.merchants.models import Complaint, Merchant
from scenarios.merchants.rules import default_rules
from scenarios.merchants.street_index import take_snapshot
from tests.helpers import bound_citizen, make_enterprise, unique_code

SHOP = {
    "name": "戈壁驿站餐厅",
    "zone_id": "dingyuanying",
    "address": "定远营古城东街 1 号",
    "category": "餐饮",
}


async def active_merchant(client, login, **overrides):
    """A merchant registered by a new operator and approved by staff: (operator headers, body)."""
    operator, *_ = await bound_citizen(client, login)
    enterprise = await make_enterprise()
    created = await client.post(
        "/api/v1/merchants", headers=operator, json=SHOP | {"uscc": enterprise.uscc} | overrides
    )
    assert created.status_code == 201, created.text
    admin = await login("demo-admin")
    approved = await client.post(
        f"/api/v1/admin/merchants/{created.json()['id']}/decision",
        headers=admin,
        json={"decision": "approve"},
    )
    assert approved.status_code == 200, approved.text
    return operator, approved.json()


async def scan(client, code):
    response = await client.get(f"/api/v1/merchant-codes/{code}")
    assert response.status_code == 200, response.text
    return response.json()


async def test_zones_come_from_config_with_their_index(client):
    zones = (await client.get("/api/v1/zones")).json()["items"]
    by_id = {zone["id"]: zone for zone in zones}
    assert set(by_id) == set(default_rules().zones)
    assert by_id["dingyuanying"]["kind"] == "street" and by_id["dingyuanying"]["region"] == "152921"
    assert by_id["ejina-huyang"]["kind"] == "scenic_area"
    assert 0 <= by_id["dingyuanying"]["index"] <= 100  # the demo street has active shops
    index = (await client.get("/api/v1/zones/dingyuanying/index")).json()
    assert index["parts"]["merchants"] >= 2 and index["history"][-1]["day"] == index["as_of"]
    assert (await client.get("/api/v1/zones/nowhere/index")).status_code == 404


async def test_street_index_follows_the_documented_formula(client, login):
    await active_merchant(client, login, zone_id="tengger-park")
    snapshot = await take_snapshot("tengger-park", replace=True)
    parts, formula = snapshot.parts, default_rules().index
    expected = (
        100
        * (
            formula.score_weight * parts["average_score"] / 1000
            + formula.good_weight * parts["good_share"]
            + formula.commitment_weight * parts["commitment_share"]
        )
        - parts["complaint_penalty"]
    )
    assert abs(float(snapshot.value) - max(0, min(100, expected))) < 0.05
    again = await take_snapshot("tengger-park")
    assert again.id == snapshot.id  # one snapshot per zone and day


async def test_registration_review_and_the_operator_role(client, login):
    operator, user_id, *_ = await bound_citizen(client, login)
    enterprise = await make_enterprise()
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
    assert await SubjectOperator.exists(user_id=user_id, subject_id=enterprise.id)


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


async def test_public_scan_shows_the_shop_without_login_and_is_audited(client, runtime):
    view = await scan(client, "DemoTuoling01")
    assert view["status"] == "active"
    assert view["merchant"]["name"] == "驼铃餐厅（定远营店）"
    assert view["merchant"]["zone"] == "定远营诚信示范街区"
    assert view["level"]["grade"] in {"A", "B", "C", "D"} and view["level"]["colour"].startswith(
        "#"
    )
    assert view["commitment"]["signed"] is True
    assert set(view["complaints"]) == {"total", "upheld"}
    assert all("repairable" not in record for record in view["records"])
    shamo = await scan(client, "DemoShamo03")
    assert any(r["type"] == "penalty" for r in shamo["records"])
    await drain(runtime.redis, runtime.keys, wait=2.0)
    merchant = await Merchant.get(code="DemoTuoling01")
    entry = await AuditEntry.filter(
        subject_id=merchant.subject_id, purpose="扫码查看商户信用"
    ).first()
    assert (
        entry is not None
        and entry.actor_kind == "public"
        and entry.detail == {"merchant_id": merchant.id}
    )


async def test_unknown_codes_are_friendly_404s(client):
    api = await client.get("/api/v1/merchant-codes/NoSuchCode99")
    assert api.status_code == 404 and api.json()["error"]["code"] == "MERCHANT_CODE_NOT_FOUND"
    page = await client.get("/m/NoSuchCode99")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "未找到该商户码" in page.text
    assert (await client.get("/m/%3Cscript%3E")).status_code == 404
    assert "<script>" not in (await client.get("/m/%3Cscript%3E")).text


async def test_suspended_and_revoked_codes_say_so(client, login):
    _operator, merchant = await active_merchant(client, login)
    admin = await login("demo-admin")
    decision = f"/api/v1/admin/merchants/{merchant['id']}/decision"
    silent = await client.post(decision, headers=admin, json={"decision": "suspend"})
    assert silent.status_code == 422 and "note" in silent.json()["error"]["fields"]
    assert (
        await client.post(decision, headers=admin, json={"decision": "suspend", "note": "整改"})
    ).status_code == 200
    assert (await scan(client, merchant["code"]))["status"] == "suspended"
    page = await client.get(f"/m/{merchant['code']}")
    assert (
        page.status_code == 200 and "已暂停" in page.text and 'data-status="suspended"' in page.text
    )
    revoked = await client.post(
        decision, headers=admin, json={"decision": "revoke", "note": "停业"}
    )
    assert revoked.status_code == 200
    assert (await scan(client, merchant["code"]))["status"] == "revoked"
    assert "已撤销" in (await client.get(f"/m/{merchant['code']}")).text
    citizen, *_ = await bound_citizen(client, login)
    late = await client.post(
        f"/api/v1/merchant-codes/{merchant['code']}/complaints",
        headers=citizen,
        json={"content": "菜品分量不足"},
    )
    assert late.status_code == 409


async def test_complaint_reply_and_upheld_complaint_lowers_the_level(client, login):
    operator, merchant = await active_merchant(client, login)
    code = merchant["code"]
    citizen, citizen_id, *_ = await bound_citizen(client, login)
    before = await scan(client, code)
    made = await client.post(
        f"/api/v1/merchant-codes/{code}/complaints",
        headers=citizen,
        json={"content": "结账时多收了 20 元"},
    )
    assert made.status_code == 201, made.text
    complaint_id = made.json()["id"]
    assert (await scan(client, code))["complaints"] == {"total": 1, "upheld": 0}

    listed = (
        await client.get(f"/api/v1/merchants/{merchant['id']}/complaints", headers=operator)
    ).json()
    assert [c["content"] for c in listed["items"]] == ["结账时多收了 20 元"]
    other, *_ = await bound_citizen(client, login)
    assert (
        await client.get(f"/api/v1/merchants/{merchant['id']}/complaints", headers=other)
    ).status_code == 404
    assert (
        await client.post(
            f"/api/v1/complaints/{complaint_id}/reply", headers=other, json={"reply": "不是我们"}
        )
    ).status_code == 404
    replied = await client.post(
        f"/api/v1/complaints/{complaint_id}/reply",
        headers=operator,
        json={"reply": "已核实并退还差价"},
    )
    assert replied.status_code == 200 and replied.json()["status"] == "replied"

    staff = await login("demo-reviewer")
    decide = f"/api/v1/admin/complaints/{complaint_id}/decision"
    assert (
        await client.post(decide, headers=citizen, json={"decision": "uphold"})
    ).status_code == 403
    assert (
        await client.post(decide, headers=staff, json={"decision": "dismiss"})
    ).status_code == 422
    upheld = await client.post(
        decide, headers=staff, json={"decision": "uphold", "note": "多收费属实"}
    )
    assert upheld.status_code == 200 and upheld.json()["status"] == "upheld"
    assert (
        await client.post(decide, headers=staff, json={"decision": "dismiss", "note": "x"})
    ).status_code == 409

    after = await scan(client, code)
    assert after["complaints"] == {"total": 1, "upheld": 1}
    assert after["level"]["score"] == before["level"]["score"] - default_rules().complaint_points
    mine = (await client.get("/api/v1/me/complaints", headers=citizen)).json()["items"]
    assert [(c["id"], c["status"]) for c in mine] == [(complaint_id, "upheld")]
    assert (await Complaint.get(id=complaint_id)).complainant_id == citizen_id


async def test_complaint_text_goes_through_content_security(client, login):
    operator, merchant = await active_merchant(client, login)
    code = merchant["code"]
    citizen, citizen_id, *_ = await bound_citizen(client, login)
    risky = await client.post(
        f"/api/v1/merchant-codes/{code}/complaints",
        headers=citizen,
        json={"content": "这是违禁的内容"},
    )
    assert risky.status_code == 422 and risky.json()["error"]["code"] == "CONTENT_RISKY"
    assert await Complaint.filter(complainant_id=citizen_id).count() == 0
    held = await client.post(
        f"/api/v1/merchant-codes/{code}/complaints",
        headers=citizen,
        json={"content": "这条内容待审核"},
    )
    assert held.status_code == 201
    seen_by_merchant = (
        await client.get(f"/api/v1/merchants/{merchant['id']}/complaints", headers=operator)
    ).json()
    assert seen_by_merchant["items"][0]["content"] == "（内容审核中）"
    staff = await login("demo-reviewer")
    queue = (await client.get("/api/v1/admin/complaints", headers=staff)).json()["items"]
    mine = next(c for c in queue if c["id"] == held.json()["id"])
    assert mine["content"] == "这条内容待审核" and mine["moderation"] == "review"
    own = await client.post(
        f"/api/v1/merchant-codes/{code}/complaints",
        headers=operator,
        json={"content": "自己投诉自己"},
    )
    assert own.status_code == 403


async def test_operator_role_reaches_live_sessions(client, login):
    operator, merchant = await active_merchant(client, login)
    user = await User.get(id=(await client.get("/api/v1/me", headers=operator)).json()["id"])
    assert "merchant" in user.roles
    assert (await client.get("/api/v1/merchants", headers=operator)).json()["items"][0][
        "id"
    ] == merchant["id"]


async def test_a_new_record_of_the_subject_reaches_the_plate(client, login, runtime):
    from infra.cache import invalidate_subjects
    from tests.helpers import make_record

    _, merchant = await active_merchant(client, login)
    before = await scan(client, merchant["code"])
    shop = await Merchant.get(id=merchant["id"])
    record = await make_record(shop.subject_id, title="行政处罚：超范围经营")
    # What the importer does after writing records: drop the subjects' cached views.
    await invalidate_subjects(runtime.redis, runtime.keys, {shop.subject_id})
    after = await scan(client, merchant["code"])
    assert after["level"]["score"] == before["level"]["score"] - 60
    assert [r["id"] for r in after["records"]] == [record.id]
    page = await client.get(f"/m/{merchant['code']}")
    assert "行政处罚：超范围经营" in page.text
