"""Every route of the app answers bad input with a 4xx in the API's error shape (a Chinese
message), never a 500: swept as citizens and reviewers, and the incentive routes as venue staff
and admins. (That no ID number is stored or logged in plaintext: tests/credit/test_identity.py.)"""

from __future__ import annotations

import re

from tests.helpers import bound_citizen, unique_code

GARBAGE_BODIES: list[bytes] = [
    b"",
    b"not json",
    b"{",
    b"[]",
    b"null",
    b"123",
    b'"text"',
    b'{"code": 12}',
    b'{"code": null, "name": [], "id_number": {}, "consent": "yes", "verify_id": 1}',
    b'{"code": "' + b"x" * 10_000 + b'"}',
    b'{"name": "\\u0000\\ud800", "id_number": "\\u202e", "consent": true}',
    '{"code": "码", "verify_id": "😀", "name": "张三", "id_number": "１５２９"}'.encode(),
    b"\xff\xfe\x00garbage",
    # issue 12: nested 20,000 deep, integers beyond BIGINT and of 5,000 digits, U+0000 in text
    b"[" * 20_000 + b"]" * 20_000,
    b'{"record_id": 9223372036854775808, "attachments": [1000000000000000000000000000000],'
    b' "user_id": 9223372036854775808, "policy_id": "\u0000", "reason": "\u0000\u0000\u0000"}',
    b'{"record_id": ' + b"9" * 5000 + b"}",
]
PATH_VALUES = ["0", "-1", "x" * 300, "%00", "..%2F..%2Fetc", "😀", "' OR 1=1 --"]


def api_routes(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    routes = []
    for route in app.router.routes:
        path = "/" + route.path.lstrip("/")
        if path.startswith("/docs"):
            continue
        for method in route.methods:
            if method in {"HEAD", "OPTIONS"}:
                continue
            routes.append((method, path))
    return sorted(set(routes))


def concrete_paths(path: str) -> list[str]:
    if "<" not in path:
        return [path]
    return [re.sub(r"<[^>]+>", value, path) for value in PATH_VALUES]


# Routes that change the caller's own standing whatever the body: swept with a citizen of their
# own instead of demo-citizen, whom later tests need as the demo data made them.
OWN_STANDING_ROUTES = {("DELETE", "/api/v1/me/identity")}


H5_PREFIXES = ("/m/", "/public/", "/r/", "/console")  # pages that answer refusals in HTML


async def test_every_endpoint_answers_bad_input_with_a_4xx_never_a_500(app, client, login):
    citizen = await login("demo-citizen")
    newcomer = await login(unique_code())
    reviewer = await login("demo-reviewer")
    routes = api_routes(app)
    assert len(routes) >= 11  # every endpoint of the foundation is in the sweep
    failures = []
    for method, template in routes:
        caller = citizen
        if (method, template) in OWN_STANDING_ROUTES:
            caller = (await bound_citizen(client, login))[0]
        for path in concrete_paths(template):
            for headers in ({}, caller, newcomer, reviewer, {"Authorization": "Bearer \x00"}):
                for body in GARBAGE_BODIES:
                    response = await client.request(
                        method,
                        path,
                        content=body,
                        headers=headers | {"content-type": "application/json"},
                        params={
                            "q": body.decode("utf-8", "replace")[:200],
                            "cursor": "abc",
                            "from": "9999-12-31",
                            "to": "9999-12-31",
                        },
                    )
                    if response.status_code >= 500:
                        failures.append((method, path, body[:40], response.status_code))
                    elif response.status_code >= 400 and path.startswith(H5_PREFIXES):
                        assert response.headers["content-type"].startswith("text/html"), path
                    elif response.status_code >= 400:
                        error = response.json()["error"]
                        assert error["code"] and error["message"], (method, path)
    assert failures == []


async def test_staff_and_admins_get_a_4xx_for_garbage_on_every_incentive_route(app, client, login):
    staff = await login("demo-staff")
    admin = await login("demo-admin")
    routes = [
        (method, path)
        for method, path in api_routes(app)
        if path.startswith(("/api/v1/scan", "/api/v1/venues", "/api/v1/rentals",
                            "/api/v1/incentives", "/api/v1/me/credit-code",
                            "/api/v1/me/redemptions", "/api/v1/admin/venues",
                            "/api/v1/admin/incentives"))
    ]  # fmt: skip
    assert len(routes) >= 18
    failures = []
    for method, template in routes:
        paths = concrete_paths(template)
        if "<venue_id" in template:
            paths += [template.replace("<venue_id:str>", "alxa-desert-park").split("<")[0]]
        for path in paths:
            for headers in (staff, admin):
                for body in GARBAGE_BODIES:
                    response = await client.request(
                        method,
                        path,
                        content=body,
                        headers=headers | {"content-type": "application/json"},
                        params={"from": "2026-02-30", "to": "x", "status": "?", "cursor": "abc",
                                "token": body.decode("utf-8", "replace")[:100],
                                "subject_uscc": "😀" * 18},
                    )  # fmt: skip
                    if response.status_code >= 500:
                        failures.append((method, path, body[:30], response.status_code))
                    elif response.status_code >= 400:
                        error = response.json()["error"]
                        assert error["code"] and error["message"], (method, path)
    assert failures == []
    assert PATH_VALUES  # the same hostile path values as the global sweep
