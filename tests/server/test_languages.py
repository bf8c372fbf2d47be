"""The API in Mongolian on `Accept-Language: mn` or `?lang=mn` (server/languages.py): errors,
labels and statuses; Chinese stays the default; names from config and the database."""

from __future__ import annotations

from infra.i18n import translate
from scenarios.merchants.rules import default_rules
from tests.scenarios.merchants.support import active_merchant

MN = {"Accept-Language": "mn"}


async def test_errors_in_mongolian_when_asked_and_chinese_by_default(client):
    chinese = await client.get("/api/v1/me")
    assert chinese.status_code == 401
    assert chinese.json()["error"]["message"] == "请先登录"
    assert chinese.headers["content-language"] == "zh-CN"
    assert "Accept-Language" in chinese.headers["vary"]
    for kwargs in ({"headers": MN}, {"params": {"lang": "mn"}}):
        mongolian = await client.get("/api/v1/me", **kwargs)
        assert mongolian.status_code == 401
        body = mongolian.json()["error"]
        assert body["code"] == "TOKEN_MISSING"  # codes never change
        assert body["message"] == translate("请先登录") != "请先登录"
        assert mongolian.headers["content-language"] == "mn-Mong"


async def test_validation_fields_and_untranslated_texts(client, login):
    citizen = await login("demo-citizen")
    response = await client.post("/api/v1/merchants", headers=citizen | MN, json={})
    assert response.status_code == 422
    fields = response.json()["error"]["fields"]
    assert fields["uscc"] == translate("必填") != "必填"
    missing = await client.get("/api/v1/merchant-codes/NoSuchCode1", headers=MN)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == translate(
        "未找到该商户码，请确认是否为信用阿拉善商户码"
    )


async def test_plate_scan_labels_zone_and_names_in_mongolian(client, login):
    name_mn = "ᠲᠡᠮᠡᠭᠡᠨ ᠬᠣᠩᠬᠣ"
    _operator, merchant = await active_merchant(client, login, name_mn=name_mn)
    code = merchant["code"]
    chinese = (await client.get(f"/api/v1/merchant-codes/{code}")).json()
    mongolian = (await client.get(f"/api/v1/merchant-codes/{code}", headers=MN)).json()
    zone = default_rules().zones["dingyuanying"]
    assert (
        chinese["merchant"]["zone"] == zone.name and chinese["merchant"]["zone_mn"] == zone.name_mn
    )
    assert mongolian["merchant"]["zone"] == zone.name_mn
    assert chinese["status_label"] == "正常亮码"
    assert mongolian["status_label"] == translate("正常亮码") != "正常亮码"
    assert mongolian["level"]["label"] == translate(chinese["level"]["label"])
    assert mongolian["merchant"]["name"] == chinese["merchant"]["name"]  # a name is data
    assert mongolian["merchant"]["name_mn"] == name_mn
    # The cached body is the same for both: the language is applied at the edge.
    again = (await client.get(f"/api/v1/merchant-codes/{code}")).json()
    assert again["status_label"] == "正常亮码"


async def test_notification_texts_and_policy_titles_in_mongolian(client, login):
    operator, merchant = await active_merchant(client, login)
    messages = (await client.get("/api/v1/me/messages", headers=operator | MN)).json()["items"]
    approved = next(m for m in messages if merchant["name"] in m["title"])
    assert approved["title"] == f"ᠬᠤᠳᠠᠯᠳᠤᠭᠠᠴᠢᠨ «{merchant['name']}» {translate('正常亮码')}"
    assert (
        approved["content"]
        == translate("审核通过，可下载商户码亮码经营")
        != ("审核通过，可下载商户码亮码经营")
    )
    chinese = (await client.get("/api/v1/me/messages", headers=operator)).json()["items"]
    assert any(m["content"] == "审核通过，可下载商户码亮码经营" for m in chinese)
    citizen = await login("demo-citizen")
    policies = (await client.get("/api/v1/incentives", headers=citizen | MN)).text
    assert translate("A级信用游客门票八折") in policies
    assert "A级信用游客门票八折" not in policies
