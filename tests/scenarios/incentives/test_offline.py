"""Offline venues (scenarios/incentives/offline.py, issue 5 item 5): the bundle a staff device
keeps, and the offline sync that reconciles what staff devices redeemed."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from qr import credit_code
from qr.offline_verifier import CodeError, Ledger, OfflineVerifier
from scenarios.incentives.models import Redemption
from tests.helpers import bound_citizen
from tests.scenarios.incentives.support import (
    HOTEL,
    SCENIC,
    altered,
    bundle_of,
    code_of,
    honour_holder,
    redeem,
    staff_of,
)


async def sync(client, staff, items):  # type: ignore[no-untyped-def]
    response = await client.post(
        "/api/v1/scan/offline-sync", headers=staff, json={"redemptions": items}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_bundle_has_keys_policies_revocations_and_validity(client, login, settings):
    staff = await login("demo-staff")
    bundle = await bundle_of(client, staff)
    _, ring = settings.code_signing_key_ring()
    assert [k["kid"] for k in bundle["keys"]] == list(ring)
    assert all(k["alg"] == "Ed25519" and len(k["public_key"]) == 43 for k in bundle["keys"])
    assert {p["policy_id"] for p in bundle["policies"]} == {"dp-ticket-a", "dp-honour-free"}
    assert isinstance(bundle["revoked"], list)
    issued = datetime.fromisoformat(bundle["issued_at"])
    valid_until = datetime.fromisoformat(bundle["valid_until"])
    assert valid_until - issued == timedelta(hours=72)
    hotel_staff, _ = await staff_of(client, login, HOTEL)
    refused = await client.get(f"/api/v1/venues/{SCENIC}/offline-bundle", headers=hotel_staff)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "NOT_VENUE_STAFF"
    citizen = await login("demo-citizen")
    assert (
        await client.get(f"/api/v1/venues/{SCENIC}/offline-bundle", headers=citizen)
    ).status_code == 403
    assert (
        await client.get("/api/v1/venues/nowhere/offline-bundle", headers=staff)
    ).status_code == 404


async def test_two_gates_offline_give_one_accepted_and_one_duplicate(client, login):
    holder, _, subject_id = await honour_holder(client, login)
    gate_a, _ = await staff_of(client, login, SCENIC)
    gate_b = await login("demo-staff")
    bundle = await bundle_of(client, gate_a)
    ledger_a = Ledger(OfflineVerifier(bundle), device_id="gate-a")
    ledger_b = Ledger(OfflineVerifier(bundle), device_id="gate-b")
    # The holder shows a code at gate A, then a fresh one at gate B: each device alone sees
    # nothing wrong (no network).
    first = (await code_of(client, holder))["token"]
    ledger_a.redeem(ledger_a.verifier.verify(first), "dp-honour-free")
    second = (await code_of(client, holder))["token"]
    ledger_b.redeem(ledger_b.verifier.verify(second), "dp-honour-free")
    # The device keeps its own limit: the same code twice at gate A.
    with pytest.raises(CodeError):
        ledger_a.redeem(ledger_a.verifier.verify(first), "dp-honour-free")

    synced_a = await sync(client, gate_a, ledger_a.sync_items())
    synced_b = await sync(client, gate_b, ledger_b.sync_items())
    assert [i["status"] for i in synced_a["items"]] == ["accepted"]
    assert [i["status"] for i in synced_b["items"]] == ["duplicate"]
    assert synced_b["items"][0]["code"] == "ALREADY_REDEEMED"
    assert synced_a["summary"] == {"accepted": 1, "duplicate": 0, "rejected": 0}
    rows = await Redemption.filter(holder_id=subject_id)
    assert len(rows) == 1 and rows[0].source == "offline" and rows[0].device_id == "gate-a"
    # A device re-sending what was already accepted gets the same redemption back.
    again = await sync(client, gate_a, ledger_a.sync_items())
    assert again["items"][0]["status"] == "accepted" and again["items"][0]["replayed"] is True
    assert again["items"][0]["redemption"]["id"] == rows[0].id
    # Online, the holder has had it today.
    online = await redeem(
        client, gate_b, (await code_of(client, holder))["token"], "dp-honour-free"
    )
    assert online.status_code == 409
    # The offline check is among the reads the holder sees.
    queries = (await client.get("/api/v1/me/credit/queries", headers=holder)).json()["items"]
    assert any(q["channel"] == "offline" and q["actor_kind"] == "staff" for q in queries)


async def test_a_sync_past_the_bundles_validity_is_flagged(client, login, settings):
    holder, _, subject_id = await honour_holder(client, login)
    staff = await login("demo-staff")
    signer = credit_code.signer_for(settings)
    now = int(time.time())
    stale = signer.bundle_id(SCENIC, now - 4 * 86400, now - 3600)  # expired an hour ago
    token = (await code_of(client, holder))["token"]
    item = {
        "token": token,
        "policy_id": "dp-honour-free",
        "idempotency_key": f"stale-{uuid.uuid4().hex}",
        "redeemed_at": datetime.now(UTC).isoformat(),
        "bundle_id": stale,
        "device_id": "gate-old",
    }
    result = (await sync(client, staff, [item]))["items"][0]
    assert result["status"] == "accepted" and result["flagged"] == "BUNDLE_EXPIRED"
    row = await Redemption.get(holder_id=subject_id)
    assert row.flag == "BUNDLE_EXPIRED"


async def test_offline_sync_rejects_what_it_cannot_trust(client, login, settings):
    holder, *_ = await honour_holder(client, login)
    citizen, *_ = await bound_citizen(client, login)
    staff = await login("demo-staff")
    hotel_staff, _ = await staff_of(client, login, HOTEL)
    bundle = await bundle_of(client, staff)
    token = (await code_of(client, holder))["token"]
    now = datetime.now(UTC)

    def item(**changes) -> dict:  # type: ignore[no-untyped-def]
        base = {
            "token": token,
            "policy_id": "dp-honour-free",
            "idempotency_key": f"k-{uuid.uuid4().hex}",
            "redeemed_at": now.isoformat(),
            "bundle_id": bundle["bundle_id"],
        }
        return base | changes

    parts = token.split(".")
    parts[5] = altered(parts[5])
    signed_part, _, signature = bundle["bundle_id"].rpartition(".")
    forged_bundle = signed_part + "." + altered(signature)
    plain = (await code_of(client, citizen))["token"]
    results = (
        await sync(
            client,
            staff,
            [
                item(token=".".join(parts), policy_id="dp-ticket-a"),
                item(bundle_id=forged_bundle),
                item(redeemed_at=(now + timedelta(hours=1)).isoformat()),
                item(redeemed_at=(now - timedelta(hours=1)).isoformat()),
                item(token=plain),
                item(policy_id="ht-deposit"),
            ],
        )
    )["items"]
    codes = [r.get("code") for r in results]
    assert [r["status"] for r in results] == ["rejected"] * 6
    assert codes == [
        "CODE_TAMPERED",
        "BUNDLE_INVALID",
        "CLOCK_AHEAD",
        "CODE_EXPIRED",
        "NOT_ELIGIBLE",
        "NOT_VENUE_STAFF",
    ]
    assert all(r["reason"] for r in results)
    # Staff of another venue cannot sync this venue's redemptions; citizens cannot sync at all.
    other = (await sync(client, hotel_staff, [item()]))["items"][0]
    assert other["status"] == "rejected" and other["code"] == "NOT_VENUE_STAFF"
    refused = await client.post(
        "/api/v1/scan/offline-sync", headers=citizen, json={"redemptions": [item()]}
    )
    assert refused.status_code == 403
    bad = await client.post(
        "/api/v1/scan/offline-sync",
        headers=staff,
        json={"redemptions": [item(redeemed_at="yesterday")]},
    )
    assert bad.status_code == 422 and "redemptions.0.redeemed_at" in bad.json()["error"]["fields"]
