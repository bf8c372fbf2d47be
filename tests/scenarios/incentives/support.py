"""What the incentive tests share: staff of a venue, an operated enterprise, codes, scans, the
offline bundle."""

from __future__ import annotations

import json
import uuid

from tests.helpers import bound_citizen, make_enterprise, unique_code

SCENIC = "alxa-desert-park"
HOTEL = "bayan-hotel"
PARK = "hi-tech-park"


async def staff_of(client, login, *venues: str):  # type: ignore[no-untyped-def]
    """A new user made staff of these venues by the admin: (headers, user id)."""
    headers = await login(unique_code("staff"))
    user_id = (await client.get("/api/v1/me", headers=headers)).json()["id"]
    admin = await login("demo-admin")
    for venue in venues:
        added = await client.post(
            f"/api/v1/admin/venues/{venue}/staff", headers=admin, json={"user_id": user_id}
        )
        assert added.status_code == 200, added.text
    return headers, user_id


async def operator_of_enterprise(client, login):  # type: ignore[no-untyped-def]
    """A new user operating a fresh enterprise by an approved power of attorney: (headers, user
    id, enterprise subject). The request and its review are tests/credit/test_enterprises.py's."""
    from credit.models import OperatorBasis, SubjectOperator

    headers = await login(unique_code("operator"))
    user_id = (await client.get("/api/v1/me", headers=headers)).json()["id"]
    enterprise = await make_enterprise()
    await SubjectOperator.create(
        user_id=user_id, subject_id=enterprise.id, basis=OperatorBasis.POWER_OF_ATTORNEY
    )
    return headers, user_id, enterprise


async def honour_holder(client, login, title: str = "劳动模范"):  # type: ignore[no-untyped-def]
    """A bound citizen with an honour: eligible for the scenic area's free entry."""
    from tests.helpers import make_record

    headers, user_id, subject_id, _ = await bound_citizen(client, login)
    await make_record(
        subject_id, record_class="positive", type="honour", title=f"荣誉称号：{title}",
        severity=None, publish_min_until=None, publish_max_until=None,
        details={"荣誉称号": title},
    )  # fmt: skip
    return headers, user_id, subject_id


async def code_of(client, headers, **params) -> dict:  # type: ignore[no-untyped-def]
    response = await client.get("/api/v1/me/credit-code", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def bundle_of(client, staff, venue=SCENIC) -> dict:  # type: ignore[no-untyped-def]
    response = await client.get(f"/api/v1/venues/{venue}/offline-bundle", headers=staff)
    assert response.status_code == 200, response.text
    return response.json()


async def verify(client, staff, token: str, **extra):  # type: ignore[no-untyped-def]
    response = await client.post(
        "/api/v1/scan/verify", headers=staff, json={"token": token} | extra
    )
    if response.status_code == 200:  # assembled from parts: still exactly what json_body writes
        compact = json.dumps(response.json(), ensure_ascii=False, separators=(",", ":"))
        assert response.content == compact.encode()
    return response


async def redeem(client, staff, token: str, policy_id: str, key: str | None = None):  # type: ignore[no-untyped-def]
    return await client.post(
        "/api/v1/scan/redeem",
        headers=staff,
        json={
            "token": token,
            "policy_id": policy_id,
            "idempotency_key": key or f"test-{uuid.uuid4().hex}",
        },
    )


def altered(field: str) -> str:
    """A base64url field with its first character changed: still well-formed, no longer what
    was signed (or sealed)."""
    return ("B" if field[0] == "A" else "A") + field[1:]
