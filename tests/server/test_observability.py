"""What operations see (server/observability.py, infra/observability.py; issue 12 item 9)."""

from __future__ import annotations

import json
import logging

import httpx

from infra.observability import REQUEST_ID, RequestIdFilter, configure_logging


async def test_every_response_carries_a_request_id_a_gateways_own_is_kept(client):
    fresh = await client.get("/healthz")
    assert len(fresh.headers["x-request-id"]) == 32
    again = await client.get("/healthz")
    assert again.headers["x-request-id"] != fresh.headers["x-request-id"]
    given = await client.get("/healthz", headers={"X-Request-ID": "gw-0123456789"})
    assert given.headers["x-request-id"] == "gw-0123456789"
    # anything that is not plainly an id is replaced, never echoed
    odd = await client.get("/healthz", headers={"X-Request-ID": "<script>alert(1)</script>"})
    assert odd.headers["x-request-id"] != "<script>alert(1)</script>"
    missing = await client.get("/api/v1/no-such-route")
    assert missing.status_code == 404 and missing.headers["x-request-id"]


async def test_metrics_count_requests_by_route_and_status_and_show_the_backlogs(client):
    await client.get("/api/v1/subjects", params={"q": "驼铃"})
    await client.get("/api/v1/subjects")  # 422
    scraped = await client.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    text = scraped.text
    assert 'alxa_http_requests_total{method="GET",route="api/v1/subjects",status="200"}' in text
    assert 'alxa_http_requests_total{method="GET",route="api/v1/subjects",status="422"}' in text
    assert 'alxa_http_request_duration_seconds_bucket{le="0.005",method="GET",route=' in text
    for gauge in (
        "alxa_audit_stream_backlog",
        "alxa_audit_drainer_lag_seconds",
        "alxa_outbox_backlog",
    ):
        assert f"\n{gauge} " in text
    # the query string (personal data, tokens) is no label
    assert "驼铃" not in text


async def test_metrics_are_for_this_host_or_the_token_holder(app, settings):
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as outside:
        refused = await outside.get("/metrics")
        assert refused.status_code == 404
        assert refused.json()["error"]["code"] == "NOT_FOUND"
        forged = await outside.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
        assert forged.status_code == 404
        wrong = await outside.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 404
        allowed = await outside.get(
            "/metrics", headers={"Authorization": f"Bearer {settings.metrics_token}"}
        )
        assert allowed.status_code == 200 and "alxa_http_requests_total" in allowed.text


def test_json_log_lines_carry_the_request_id(capsys):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("json")
        token = REQUEST_ID.set("req-12345678")
        try:
            logging.getLogger("credit.test").warning("审核超时 %s", 3)
        finally:
            REQUEST_ID.reset(token)
        line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
        assert line["message"] == "审核超时 3"
        assert (line["level"], line["logger"], line["request_id"]) == (
            "WARNING",
            "credit.test",
            "req-12345678",
        )
        assert "time" in line
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def test_outside_a_request_the_id_is_a_dash():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    assert RequestIdFilter().filter(record) and record.request_id == "-"
