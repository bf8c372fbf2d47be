"""Credit reports as a bank uses them (issue 13 items 1, 2, 6): the citizen asks for one, the PDF
prints the verification QR code (rendered with pdftoppm, decoded with OpenCV), its text is
extractable, a changed byte fails verification, the signature verifies with the published key,
every verification shows in "who read my record", and no one else's data or PDF leaks."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import pytest
from pypdf import PdfReader

from qr.report_signing import public_key_from, verify
from scenarios.reports.models import CreditReport
from tests.helpers import bound_citizen, make_enterprise, make_record, represented_enterprise
from tests.qr.test_plate import decode_qr

pytestmark = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils missing")


async def _issue(client, headers, **body):  # type: ignore[no-untyped-def]
    response = await client.post(
        "/api/v1/me/credit-report", headers=headers, json={"purpose": "招投标", **body}
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


async def _pdf(client, headers, issued) -> bytes:  # type: ignore[no-untyped-def]
    response = await client.get(urlparse(issued["pdf_url"]).path, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    return response.content


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _first_page_png(pdf: bytes, dpi: int = 200) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "report.pdf"
        source.write_bytes(pdf)
        subprocess.run(
            ["pdftoppm", "-r", str(dpi), "-png", "-f", "1", "-l", "1", "-singlefile",
             str(source), str(Path(folder) / "page")],
            check=True, timeout=60,
        )  # fmt: skip
        return (Path(folder) / "page.png").read_bytes()


async def test_the_pdf_shows_the_subject_masked_its_number_the_special_line_and_a_qr_to_verify(
    client, login, settings
):
    headers, _, person_id, _ = await bound_citizen(client, login)
    await make_record(person_id, title="行政处罚：超限运输")
    me = (await client.get("/api/v1/me", headers=headers)).json()
    issued = await _issue(client, headers)
    number = issued["report_no"]
    assert issued["verify_url"] == f"{settings.public_base_url}/r/{number}"
    assert len(number) == 25 and number.startswith("R")
    pdf = await _pdf(client, headers, issued)

    text = _text(pdf)
    assert me["identity"]["name_masked"] in text
    assert me["identity"]["id_number_masked"] in text
    assert number in text
    assert "近三年有无行政处罚 / 严重失信" in text
    assert "近三年有无行政处罚：有（1 条）" in text and "近三年有无严重失信：无" in text
    assert "行政处罚：超限运输" in text and "招投标" in text

    # The CJK font is embedded as a subset (a prefix "ABCDEF+" and a font file), with a map back
    # to Unicode, which is how the text above came out.
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    fonts = [f.get_object() for f in page["/Resources"]["/Font"].values()]
    cjk = [f for f in fonts if "WenQuanYi" in str(f["/BaseFont"])]
    assert cjk and re.fullmatch(r"/[A-Z]{6}\+WenQuanYi.*", str(cjk[0]["/BaseFont"]))
    assert "/FontFile2" in cjk[0]["/FontDescriptor"] and "/ToUnicode" in cjk[0]

    # The watermark is the number, on every page.
    reader = PdfReader(io.BytesIO(pdf))
    assert all(f"信用阿拉善 {number}" in p.extract_text() for p in reader.pages)

    url = decode_qr(_first_page_png(pdf))
    assert url == issued["verify_url"]
    page_response = await client.get(urlparse(url).path)
    assert page_response.status_code == 200
    html = page_response.text
    assert number in html and "有效" in html and me["identity"]["name_masked"] in html
    assert hashlib.sha256(pdf).hexdigest() in html
    assert (
        "script" not in html
        and "style-src 'sha256-" in page_response.headers["content-security-policy"]
    )


async def test_an_uploaded_pdf_matches_byte_for_byte_and_one_changed_byte_fails(client, login):
    headers, _, _, _ = await bound_citizen(client, login)
    issued = await _issue(client, headers)
    pdf = await _pdf(client, headers, issued)
    path = f"/api/v1/credit-reports/{issued['report_no']}/verify"

    same = await client.post(path, files={"file": ("r.pdf", pdf, "application/pdf")})
    assert same.status_code == 200, same.text
    assert same.json()["match"] is True and same.json()["status"] == "valid"

    changed = bytearray(pdf)
    changed[len(changed) // 2] ^= 0x01
    other = await client.post(path, files={"file": ("r.pdf", bytes(changed), "application/pdf")})
    assert other.status_code == 200
    assert other.json()["match"] is False
    assert "不一致" in other.json()["match_label"]

    missing = await client.post(path, files={"other": ("r.pdf", pdf, "application/pdf")})
    assert missing.status_code == 422 and missing.json()["error"]["fields"]["file"]


async def test_the_signature_verifies_with_the_published_key_and_fails_after_a_change(
    client, login
):
    headers, _, _, _ = await bound_citizen(client, login)
    issued = await _issue(client, headers, purpose="融资")
    pdf = await _pdf(client, headers, issued)
    keys = (await client.get("/api/v1/credit-reports/keys")).json()["keys"]
    published = {k["kid"]: public_key_from(k["public_key"]) for k in keys}
    view = (await client.get(f"/api/v1/credit-reports/{issued['report_no']}")).json()
    signed = view["signed"]
    assert signed["alg"] == "Ed25519" and signed["kid"] in published

    canonical = signed["canonical"]
    assert verify(canonical, signed["kid"], signed["value"], published)
    summary = json.loads(canonical)
    assert summary["pdf_sha256"] == hashlib.sha256(pdf).hexdigest() == view["pdf_sha256"]
    assert summary["report_no"] == issued["report_no"] and summary["purpose"] == "融资"

    summary["level"]["grade"] = "A"
    forged = json.dumps(summary, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert forged != canonical
    assert not verify(forged, signed["kid"], signed["value"], published)
    other_purpose = canonical.replace("融资", "招投标")
    assert not verify(other_purpose, signed["kid"], signed["value"], published)


async def test_every_verification_is_a_read_the_subject_sees(client, login):
    headers, _, _, _ = await bound_citizen(client, login)
    issued = await _issue(client, headers)
    number = issued["report_no"]
    for _ in range(2):  # cold, then warm (the cached body: one Redis script, audited all the same)
        assert (await client.get(f"/api/v1/credit-reports/{number}")).status_code == 200
        assert (await client.get(f"/r/{number}")).status_code == 200

    reads = (await client.get("/api/v1/me/credit/queries", headers=headers)).json()["items"]
    checks = [r for r in reads if r["actor_kind"] == "report_verifier"]
    assert len(checks) == 4 and {r["channel"] for r in checks} == {"miniprogram", "h5"}
    assert checks[0]["actor_label"] == "信用报告核验" and checks[0]["purpose"] == "信用报告核验"
    own = [r for r in reads if r["actor_kind"] == "self"]
    assert any(r["purpose"] == "出具信用报告：招投标" for r in own)


async def test_revoked_expired_and_unknown_numbers_each_say_so(client, login, runtime):
    headers, _, _, _ = await bound_citizen(client, login)
    revoked = await _issue(client, headers, purpose="行政审批")
    expired = await _issue(client, headers, purpose="评先评优")
    for issued in (revoked, expired):  # cached as valid first: the status must still change
        seen = await client.get(f"/api/v1/credit-reports/{issued['report_no']}")
        assert seen.json()["status"] == "valid"
        assert (await client.get(f"/r/{issued['report_no']}")).status_code == 200

    answer = await client.post(
        f"/api/v1/credit-reports/{revoked['report_no']}/revoke", headers=headers, json={}
    )
    assert answer.status_code == 200 and answer.json()["status"] == "revoked"
    again = await client.post(
        f"/api/v1/credit-reports/{revoked['report_no']}/revoke", headers=headers, json={}
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "REPORT_REVOKED"
    await CreditReport.filter(report_no=expired["report_no"]).update(
        valid_until=datetime.now(UTC) - timedelta(seconds=1)
    )
    # Time passing, as the cache sees it: the validity it keeps is the report's.
    await runtime.redis.hset(
        runtime.keys.report_view(expired["report_no"]), "until", int(time.time()) - 1
    )

    views = {
        name: (await client.get(f"/api/v1/credit-reports/{issued['report_no']}")).json()
        for name, issued in (("revoked", revoked), ("expired", expired))
    }
    assert views["revoked"]["status"] == "revoked" and "已撤销" in views["revoked"]["status_label"]
    assert views["revoked"]["revoked_at"]
    assert views["expired"]["status"] == "expired" and "已过期" in views["expired"]["status_label"]
    page = await client.get(f"/r/{revoked['report_no']}")
    assert page.status_code == 200 and "已撤销" in page.text
    # Mongolian beside the Chinese (issue 15): the title and the status, vertical, own font
    block = r'<div class="mn" lang="mn-Mong" id="mongolian">(.*?)</div></div>'
    mongolian = re.search(block, page.text)
    assert mongolian is not None and re.search("[\u1800-\u18af]", mongolian.group(1))
    assert "writing-mode:vertical-lr" in page.text
    assert "font-src 'self'" in page.headers["content-security-policy"]

    for unknown in ("R23456789ABCDEFGHJKLMNPQR", "not-a-report", "R" + "0" * 24):
        missing = await client.get(f"/api/v1/credit-reports/{unknown}")
        assert missing.status_code == 404, missing.text
        assert missing.json()["error"]["code"] == "REPORT_NOT_FOUND"
        assert "报告不存在" in missing.json()["error"]["message"]
        html = await client.get(f"/r/{unknown}")
        assert html.status_code == 404 and "报告不存在" in html.text


async def test_a_persons_report_never_shows_another_persons_data(client, login):
    a_headers, _, a_person, _ = await bound_citizen(client, login)
    b_headers, _, b_person, _ = await bound_citizen(client, login)
    await make_record(a_person, title="行政处罚：甲的记录")
    await make_record(b_person, title="行政处罚：乙的记录")
    b_me = (await client.get("/api/v1/me", headers=b_headers)).json()

    issued = await _issue(client, a_headers)
    text = _text(await _pdf(client, a_headers, issued))
    assert "甲的记录" in text and "乙的记录" not in text
    assert b_me["identity"]["id_number_masked"] not in text
    stored = await CreditReport.get(report_no=issued["report_no"])
    assert stored.subject_id == a_person and "乙的记录" not in stored.content


async def test_another_user_can_neither_fetch_the_pdf_nor_report_on_the_enterprise(client, login):
    a_headers, _, a_person, _ = await bound_citizen(client, login)
    b_headers, _, _, _ = await bound_citizen(client, login)
    enterprise = await represented_enterprise(client, a_headers, a_person)
    issued = await _issue(client, a_headers, subject_uscc=enterprise.uscc)
    text = _text(await _pdf(client, a_headers, issued))
    assert enterprise.name in text and enterprise.uscc in text

    pdf_path = urlparse(issued["pdf_url"]).path
    assert (await client.get(pdf_path, headers=b_headers)).status_code == 404
    assert (await client.get(pdf_path)).status_code == 401
    refused = await client.post(
        "/api/v1/me/credit-report",
        headers=b_headers,
        json={"purpose": "招投标", "subject_uscc": enterprise.uscc},
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "NOT_SUBJECT_OPERATOR"
    stranger = await make_enterprise()
    assert (
        await client.post(
            "/api/v1/me/credit-report",
            headers=a_headers,
            json={"purpose": "招投标", "subject_uscc": stranger.uscc},
        )
    ).status_code == 403
    revoke = await client.post(
        f"/api/v1/credit-reports/{issued['report_no']}/revoke", headers=b_headers, json={}
    )
    assert revoke.status_code == 404
    admin = await login("demo-admin")
    by_admin = await client.post(
        f"/api/v1/credit-reports/{issued['report_no']}/revoke", headers=admin, json={}
    )
    assert by_admin.status_code == 200 and by_admin.json()["status"] == "revoked"
    assert (await client.get(pdf_path, headers=admin)).status_code == 404  # owner only


async def test_the_same_content_gives_the_same_report_and_a_change_a_new_one(client, login):
    headers, _, person_id, _ = await bound_citizen(client, login)
    first = await client.post("/api/v1/me/credit-report", headers=headers, json={"purpose": "其他"})
    second = await client.post(
        "/api/v1/me/credit-report", headers=headers, json={"purpose": "其他"}
    )
    assert first.status_code == 201 and second.status_code == 200
    assert first.json()["report_no"] == second.json()["report_no"] and second.json()["reused"]
    other_purpose = await _issue(client, headers, purpose="融资")
    assert other_purpose["report_no"] != first.json()["report_no"]

    await make_record(person_id, title="行政处罚：新记录")
    third = await _issue(client, headers, purpose="其他")
    assert third["report_no"] != first.json()["report_no"] and not third["reused"]


async def test_purpose_must_be_one_of_the_configured_list_and_identity_bound(client, login):
    headers, _, _, _ = await bound_citizen(client, login)
    bad = await client.post("/api/v1/me/credit-report", headers=headers, json={"purpose": "好奇"})
    assert bad.status_code == 422 and "招投标" in bad.json()["error"]["fields"]["purpose"]
    unbound = await login("demo-report-unbound")
    refused = await client.post(
        "/api/v1/me/credit-report", headers=unbound, json={"purpose": "招投标"}
    )
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "IDENTITY_NOT_BOUND"


async def test_verification_is_rate_limited_per_address(app, client, login, settings, monkeypatch):
    import httpx

    headers, _, _, _ = await bound_citizen(client, login)
    issued = await _issue(client, headers)
    monkeypatch.setattr(settings.rate_limits["report_verify_address"], "limit", 2)
    transport = httpx.ASGITransport(app=app, client=("10.99.7.5", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        answers = [
            (await http.get(f"/api/v1/credit-reports/{issued['report_no']}")).status_code
            for _ in range(3)
        ]
    assert answers == [200, 200, 429]
