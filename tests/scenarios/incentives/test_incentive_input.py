"""The incentive endpoints as venue staff and admins call them, with garbage: always a 4xx with a
Chinese message, never a 500 (tests/test_security.py sweeps as citizens and reviewers)."""

from __future__ import annotations

from tests.test_security import GARBAGE_BODIES, PATH_VALUES, api_routes, concrete_paths


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
