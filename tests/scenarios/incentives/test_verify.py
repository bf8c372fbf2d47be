"""`POST /api/v1/scan/verify` (scenarios/incentives/verify.py): what staff see of a holder, and
every successful check audited once."""

from __future__ import annotations

import time

from infra.models import AuditEntry
from qr import credit_code
from qr.offline_verifier import parse
from scenarios.incentives.programmes import default_programmes
from tests.scenarios.incentives.support import (
    HOTEL,
    SCENIC,
    code_of,
    honour_holder,
    staff_of,
    verify,
)


async def test_verify_shows_masked_name_level_and_offers_and_the_holder_sees_the_check(
    client, login
):
    holder, _, subject_id = await honour_holder(client, login, "三八红旗手")
    staff = await login("demo-staff")
    me = (await client.get("/api/v1/me", headers=staff)).json()
    assert {"id": SCENIC, "name": default_programmes().venues[SCENIC].name} in me["venues"]
    token = (await code_of(client, holder))["token"]
    checked = await verify(client, staff, token)
    assert checked.status_code == 200, checked.text
    body = checked.json()
    assert body["holder"] == {"name_masked": "乌*", "level": "B", "level_label": "良"}
    assert body["eligible"] == [
        {
            "policy_id": "dp-honour-free",
            "title": "荣誉称号获得者免费游览",
            "benefit": default_programmes().policies["dp-honour-free"].benefit,
        }
    ]
    assert body["ineligible"] == [
        {"policy_id": "dp-ticket-a", "title": "A级信用游客门票八折",
         "reason": "信用等级须为 A 及以上（当前为 B）"}
    ]  # fmt: skip
    assert "records" not in body and "factors" not in body and "score" not in str(body)
    queries = (await client.get("/api/v1/me/credit/queries", headers=holder)).json()["items"]
    staff_reads = [q for q in queries if q["actor_kind"] == "staff"]
    assert len(staff_reads) == 1
    assert staff_reads[0]["actor_org"] == default_programmes().venues[SCENIC].name
    entry = await AuditEntry.filter(subject_id=subject_id, actor_kind="staff").first()
    assert entry.action == "credit.read" and entry.actor_role == "venue_staff"


async def test_every_successful_check_is_audited_once_and_a_refused_one_never(
    client, login, settings
):
    holder, *_ = await honour_holder(client, login)
    staff, _ = await staff_of(client, login, SCENIC)
    two_venues, _ = await staff_of(client, login, SCENIC, HOTEL)
    token = (await code_of(client, holder))["token"]
    # First scan of this staff member (venue unknown to the worker), then the known-venue path,
    # then an explicit venue; a staff member of two venues must name one.
    for headers, extra in ((staff, {}), (staff, {}), (staff, {"venue_id": SCENIC}),
                           (two_venues, {"venue_id": HOTEL})):  # fmt: skip
        assert (await verify(client, headers, token, **extra)).status_code == 200
    unnamed = await verify(client, two_venues, token)
    assert unnamed.status_code == 422 and "venue_id" in unnamed.json()["error"]["fields"]
    current, ring = settings.code_signing_key_ring()
    expired = credit_code.CodeSigner(current, ring).issue(
        parse(token).holder, ["dp-honour-free"], now=time.time() - 120
    )
    assert (await verify(client, staff, expired.token)).status_code == 422
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert (await verify(client, staff, tampered)).status_code == 422
    queries = (await client.get("/api/v1/me/credit/queries", headers=holder)).json()["items"]
    assert len([q for q in queries if q["actor_kind"] == "staff"]) == 4
