"""Zones from config and the street credit index (scenarios/merchants/street_index.py)."""

from __future__ import annotations

from scenarios.merchants.rules import default_rules
from scenarios.merchants.street_index import take_snapshot
from tests.scenarios.merchants.support import active_merchant


async def test_zones_come_from_config_with_their_index(client):
    zones = (await client.get("/api/v1/zones")).json()["items"]
    by_id = {zone["id"]: zone for zone in zones}
    assert set(by_id) == set(default_rules().zones)
    assert by_id["dingyuanying"]["kind"] == "street" and by_id["dingyuanying"]["region"] == "152921"
    assert by_id["ejina-huyang"]["kind"] == "scenic_area"
    assert 0 <= by_id["dingyuanying"]["index"] <= 100  # the demo street has active shops
    index = (await client.get("/api/v1/zones/dingyuanying/index")).json()
    assert index["parts"]["merchants"] >= 2 and index["history"][-1]["day"] == index["as_of"]
    assert (await client.get("/api/v1/zones/nowhere/index")).status_code == 404


async def test_street_index_follows_the_documented_formula(client, login):
    await active_merchant(client, login, zone_id="tengger-park")
    snapshot = await take_snapshot("tengger-park", replace=True)
    parts, formula = snapshot.parts, default_rules().index
    expected = (
        100
        * (
            formula.score_weight * parts["average_score"] / 1000
            + formula.good_weight * parts["good_share"]
            + formula.commitment_weight * parts["commitment_share"]
        )
        - parts["complaint_penalty"]
    )
    assert abs(float(snapshot.value) - max(0, min(100, expected))) < 0.05
    again = await take_snapshot("tengger-park")
    assert again.id == snapshot.id  # one snapshot per zone and day
