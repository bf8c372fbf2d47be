"""The public 红黑榜 and 双公示 lists (issue 13 items 3 and 6): no login, enterprises and
individual businesses only, only what the publication rules show the public; filters, cursor
pages, 4xx with Chinese messages for bad filters, caching and its invalidation, the H5 pages.

Each test files its records under an authority of its own and filters by it, so the session's
other records do not meet its assertions."""

from __future__ import annotations

import uuid
from datetime import timedelta

from credit.calendar_dates import add_months, today
from credit.models import Record, Subject
from infra.cache import invalidate_subjects
from tests.helpers import fresh_id_number, make_enterprise, make_record


def tag() -> str:
    return uuid.uuid4().hex[:8]


async def person_subject() -> Subject:
    key = f"id:test-{tag()}"
    return await Subject.create(natural_key=key, kind="person", name="乌*", region="152922")


async def walk(client, url: str) -> list[dict]:  # type: ignore[no-untyped-def]
    """Every item of every page."""
    items: list[dict] = []
    cursor = None
    while True:
        response = await client.get(url + (f"&cursor={cursor}" if cursor else ""))
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        cursor = body["next"]
        if cursor is None:
            return items


async def penalty_fixture() -> tuple[str, dict[str, int]]:
    """One shown and several hidden penalties under a fresh authority: name -> record id."""
    authority = f"阿拉善盟测试局{tag()}"
    enterprise = await make_enterprise()
    business = await make_enterprise(kind="individual_business")
    person = await person_subject()
    on = today()
    ids = {}

    async def record(name: str, subject: Subject, **values):  # type: ignore[no-untyped-def]
        ids[name] = (await make_record(subject.id, authority=authority, **values)).id

    await record("shown", enterprise)
    serious = {"severity": "serious", "record_class": "serious_dishonesty"}
    await record("business_serious", business, publish_max_until=add_months(on, 24), **serious)
    await record("person", person)
    await record("repaired", enterprise, status="repaired", shared=False)
    await record("expired_status", enterprise, status="expired")
    await record("revoked", enterprise, status="revoked", shared=False)
    await record("past_window", enterprise, publish_max_until=on - timedelta(days=1))
    await record("minor", enterprise, severity="minor")
    await record("not_dishonesty", enterprise, severity=None, record_class="basic")
    await record("under_objection", enterprise, status="under_objection")
    return authority, ids


async def test_penalties_show_only_what_the_public_may_see_of_market_entities(client):
    authority, ids = await penalty_fixture()
    items = await walk(client, f"/api/v1/public/penalties?authority={authority}")
    shown = {item["id"] for item in items}
    assert shown == {ids["shown"], ids["business_serious"], ids["under_objection"]}
    assert all(item["subject"]["kind"] in ("enterprise", "individual_business") for item in items)
    objection = next(i for i in items if i["id"] == ids["under_objection"])
    assert objection["objection"]["label"] == "异议处理中"
    serious = await walk(client, f"/api/v1/public/penalties?authority={authority}&category=serious")
    assert [item["id"] for item in serious] == [ids["business_serious"]]
    # newest first
    assert [item["id"] for item in items] == sorted(shown, reverse=True)


async def test_a_natural_person_is_never_listed_in_any_list(client):
    authority = f"阿拉善盟认定部门{tag()}"
    person = await person_subject()
    for record_type, record_class in (
        ("red_list", "positive"),
        ("black_list", "serious_dishonesty"),
        ("penalty", "general_dishonesty"),
        ("licence", "basic"),
    ):
        severity = "serious" if record_type == "black_list" else None
        if record_type == "penalty":
            severity = "general"
        await make_record(person.id, type=record_type, record_class=record_class,
                          severity=severity, authority=authority)  # fmt: skip
    for name in ("red-list", "black-list", "penalties", "licences"):
        assert await walk(client, f"/api/v1/public/{name}?authority={authority}") == []
        page = await client.get(f"/public/{name}?authority={authority}")
        assert page.status_code == 200 and 'id="empty"' in page.text


async def test_filters_dates_keyword_and_cursor_pages(client):
    authority = f"阿拉善盟市场监督管理局{tag()}"
    enterprise = await make_enterprise()
    other = await make_enterprise()
    on = today()
    made = []
    for days in range(22):
        record = await make_record(
            enterprise.id, type="red_list", record_class="positive", severity=None,
            decided_on=on - timedelta(days=days), publish_max_until=None, authority=authority,
        )  # fmt: skip
        made.append(record.id)
    theirs = await make_record(other.id, type="red_list", record_class="positive", severity=None,
                               publish_max_until=None, authority=authority)  # fmt: skip
    first = (await client.get(f"/api/v1/public/red-list?authority={authority}")).json()
    assert len(first["items"]) == 20 and first["next"] is not None
    everything = await walk(client, f"/api/v1/public/red-list?authority={authority}")
    assert {item["id"] for item in everything} == {*made, theirs.id}
    assert len(everything) == len({item["id"] for item in everything})  # no page repeats one

    since = (on - timedelta(days=4)).isoformat()
    recent = await walk(client, f"/api/v1/public/red-list?authority={authority}&from={since}"
                        f"&to={on.isoformat()}&keyword={enterprise.name}")  # fmt: skip
    assert {item["id"] for item in recent} == set(made[:5])
    by_uscc = await walk(client, f"/api/v1/public/red-list?authority={authority}"
                         f"&keyword={other.uscc}")  # fmt: skip
    assert [item["id"] for item in by_uscc] == [theirs.id]


