"""Credit lookups (API.md "Credit"): own record, who read it, public enterprise lookup."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

from credit.calendar_dates import today
from credit.models import (
    IdentityBinding,
    Record,
    RecordClass,
    RecordStatus,
    RecordType,
    Severity,
    Subject,
)
from infra import audit
from infra.cache import invalidate_subjects
from infra.models import AuditEntry, User
from tests.helpers import unique_code

CLASSES = {"basic", "positive", "general_dishonesty", "serious_dishonesty", "risk"}


async def citizen_subject_id(headers, client) -> int:
    me = (await client.get("/api/v1/me", headers=headers)).json()
    return (await IdentityBinding.get(user_id=me["id"])).subject_id


async def add_record(subject_id: int, **fields) -> Record:
    key = uuid.uuid4().hex
    values = {
        "subject_id": subject_id,
        "record_class": RecordClass.GENERAL_DISHONESTY,
        "type": RecordType.PENALTY,
        "severity": Severity.GENERAL,
        "title": "行政处罚：测试",
        "decided_on": today() - timedelta(days=30),
        "publish_min_until": today() + timedelta(days=60),
        "publish_max_until": today() + timedelta(days=300),
        "authority": "阿拉善盟市场监督管理局",
        "document_no": key,
        "natural_key": f"test|{key}",
        "content_hash": hashlib.sha256(key.encode()).hexdigest(),
    }
    values.update(fields)
    return await Record.create(**values)


async def test_own_credit_has_five_classes_level_factors_and_masks(client, login):
    response = await client.get("/api/v1/me/credit", headers=await login("demo-citizen"))
    assert response.status_code == 200
    body = response.json()
    assert set(body["records"]) == CLASSES
    assert body["subject"] == {"kind": "person", "name": "巴**", "id_masked": "1529**********001X"}
    assert body["level"]["grade"] in {"A", "B", "C", "D"}
    assert body["level"]["label"] and body["level"]["colour"].startswith("#")
    # Every factor names a shown record and a reason; the score is the base plus the factors.
    shown = {r["id"] for records in body["records"].values() for r in records}
    assert {f["record_id"] for f in body["factors"]} <= shown
    assert all(f["reason"] for f in body["factors"])
    assert body["level"]["score"] == 750 + sum(f["points"] for f in body["factors"])
    penalty = body["records"]["general_dishonesty"][0]
    assert penalty["type"] == "penalty" and penalty["repairable"] is True
    assert {"id", "class", "type", "title", "decided_on", "authority", "status"} <= set(penalty)
    assert body["records"]["positive"][0]["title"] == "荣誉称号：劳动模范"
    assert "15292119900315001X" not in response.text


async def test_only_records_in_their_publication_window_are_shown(client, login, redis, keys):
    headers = await login("demo-citizen")
    subject_id = await citizen_subject_id(headers, client)
    expired = await add_record(subject_id, publish_max_until=today() - timedelta(days=1))
    repaired = await add_record(subject_id, status=RecordStatus.REPAIRED, shared=False)
    current = await add_record(subject_id, title="行政处罚：窗口内")
    objected = await add_record(subject_id, status=RecordStatus.UNDER_OBJECTION)
    await invalidate_subjects(redis, keys, [subject_id])
    body = (await client.get("/api/v1/me/credit", headers=headers)).json()
    shown = {r["id"]: r for records in body["records"].values() for r in records}
    assert current.id in shown and objected.id in shown
    assert shown[objected.id]["status"] == "under_objection"
    assert expired.id not in shown and repaired.id not in shown
    for record in (expired, repaired, current, objected):
        await record.delete()
    await invalidate_subjects(redis, keys, [subject_id])


async def test_black_list_forces_grade_d(client, login, redis, keys):
    headers = await login(unique_code())
    from tests.helpers import bind

    assert (await bind(client, headers)).status_code == 200
    subject_id = await citizen_subject_id(headers, client)
    await add_record(
        subject_id,
        type=RecordType.HONOUR,
        record_class=RecordClass.POSITIVE,
        severity=None,
        title="荣誉称号：劳动模范",
    )
    before = (await client.get("/api/v1/me/credit", headers=headers)).json()
    assert before["level"]["grade"] != "D"
    await add_record(
        subject_id,
        type=RecordType.BLACK_LIST,
        record_class=RecordClass.SERIOUS_DISHONESTY,
        severity=Severity.SERIOUS,
    )
    await invalidate_subjects(redis, keys, [subject_id])
    after = (await client.get("/api/v1/me/credit", headers=headers)).json()
    assert after["level"]["grade"] == "D"
    assert any(f["points"] < 0 for f in after["factors"])


async def test_cache_is_used_and_invalidated_when_records_change(client, login, redis, keys):
    headers = await login("demo-citizen")
    subject_id = await citizen_subject_id(headers, client)
    await invalidate_subjects(redis, keys, [subject_id])
    first = await client.get("/api/v1/me/credit", headers=headers)
    assert await redis.exists(keys.credit_view(subject_id))
    record = await add_record(subject_id, title="行政处罚：新增")
    stale = await client.get("/api/v1/me/credit", headers=headers)
    assert stale.content == first.content  # served from the cache
    await invalidate_subjects(redis, keys, [subject_id])
    fresh = (await client.get("/api/v1/me/credit", headers=headers)).json()
    assert record.id in {r["id"] for r in fresh["records"]["general_dishonesty"]}
    await record.delete()
    await invalidate_subjects(redis, keys, [subject_id])


async def test_every_read_is_audited_and_listed_to_the_subject(client, login, redis, keys):
    headers = await login("demo-citizen")
    subject_id = await citizen_subject_id(headers, client)
    await audit.drain(redis, keys, wait=2)
    before = await AuditEntry.filter(subject_id=subject_id).count()
    for channel in ("miniprogram", "h5"):
        response = await client.get(
            "/api/v1/me/credit", headers=headers | {"X-Client-Channel": channel}
        )
        assert response.status_code == 200
    queries = await client.get("/api/v1/me/credit/queries", headers=headers)
    assert queries.status_code == 200
    assert await AuditEntry.filter(subject_id=subject_id).count() == before + 2
    newest = queries.json()["items"][:2]
    assert [q["channel"] for q in newest] == ["h5", "miniprogram"]
    assert all(q["actor_kind"] == "self" and q["purpose"] == "本人查询" for q in newest)
    assert "+08:00" in newest[0]["at"]
    me = (await client.get("/api/v1/me", headers=headers)).json()
    entry = await AuditEntry.filter(subject_id=subject_id).order_by("-id").first()
    assert entry.actor_user_id == me["id"] and entry.action == "credit.read"


async def test_user_a_cannot_read_user_bs_credit_or_queries(client, login):
    from tests.helpers import bind

    a = await login(unique_code("a"))
    b = await login(unique_code("b"))
    assert (await bind(client, a, name="阿拉坦")).status_code == 200
    assert (await bind(client, b, name="宝音")).status_code == 200
    credit_a = (await client.get("/api/v1/me/credit", headers=a)).json()
    credit_b = (await client.get("/api/v1/me/credit", headers=b)).json()
    assert credit_a["subject"]["name"] == "阿**" and credit_b["subject"]["name"] == "宝*"
    queries_b = (await client.get("/api/v1/me/credit/queries", headers=b)).json()["items"]
    for _ in range(3):
        assert (await client.get("/api/v1/me/credit", headers=a)).status_code == 200
    # A's reads are A's: B's list of readers does not grow, and no entry of B's is A's.
    again_b = (await client.get("/api/v1/me/credit/queries", headers=b)).json()["items"]
    assert len(again_b) == len(queries_b) == 1
    a_user = (await client.get("/api/v1/me", headers=a)).json()["id"]
    b_entries = await AuditEntry.filter(subject_id=await citizen_subject_id(b, client))
    assert b_entries and all(e.actor_user_id != a_user for e in b_entries)
    a_entries = await AuditEntry.filter(subject_id=await citizen_subject_id(a, client))
    assert len(a_entries) == 4 and all(e.actor_user_id == a_user for e in a_entries)
    # A person is never found through the public lookup, by name or by anything else.
    search = (await client.get("/api/v1/subjects", params={"q": "阿拉坦"})).json()
    assert search["items"] == []


async def test_credit_needs_a_bound_identity(client, login):
    headers = await login(unique_code())
    response = await client.get("/api/v1/me/credit", headers=headers)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "IDENTITY_NOT_BOUND"


async def test_lookup_rate_limit(client, login, settings, redis, keys):
    headers = await login("demo-citizen")
    rule = settings.rate_limits["credit_lookup"]
    original = rule.limit
    user_id = (await client.get("/api/v1/me", headers=headers)).json()["id"]
    await redis.delete(keys.rate("credit_lookup", str(user_id)))
    rule.limit = 2
    try:
        statuses = [
            (await client.get("/api/v1/me/credit", headers=headers)).status_code for _ in range(3)
        ]
        limited = await client.get("/api/v1/me/credit", headers=headers)
    finally:
        rule.limit = original
        await redis.delete(keys.rate("credit_lookup", str(user_id)))
    assert statuses == [200, 200, 429]
    assert int(limited.headers["retry-after"]) >= 1


async def test_public_search_finds_enterprises_never_persons(client):
    by_name = (await client.get("/api/v1/subjects", params={"q": "驼铃"})).json()
    assert [s["uscc"] for s in by_name["items"]] == ["91152921MA0Q8DEM0M"]
    by_code = (await client.get("/api/v1/subjects", params={"q": "91152921ma0q8dem0m"})).json()
    assert by_code["items"][0]["name"] == "阿拉善左旗驼铃餐饮有限公司"
    person = (await client.get("/api/v1/subjects", params={"q": "巴特尔"})).json()
    assert all(item["kind"] != "person" for item in person["items"])
    assert "巴特尔" not in [item["name"] for item in person["items"]]  # the demo citizen
    assert (await client.get("/api/v1/subjects", params={"q": " "})).status_code == 422
    assert (await client.get("/api/v1/subjects")).status_code == 422


async def test_public_search_pages(client):
    for n in range(3):
        await Subject.create(
            kind="enterprise",
            name=f"分页测试企业{n}",
            natural_key=f"test:page{n}:{uuid.uuid4().hex[:6]}",
        )
    first = (await client.get("/api/v1/subjects", params={"q": "分页测试企业"})).json()
    assert len(first["items"]) >= 3 and first["next"] is None


async def test_public_search_by_a_name_longer_than_a_uscc(client):
    """A name of 19+ characters (or one that upper-cases past 18: "ß" is "SS") is searched by name,
    never compared with the 18-character uscc column (PostgreSQL refused that: a 500)."""
    for q in ["阿拉善左旗巴彦浩特镇驼铃餐饮服务有限责任公司定远营古城东街店", "ß" * 10]:
        response = await client.get("/api/v1/subjects", params={"q": q})
        assert response.status_code == 200, (q, response.text)
        assert isinstance(response.json()["items"], list)


async def test_public_lookup_shows_only_published_records_and_is_audited(client, redis, keys):
    """Records repaired, revoked or out of their window are not shown; a record under objection
    is, labelled (issue 10 item 1: this test hid it before, as the old rule did)."""
    enterprise = await Subject.get(uscc="91152921MA0Q8DEM0M")
    hidden = await add_record(enterprise.id, status=RecordStatus.REVOKED, shared=False)
    objected = await add_record(enterprise.id, status=RecordStatus.UNDER_OBJECTION)
    await invalidate_subjects(redis, keys, [enterprise.id])
    await audit.drain(redis, keys, wait=2)
    before = await AuditEntry.filter(subject_id=enterprise.id, actor_kind="public").count()
    response = await client.get("/api/v1/subjects/91152921MA0Q8DEM0M")
    assert response.status_code == 200
    body = response.json()
    shown = {r["id"]: r for records in body["records"].values() for r in records}
    assert hidden.id not in shown
    assert shown[objected.id]["status"] == "under_objection"
    assert shown[objected.id]["objection"]["label"] == "异议处理中"
    assert body["subject"]["name"] == "阿拉善左旗驼铃餐饮有限公司"
    await audit.drain(redis, keys, wait=2)
    assert (
        await AuditEntry.filter(subject_id=enterprise.id, actor_kind="public").count() == before + 1
    )
    await hidden.delete()
    await objected.delete()
    await invalidate_subjects(redis, keys, [enterprise.id])


async def test_public_lookup_of_a_person_or_unknown_code_is_404(client, cipher):
    citizen = await User.get(openid="demo-openid-citizen")
    binding = await IdentityBinding.get(user_id=citizen.id).prefetch_related("subject")
    assert binding.subject.uscc is None
    assert (await client.get("/api/v1/subjects/91152921MA0Q8DEM1X")).status_code == 404
    bad = await client.get("/api/v1/subjects/not-a-code")
    assert bad.status_code == 422 and bad.json()["error"]["fields"]["uscc"]
