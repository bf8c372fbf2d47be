"""What a consumer sees when scanning a plate (scenarios/merchants/public.py): the shop without
login, audited; unknown, suspended and revoked codes; a new record reaching the plate."""

from __future__ import annotations

from infra.audit import drain
from infra.models import AuditEntry
from scenarios.merchants.models import Merchant
from tests.helpers import bound_citizen
from tests.scenarios.merchants.support import active_merchant, scan


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


async def test_unknown_codes_are_rate_limited_by_the_client_address(client, settings, redis, keys):
    """The limit counts per client address (the test client is 127.0.0.1), not per the callable
    that works the address out: keyed on a fresh lambda's repr, it never counted anyone twice."""
    rule = settings.rate_limits["merchant_code_miss"]
    original = rule.limit
    counter = keys.rate("merchant_code_miss", "127.0.0.1")
    await redis.delete(counter)
    rule.limit = 3
    try:
        responses = []
        for n in range(10):
            responses.append(await client.get(f"/api/v1/merchant-codes/NoSuchCode{n:02d}"))
            if responses[-1].status_code == 429:
                break
        counted = await redis.get(counter)
    finally:
        rule.limit = original
        await redis.delete(counter)
    assert [r.status_code for r in responses] == [404, 404, 404, 429]
    limited = responses[-1]
    assert 1 <= int(limited.headers["retry-after"]) <= rule.window
    error = limited.json()["error"]
    assert error["code"] == "RATE_LIMITED" and error["message"]
    assert counted is not None and int(counted) == 4


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


async def test_an_objection_never_hides_a_record_from_the_plate_or_the_public(client, login):
    """Objecting is no way to lift a grade (issue 10 item 1): while the objection is open the
    penalty stays on the plate, the H5 page and the public lookup, counted as before, labelled
    异议处理中 with the objection's status and the day it was filed."""
    from credit.calendar_dates import today
    from credit.models import Subject
    from tests.helpers import make_record

    operator, merchant = await active_merchant(client, login)
    subject = await Subject.get(uscc=merchant["subject"]["uscc"])
    penalty = await make_record(subject.id)
    before = await scan(client, merchant["code"])
    assert [r["id"] for r in before["records"]] == [penalty.id]
    assert before["records"][0]["objection"] is None

    objected = await client.post(
        "/api/v1/objections",
        headers=operator,
        json={
            "record_id": penalty.id,
            "reason": "处罚决定书文号与事实不符，申请更正",
            "attachments": [],
        },
    )
    assert objected.status_code == 201, objected.text

    label = {"status": "submitted", "label": "异议处理中", "since": today().isoformat()}
    after = await scan(client, merchant["code"])
    assert after["level"] == before["level"] and after["factors"] == before["factors"]
    assert [r["id"] for r in after["records"]] == [penalty.id]
    assert after["records"][0]["status"] == "under_objection"
    assert after["records"][0]["objection"] == label
    page = await client.get(f"/m/{merchant['code']}")
    assert "测试违法行为" in page.text and "异议处理中" in page.text
    public = (await client.get(f"/api/v1/subjects/{subject.uscc}")).json()
    shown = {r["id"]: r for records in public["records"].values() for r in records}
    assert shown[penalty.id]["objection"] == label
    assert public["level"]["score"] < 750  # the penalty still counts


async def test_a_signed_commitment_cannot_lift_a_penalised_shop_above_the_ceiling(
    client, login, runtime
):
    """The plate's grades are the credit level's, with its ceilings (issue 10 item 11): a shop
    whose subject has a general penalty in its window is at most C, commitment or not."""
    from infra.cache import invalidate_subjects
    from tests.helpers import make_record

    _, merchant = await active_merchant(client, login)
    shop = await Merchant.get(id=merchant["id"])
    await Merchant.filter(id=shop.id).update(commitment_accepted_at=shop.created_at)
    for n in range(2):  # enough points that the score alone would be A
        await make_record(
            shop.subject_id, record_class="positive", type="red_list", severity=None,
            title=f"守信激励对象名单 {n}", publish_min_until=None,
        )  # fmt: skip
    await invalidate_subjects(runtime.redis, runtime.keys, {shop.subject_id})
    assert (await scan(client, merchant["code"]))["level"]["grade"] == "A"
    penalty = await make_record(shop.subject_id, title="行政处罚：超范围经营")
    await invalidate_subjects(runtime.redis, runtime.keys, {shop.subject_id})
    view = await scan(client, merchant["code"])
    assert view["level"]["score"] >= 850 and view["level"]["grade"] == "C"
    assert {
        "record_id": penalty.id,
        "points": 0,
        "reason": "公示期内有一般失信行政处罚，信用等级最高为 C",
    } in view["factors"]
