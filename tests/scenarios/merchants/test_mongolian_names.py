"""A shop's Mongolian name (issue 15): optional at registration, checked to be Mongolian script,
corrected by staff only, and shown on the plate's views at once."""

from __future__ import annotations

from tests.helpers import bound_citizen, represented_enterprise
from tests.scenarios.merchants.support import SHOP, active_merchant, scan

NAME_MN = "ᠲᠡᠮᠡᠭᠡᠨ ᠬᠣᠩᠬᠣ"


async def test_registration_refuses_a_name_mn_that_is_not_mongolian(client, login):
    operator, _, person_id, _ = await bound_citizen(client, login)
    enterprise = await represented_enterprise(client, operator, person_id)
    refused = await client.post(
        "/api/v1/merchants",
        headers=operator,
        json=SHOP | {"uscc": enterprise.uscc, "name_mn": "驼铃餐厅"},
    )
    assert refused.status_code == 422
    assert "蒙古文" in refused.json()["error"]["fields"]["name_mn"]
    without = await client.post(
        "/api/v1/merchants", headers=operator, json=SHOP | {"uscc": enterprise.uscc}
    )
    assert without.status_code == 201 and without.json()["name_mn"] is None


async def test_staff_correct_the_name_and_the_plate_follows(client, login):
    operator, merchant = await active_merchant(client, login, name_mn=NAME_MN)
    assert (await scan(client, merchant["code"]))["merchant"]["name_mn"] == NAME_MN
    path = f"/api/v1/admin/merchants/{merchant['id']}/name-mn"
    corrected = "ᠲᠡᠮᠡᠭᠡᠨ ᠬᠣᠩᠬᠣ ᠬᠣᠭᠣᠯᠠ ᠶᠢᠨ ᠭᠠᠵᠠᠷ"
    # The operator, another citizen and nobody may not.
    assert (
        await client.put(path, headers=operator, json={"name_mn": corrected})
    ).status_code == 403
    stranger = await login("demo-citizen")
    assert (
        await client.put(path, headers=stranger, json={"name_mn": corrected})
    ).status_code == 403
    assert (await client.put(path, json={"name_mn": corrected})).status_code == 401
    admin = await login("demo-admin")
    done = await client.put(path, headers=admin, json={"name_mn": corrected})
    assert done.status_code == 200
    assert done.json()["name_mn"] == corrected and done.json()["name_mn_by"] == "staff"
    assert (await scan(client, merchant["code"]))["merchant"]["name_mn"] == corrected  # not stale
    page = await client.get(f"/m/{merchant['code']}")
    assert corrected in page.text and 'lang="mn-Mong"' in page.text
    bad = await client.put(path, headers=admin, json={"name_mn": "abc"})
    assert bad.status_code == 422
    unknown = await client.put(
        "/api/v1/admin/merchants/999999/name-mn", headers=admin, json={"name_mn": corrected}
    )
    assert unknown.status_code == 404
    cleared = await client.put(path, headers=admin, json={"name_mn": ""})
    assert cleared.status_code == 200 and cleared.json()["name_mn"] is None
