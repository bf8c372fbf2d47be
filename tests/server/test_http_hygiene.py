"""HTTP hygiene (issue 12 item 6, server/http_hygiene.py): security headers on every response,
a hashed-stylesheet CSP on the H5 pages, Allow on 405, self-hosted /docs that production turns
off, and an access log without the values of q=, token= and the like."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import urllib.request

import pytest

from server.http_hygiene import RedactQueryFilter, redact_query
from tests.conftest import BACKEND
from tests.scenarios.merchants.test_h5 import served_demo  # noqa: F401 - the served fixture


def _assert_hygiene(response) -> None:  # type: ignore[no-untyped-def]
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff", response.url
    assert headers["referrer-policy"] == "no-referrer", response.url
    assert "frame-ancestors 'none'" in headers["content-security-policy"], response.url


async def test_every_kind_of_response_carries_the_security_headers(client, login):
    headers = await login("demo-merchant")
    for response in (
        await client.get("/healthz"),
        await client.get("/api/v1/me"),  # 401
        await client.get("/api/v1/merchant-codes/DemoTuoling01"),
        await client.get("/api/v1/merchant-codes/DemoTuoling01/qr.png"),
        await client.get("/no/such/path"),
        await client.delete("/healthz"),
        await client.get("/api/v1/me", headers=headers),
    ):
        _assert_hygiene(response)
    assert (
        (await client.get("/healthz"))
        .headers["content-security-policy"]
        .startswith("default-src 'none'")
    )


def _style_hash(page: str) -> str:
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    assert style is not None
    return base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()


@pytest.mark.parametrize("code", ["DemoTuoling01", "NoSuchCode99"])
async def test_h5_page_allows_its_own_stylesheet_by_hash_and_no_script(client, code):
    response = await client.get(f"/m/{code}")
    assert response.status_code == (200 if code == "DemoTuoling01" else 404)
    assert response.headers["content-type"].startswith("text/html")
    _assert_hygiene(response)
    policy = response.headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["style-src"] == f"'sha256-{_style_hash(response.text)}'"
    assert "unsafe-inline" not in policy and "script-src" not in policy
    page = response.text
    assert "<script" not in page and " style=" not in page
    assert page.count("<style>") == 1


async def test_405_names_the_allowed_methods(client):
    for method, path, allowed in (
        ("DELETE", "/healthz", {"GET"}),
        ("PUT", "/api/v1/uploads", {"POST"}),
        ("POST", "/m/DemoTuoling01", {"GET"}),
    ):
        response = await client.request(method, path)
        assert response.status_code == 405, path
        assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
        assert allowed <= {m.strip() for m in response.headers["allow"].split(",")}, path


async def test_docs_load_nothing_from_another_host_and_run_no_inline_script(client):
    page = await client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    assert "//" not in re.sub(r"<!doctype html>", "", page.text)  # no absolute URL at all
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    assert scripts and all('src="/docs/assets/' in attrs and not body for attrs, body in scripts)
    for asset in re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', page.text):
        fetched = await client.get(asset)
        assert fetched.status_code == 200, asset
        assert fetched.headers["x-content-type-options"] == "nosniff"
    init = (await client.get("/docs/assets/init.js")).text
    assert '"/openapi.json"' in init
    assert (await client.get("/docs/assets/index.html")).status_code == 404
    assert (await client.get("/docs/assets/..%2Fswagger-ui.js")).status_code == 404
    assert (await client.get("/openapi.json")).status_code == 200


def _paths(app) -> set[str]:  # type: ignore[no-untyped-def]
    return {"/" + route.path for route in app.router.routes}


async def test_production_serves_no_docs_and_no_openapi(app, runtime):
    """A second Sanic app cannot start in this process (Sanic's TouchUp), so the production app
    is built and its routes compared with the development app's."""
    from server.app import create_app

    production = runtime.settings.model_copy(update={"app_env": "production", "demo": False})
    production_app = create_app(settings=production, runtime=runtime)
    documentation = {"/docs", "/docs/assets/<name:str>", "/openapi.json", "/docs/openapi.json"}
    assert documentation <= _paths(app)
    served = _paths(production_app)
    assert not {path for path in served if path.startswith(("/docs", "/openapi"))}
    assert "/healthz" in served and "/m/<code:str>" in served


def test_redaction_keeps_paging_and_hides_everything_else():
    line = "GET http://h/api/v1/subjects?q=%E9%A9%BC%E9%93%83&cursor=20&token=C1.abc&status=open"
    assert redact_query(line) == (
        "GET http://h/api/v1/subjects?q=***&cursor=20&token=***&status=open"
    )
    assert redact_query("GET /m/Demo") == "GET /m/Demo"
    assert redact_query("GET /x?id_number=152922198808081234#frag") == "GET /x?id_number=***#***"


def test_the_filter_works_whatever_the_handler_formats(caplog):
    """Sanic puts the request line in `record.request`; any formatter (text, JSON) sees the
    redacted one, because the filter sits on the logger."""
    from server.http_hygiene import redact_access_log

    redact_access_log()
    logger = logging.getLogger("sanic.access")
    assert any(isinstance(f, RedactQueryFilter) for f in logger.filters)
    with caplog.at_level(logging.INFO, logger="sanic.access"):
        logger.info("", extra={"request": "GET /api/v1/me/credit-code/qr.png?token=C1.secret"})
    assert caplog.records[-1].request == "GET /api/v1/me/credit-code/qr.png?token=***"


@pytest.mark.skipif(BACKEND != "embedded", reason="backend-independent: runs in the embedded pass")
def test_served_access_log_never_prints_names_or_tokens(served_demo):  # noqa: F811
    base, log_file = served_demo
    for path in ("/api/v1/subjects?q=%E9%A9%BC%E9%93%83%E9%A4%90%E5%8E%85&cursor=0",
                 "/api/v1/me/credit-code/qr.png?token=C1.sekrit-token-value",
                 "/m/DemoTuoling01"):  # fmt: skip
        try:
            with urllib.request.urlopen(f"{base}{path}", timeout=10) as answer:
                assert answer.headers["X-Content-Type-Options"] == "nosniff"
                if path.startswith("/m/"):
                    assert "style-src 'sha256-" in answer.headers["Content-Security-Policy"]
        except urllib.error.HTTPError as refused:
            assert refused.code in (400, 401, 422), path
    import time

    deadline = time.monotonic() + 5
    text = ""
    while time.monotonic() < deadline:
        text = log_file.read_text(encoding="utf-8", errors="replace")
        if "/m/DemoTuoling01" in text:
            break
        time.sleep(0.2)
    assert "/api/v1/subjects?q=***&cursor=0" in text
    assert "qr.png?token=***" in text
    assert "sekrit" not in text and "%E9%A9%BC" not in text and "驼铃" not in text
