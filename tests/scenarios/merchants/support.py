"""What the merchant tests share: a shop to register, an approved merchant, a scan."""

from __future__ import annotations

from tests.helpers import bound_citizen, represented_enterprise

SHOP = {
    "name": "戈壁驿站餐厅",
    "zone_id": "dingyuanying",
    "address": "定远营古城东街 1 号",
    "category": "餐饮",
}


async def active_merchant(client, login, **overrides):
    """A merchant registered by a new operator and approved by staff: (operator headers, body)."""
    operator, _, person_id, _ = await bound_citizen(client, login)
    enterprise = await represented_enterprise(client, operator, person_id)
    created = await client.post(
        "/api/v1/merchants", headers=operator, json=SHOP | {"uscc": enterprise.uscc} | overrides
    )
    assert created.status_code == 201, created.text
    admin = await login("demo-admin")
    approved = await client.post(
        f"/api/v1/admin/merchants/{created.json()['id']}/decision",
        headers=admin,
        json={"decision": "approve"},
    )
    assert approved.status_code == 200, approved.text
    return operator, approved.json()


async def scan(client, code):
    response = await client.get(f"/api/v1/merchant-codes/{code}")
    assert response.status_code == 200, response.text
    return response.json()