async def test_bad_filters_are_422_with_chinese_messages(client):
    cases = {
        "/api/v1/public/penalties?from=2026-13-01": "from",
        "/api/v1/public/penalties?to=yesterday": "to",
        "/api/v1/public/penalties?from=2026-05-01&to=2026-04-01": "from",
        "/api/v1/public/penalties?from=1900-01-01": "from",
        "/api/v1/public/penalties?category=minor": "category",
        "/api/v1/public/red-list?category=serious": "category",
        "/api/v1/public/licences?cursor=abc": "cursor",
        "/api/v1/public/black-list?keyword=" + "长" * 61: "keyword",
        "/api/v1/public/black-list?authority=%01": "authority",
    }
    for url, field in cases.items():
        response = await client.get(url)
        assert response.status_code == 422, (url, response.text)
        error = response.json()["error"]
        assert field in error["fields"], (url, error)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in error["message"]), error
    page = await client.get("/public/penalties?from=2026-13-01")
    assert page.status_code == 422 and page.headers["content-type"].startswith("text/html")
    assert "日期格式有误" in page.text and 'data-code="INVALID_INPUT"' in page.text
    assert "style-src 'sha256-" in page.headers["content-security-policy"]


async def test_pages_are_cached_until_the_shown_records_change(client, runtime):
    authority = f"阿拉善左旗生态环境局{tag()}"
    enterprise = await make_enterprise()
    record = await make_record(enterprise.id, authority=authority)
    url = f"/api/v1/public/penalties?authority={authority}"
    assert [i["id"] for i in (await client.get(url)).json()["items"]] == [record.id]
    # Repaired without anyone being told: the cached page still shows it...
    await Record.filter(id=record.id).update(status="repaired", shared=False)
    assert [i["id"] for i in (await client.get(url)).json()["items"]] == [record.id]
    # ...until the change is announced as the workflows and imports do.
    await invalidate_subjects(runtime.redis, runtime.keys, {enterprise.id})
    assert (await client.get(url)).json()["items"] == []


async def test_the_h5_page_escapes_and_carries_the_hashed_policy(client):
    authority = f"阿拉善盟文化旅游局{tag()}"
    enterprise = await make_enterprise(name=f"<script>alert(1)</script>{tag()}")
    await make_record(enterprise.id, type="licence", record_class="basic", severity=None,
                      authority=authority, title="行政许可：<b>食品经营许可证</b>",
                      details={"许可类别": "普通", "许可证书名称": "食品经营许可证"})  # fmt: skip
    response = await client.get(f"/public/licences?authority={authority}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "style-src 'sha256-" in policy and "script-src" not in policy
    assert policy.startswith("default-src 'none'")
    text = response.text
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "<b>食品经营许可证</b>" not in text and "许可类别" in text
    assert text.count("<style>") == 1 and "style=" not in text


async def test_person_id_numbers_never_appear(client):
    """A penalty of an individual business whose operator's ID the feed gave: listed by its
    name and code only."""
    authority = f"阿拉善右旗税务局{tag()}"
    business = await make_enterprise(kind="individual_business")
    number = fresh_id_number()
    await Subject.filter(id=business.id).update(legal_representative="巴*")
    await make_record(business.id, authority=authority, details={"证件号码": number})
    body = (await client.get(f"/api/v1/public/penalties?authority={authority}")).text
    assert number not in body and "巴*" not in body


async def test_every_public_page_shows_the_mongolian_beside_the_chinese(client):
    """Issue 15: the public pages set their title in traditional Mongolian, vertically, in the
    served font, and their one stylesheet (the CSP's hash) carries the Mongolian part."""
    import base64
    import hashlib
    import re

    for path, title in (
        ("/public/red-list", "红名单"),
        ("/public/penalties", "行政处罚（双公示）"),
        ("/public/integrity", "政务诚信概况"),
        ("/public/penalties?from=not-a-date", "无法显示"),
    ):
        response = await client.get(path)
        text = response.text
        block = re.search(
            r'<div class="mn" lang="mn-Mong" id="mongolian">(.*?)</div></section>', text
        )
        assert block is not None, (path, text[:500])
        assert re.search("[\u1800-\u18af]", block.group(1)), path  # Mongolian script
        assert title in text and "writing-mode:vertical-lr" in text
        policy = response.headers["content-security-policy"]
        assert "font-src 'self'" in policy
        style = re.search(r"<style>(.*?)</style>", text, re.S)
        assert style is not None
        digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
