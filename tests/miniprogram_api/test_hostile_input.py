"""Hostile input is a 4xx with a Chinese message and loses nothing (issue 12 item 1), on both
backends: the one parser of ids, cursors, dates and text is infra/params.py, and every JSON body
passes miniprogram_api.common.parse_body."""

from __future__ import annotations

from credit.applications.models import Application
from infra.models import Upload
from tests.helpers import bound_citizen, make_record, unique_code
from tests.miniprogram_api.test_applications import PDF


async def test_integers_beyond_bigint_in_a_body_are_422_naming_the_field(client, login):
    headers, _, subject_id, _ = await bound_citizen(client, login)
    record = await make_record(subject_id)
    body = {
        "record_id": record.id,
        "reason": "已完成整改，申请信用修复",
        "commitment_accepted": True,
    }
    huge = await client.post(
        "/api/v1/repairs", headers=headers, json=body | {"attachments": [10**30]}
    )
    assert huge.status_code == 422, huge.text
    assert huge.json()["error"]["fields"] == {"attachments.0": "数值太大"}
    beyond = await client.post("/api/v1/repairs", headers=headers, json=body | {"record_id": 2**63})
    assert beyond.status_code == 422 and "record_id" in beyond.json()["error"]["fields"]
    assert not await Application.exists(record_id=record.id)


async def test_deep_nesting_long_numbers_and_huge_bodies_are_refused_before_parsing(client, login):
    headers = await login(unique_code())
    deep = await client.post(
        "/api/v1/registrations", headers=headers, content=b"[" * 200_000 + b"]" * 200_000
    )
    assert deep.status_code == 400 and deep.json()["error"]["code"] == "BAD_JSON"
    long_number = await client.post(
        "/api/v1/registrations", headers=headers, content=b'{"title": ' + b"9" * 5000 + b"}"
    )
    assert long_number.status_code == 400 and long_number.json()["error"]["code"] == "BAD_JSON"
    large = await client.post(
        "/api/v1/registrations",
        headers=headers,
        content=b'{"content": "' + b"x" * (1024 * 1024) + b'"}',
    )
    assert large.status_code == 413 and large.json()["error"]["code"] == "BODY_TOO_LARGE"


async def test_a_nul_character_is_refused_in_any_text_and_nothing_is_filed(client, login):
    headers, user_id, _, _ = await bound_citizen(client, login)
    filed = await client.post(
        "/api/v1/registrations",
        headers=headers,
        json={"category": "honours", "title": "优秀志愿者\u0000", "content": "2025 年度表彰"},
    )
    assert filed.status_code == 422, filed.text
    assert filed.json()["error"]["fields"] == {"title": "含有不允许的控制字符"}
    assert not await Application.exists(applicant_id=user_id)
    search = await client.get("/api/v1/subjects", params={"q": "驼铃\u0000"})
    assert search.status_code == 422 and "q" in search.json()["error"]["fields"]
    # A file's name is only shown back to its owner: its control characters are dropped.
    boundary = "----hostile"
    multipart = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="凭\x00证.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + PDF
        + f"\r\n--{boundary}--\r\n".encode()
    )
    uploaded = await client.post(
        "/api/v1/uploads",
        headers=headers | {"content-type": f"multipart/form-data; boundary={boundary}"},
        content=multipart,
    )
    assert uploaded.status_code == 201, uploaded.text
    assert (await Upload.get(id=uploaded.json()["id"])).original_name == "凭证.pdf"


async def test_report_dates_beyond_the_calendar_and_long_cursors_are_422(client, login):
    admin = await login("demo-admin")
    for value in ("9999-12-31", "0001-01-01", "2026-1-1", "２０２６-01-01"):
        response = await client.get(
            "/api/v1/admin/incentives/report", headers=admin, params={"from": value}
        )
        assert response.status_code == 422, (value, response.text)
        assert "from" in response.json()["error"]["fields"]
    citizen = await login("demo-citizen")
    for cursor in ("9" * 19, "9" * 5000, "²", "①"):
        queries = await client.get(
            "/api/v1/me/credit/queries", headers=citizen, params={"cursor": cursor}
        )
        assert queries.status_code == 422, (cursor, queries.text)
        search = await client.get("/api/v1/subjects", params={"q": "驼铃", "cursor": cursor})
        assert search.status_code == 422, (cursor, search.text)
