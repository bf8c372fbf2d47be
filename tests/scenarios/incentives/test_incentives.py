"""信易游 / 信易租 end to end (issue 5): policies and eligibility, the credit code, staff verify and
redeem with their limits, 信易租 applications, reports — against the real database and cache."""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from datetime import timedelta

import pytest

from credit.calendar_dates import today
from credit.models import SubjectOperator
from infra.errors import Conflict
from infra.models import AuditEntry
from qr import credit_code
from qr.offline_verifier import UnknownKey, parse
from scenarios.incentives.models import HolderRef, PolicyCounter, Redemption
from scenarios.incentives.programmes import ProgrammeError, Programmes, default_programmes
from scenarios.incentives.redemptions import claim, creator
from tests.helpers import bound_citizen, make_record, unique_code
from tests.scenarios.incentives.support import (
    HOTEL,
    PARK,
    SCENIC,
    altered,
    code_of,
    honour_holder,
    operator_of_enterprise,
    redeem,
    staff_of,
    verify,
)

# -- 1. venues and policies -----------------------------------------------------------------


def test_programmes_hold_the_demo_venues_and_policies():
    programmes = default_programmes()
    kinds = {v.kind for v in programmes.venues.values()}
    assert kinds == {"scenic_area", "hotel", "rental_provider"}
    ticket, free = programmes.policies["dp-ticket-a"], programmes.policies["dp-honour-free"]
    assert ticket.venue == free.venue == SCENIC and ticket.min_grade == "A"
    assert set(free.honours) == {"劳动模范", "先进工作者", "三八红旗手"} and free.min_grade is None
    assert programmes.policies["ht-deposit"].min_grade == "B"
    factory = programmes.policies["pk-factory"]
    assert factory.scenario == "rental" and factory.subject_kinds == (
        "enterprise",
        "individual_business",
    )
    assert all(p.per_day == 1 and p.per_visit == 1 for p in programmes.policies.values())
    assert all(p.valid_from <= p.valid_until for p in programmes.policies.values())


def test_a_wrong_programme_file_is_refused_with_the_place(tmp_path):
    path = tmp_path / "programmes.toml"
    path.write_text(
        '[[venues]]\nid = "v"\nname = "场所"\nkind = "scenic_area"\nscenario = "travel"\n'
        '[[policies]]\nid = "p"\nvenue = "nowhere"\ntitle = "t"\nbenefit = "b"\n'
        "valid_from = 2026-01-01\nvalid_until = 2026-12-31\n"
    )
    with pytest.raises(ProgrammeError, match="unknown venue"):
        Programmes.load(path)


# -- 2. eligibility with reasons ------------------------------------------------------------


def _by_id(holder_item: dict) -> dict:
    return {p["policy_id"]: p for p in holder_item["policies"]}


async def test_demo_citizen_sees_each_policy_with_its_reason(client, login):
    response = await client.get("/api/v1/incentives", headers=await login("demo-citizen"))
    assert response.status_code == 200, response.text
    [person] = response.json()["items"]
    assert person["holder"] == {"kind": "person", "name": "巴**"}
    assert person["level"]["grade"] == "B"
    policies = _by_id(person)
    assert "pk-factory" not in policies  # enterprises only
    assert (
        policies["dp-honour-free"]["eligible"]
        and "劳动模范" in policies["dp-honour-free"]["reason"]
    )
    assert policies["ht-deposit"]["eligible"]
    assert not policies["dp-ticket-a"]["eligible"]
    assert policies["dp-ticket-a"]["reason"] == "信用等级须为 A 及以上（当前为 B）"


async def test_serious_dishonesty_within_the_years_makes_an_honour_holder_ineligible(client, login):
    headers, _, subject_id = await honour_holder(client, login)
    before = _by_id((await client.get("/api/v1/incentives", headers=headers)).json()["items"][0])
    assert before["dp-honour-free"]["eligible"]
    await make_record(
        subject_id, record_class="serious_dishonesty", severity="serious",
        decided_on=today() - timedelta(days=400),
        publish_min_until=today() + timedelta(days=10),
        publish_max_until=today() + timedelta(days=700),
    )  # fmt: skip
    after = _by_id((await client.get("/api/v1/incentives", headers=headers)).json()["items"][0])
    assert not after["dp-honour-free"]["eligible"]
    assert after["dp-honour-free"]["reason"] == "3 年内有严重失信记录"


async def test_an_operator_sees_the_enterprise_policies_and_a_newcomer_none(client, login):
    headers, _, enterprise = await operator_of_enterprise(client, login)
    [item] = (await client.get("/api/v1/incentives", headers=headers)).json()["items"]
    assert item["holder"]["uscc"] == enterprise.uscc and item["holder"]["kind"] == "enterprise"
    policies = _by_id(item)
    assert set(policies) == {"pk-factory"} and policies["pk-factory"]["eligible"]
    assert policies["pk-factory"]["how"] == "申请"
    newcomer = await login(unique_code())
    assert (await client.get("/api/v1/incentives", headers=newcomer)).json()["items"] == []
    assert (await client.get("/api/v1/incentives")).status_code == 401


# -- 3. the credit code ----------------------------------------------------------------------


async def test_the_code_is_signed_short_lived_and_carries_nothing_personal(client, login, settings):
    headers, _, subject_id, _ = await bound_citizen(client, login)
    first, second = await code_of(client, headers), await code_of(client, headers)
    token = first["token"]
    code = parse(token)
    assert first["token"] != second["token"]  # a new one each call
    assert (
        code.nonce != parse(second["token"]).nonce and code.holder == parse(second["token"]).holder
    )
    assert 0 < code.exp - time.time() <= 60 and first["ttl"] <= 60
    assert code.kid == settings.code_signing_key_ring()[0]
    assert code.policies == ()  # sealed: which offers someone gets is about them
    assert "ht-deposit" not in token and "dp-" not in token
    opened = credit_code.signer_for(settings).open(code)
    assert set(opened.policies) == {"ht-deposit"}  # level B, no honour
    assert len(token) < 250  # fits a small QR code
    from credit.models import Subject

    subject = await Subject.get(id=subject_id)
    assert subject.name not in token and subject.id_number_index not in token
    assert str(subject_id) not in token.split(".")  # the holder is a random reference
    assert (await HolderRef.get(ref=code.holder)).subject_id == subject_id
    credit_code.signer_for(settings).check(code)  # the signature holds


async def test_the_code_png_decodes_to_the_token(client, login):
    import cv2
    import numpy as np

    headers, *_ = await bound_citizen(client, login)
    issued = await code_of(client, headers)
    token = issued["token"]
    assert issued["qr_png"].endswith(f"/api/v1/me/credit-code/qr.png?token={token}")
    png = await client.get(
        "/api/v1/me/credit-code/qr.png", headers=headers, params={"token": token}
    )
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    image = cv2.imdecode(np.frombuffer(png.content, np.uint8), cv2.IMREAD_GRAYSCALE)
    # OpenCV's classic detector misses a few per cent of version-9 codes that its Aruco-based
    # detector (and any phone) reads; either is a real decoder.
    decoded = cv2.QRCodeDetector().detectAndDecode(image)[0]
    decoded = decoded or cv2.QRCodeDetectorAruco().detectAndDecode(image)[0]
    assert decoded == token
    other = await login(unique_code())
    refused = await client.get(
        "/api/v1/me/credit-code/qr.png", headers=other, params={"token": token}
    )
    assert refused.status_code == 404


async def test_expired_tampered_and_foreign_key_codes_are_refused_with_their_own_code(
    client, login, settings
):
    holder, *_ = await bound_citizen(client, login)
    staff, _ = await staff_of(client, login, HOTEL)
    token = (await code_of(client, holder))["token"]
    ref = parse(token).holder
    assert (await verify(client, staff, token)).status_code == 200

    # A changed field (the sealed claims) with the original signature: tampered.
    parts = token.split(".")
    parts[5] = altered(parts[5])
    tampered = await verify(client, staff, ".".join(parts))
    assert tampered.status_code == 422 and tampered.json()["error"]["code"] == "CODE_TAMPERED"

    current, ring = settings.code_signing_key_ring()
    # Signed by a key the service does not know: under its key id tampered, else unknown key.
    foreign = credit_code.CodeSigner(current, {current: b"\x07" * 32})
    forged = foreign.issue(ref, ["ht-deposit"]).token
    refused = await verify(client, staff, forged)
    assert refused.json()["error"]["code"] == "CODE_TAMPERED"
    stranger = credit_code.CodeSigner("other9", {"other9": b"\x07" * 32}).issue(ref, []).token
    refused = await verify(client, staff, stranger)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "CODE_UNKNOWN_KEY"

    # Genuinely ours but past its expiry.
    ours = credit_code.CodeSigner(current, ring)
    expired = ours.issue(ref, ["ht-deposit"], now=time.time() - 120).token
    refused = await verify(client, staff, expired)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "CODE_EXPIRED"
    garbage = await verify(client, staff, "C1.not-a-code")
    assert garbage.status_code == 422 and garbage.json()["error"]["code"] == "CODE_MALFORMED"


async def test_a_code_whose_issuance_record_is_gone_is_checked_by_its_signature(
    client, login, runtime
):
    """E.g. Redis restarted without AOF: the signature path still accepts it."""
    holder, *_ = await bound_citizen(client, login)
    staff, _ = await staff_of(client, login, HOTEL)
    token = (await code_of(client, holder))["token"]
    await runtime.redis.delete(f"{runtime.keys.prefix}ccode:{parse(token).nonce}")
    checked = await verify(client, staff, token)
    assert checked.status_code == 200, checked.text
    assert [p["policy_id"] for p in checked.json()["eligible"]] == ["ht-deposit"]


def test_rotation_with_overlap_signs_with_the_first_key_and_verifies_with_all(settings):
    old, new = _b64(b"\x11" * 32), _b64(b"\x22" * 32)
    before = settings.model_copy(update={"code_signing_keys": f"k1:{old}"})
    during = settings.model_copy(update={"code_signing_keys": f"k2:{new},k1:{old}"})
    after = settings.model_copy(update={"code_signing_keys": f"k2:{new}"})
    issued_before = credit_code.signer_for(before).issue("A" * 16, ["ht-deposit"]).token
    signer = credit_code.signer_for(during)
    assert parse(signer.issue("A" * 16, []).token).kid == "k2"
    signer.check(parse(issued_before))  # still verifies while k1 is listed
    assert {k["kid"] for k in signer.public_keys()} == {"k1", "k2"}
    with pytest.raises(UnknownKey):
        credit_code.signer_for(after).check(parse(issued_before))


def _b64(raw: bytes) -> str:
    import base64

    return base64.b64encode(raw).decode()


# -- 4. verify and redeem ------------------------------------------------------------------------


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


async def test_only_staff_of_the_policys_venue_may_verify_or_redeem(client, login):
    holder, *_ = await honour_holder(client, login)
    token = (await code_of(client, holder))["token"]
    hotel_staff, _ = await staff_of(client, login, HOTEL)
    citizen = await login("demo-citizen")
    # A citizen is no staff; staff of the hotel cannot redeem the scenic area's policy.
    refused = await verify(client, citizen, token)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "ROLE_REQUIRED"
    assert (await redeem(client, citizen, token, "dp-honour-free")).status_code == 403
    refused = await redeem(client, hotel_staff, token, "dp-honour-free")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "NOT_VENUE_STAFF"
    refused = await verify(client, hotel_staff, token, venue_id=SCENIC)
    assert refused.status_code == 403
    # At the hotel, verify shows only the hotel's policies.
    hotel_view = (await verify(client, hotel_staff, token)).json()
    assert [p["policy_id"] for p in hotel_view["eligible"]] == ["ht-deposit"]
    assert hotel_view["ineligible"] == []
    # A venue_staff user with no venue at all.
    from infra.models import User

    lone = await login(unique_code("lone"))
    user = await User.get(id=(await client.get("/api/v1/me", headers=lone)).json()["id"])
    user.roles = ["citizen", "venue_staff"]
    await user.save()
    lone = await login(user.openid.replace("demo-openid-", "demo-"))
    refused = await verify(client, lone, token)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "NOT_VENUE_STAFF"
    assert (await redeem(client, hotel_staff, token, "no-such-policy")).status_code == 404
    # No redemption was made by any of these.
    assert not await Redemption.filter(token_nonce=parse(token).nonce).exists()


async def test_redeem_keeps_the_limits_and_the_idempotency_key(client, login):
    holder, _, subject_id = await honour_holder(client, login)
    staff = await login("demo-staff")
    token = (await code_of(client, holder))["token"]
    key = f"gate1-{uuid.uuid4().hex}"
    first = await redeem(client, staff, token, "dp-honour-free", key)
    assert first.status_code == 201, first.text
    again = await redeem(client, staff, token, "dp-honour-free", key)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again.json()["replayed"] is True
    second = await redeem(client, staff, token, "dp-honour-free")
    assert second.status_code == 409 and second.json()["error"]["code"] == "ALREADY_REDEEMED"
    # A new code the same day: the per-day limit.
    fresh = (await code_of(client, holder))["token"]
    third = await redeem(client, staff, fresh, "dp-honour-free")
    assert third.status_code == 409 and third.json()["error"]["code"] == "ALREADY_REDEEMED"
    # Verify now says so, from the cache of today's use.
    view = (await verify(client, staff, fresh)).json()
    assert {"policy_id": "dp-honour-free", "title": "荣誉称号获得者免费游览",
            "reason": "今日已享受过该优惠"} in view["ineligible"]  # fmt: skip
    # Not eligible: the A-level discount.
    refused = await redeem(client, staff, fresh, "dp-ticket-a")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "NOT_ELIGIBLE"
    # The same key for another redemption is refused, not silently replayed.
    reused = await redeem(client, staff, fresh, "dp-honour-free", key)
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await Redemption.filter(holder_id=subject_id).count() == 1
    mine = (await client.get("/api/v1/me/redemptions", headers=holder)).json()["items"]
    assert [r["id"] for r in mine] == [first.json()["id"]]


async def test_a_hundred_concurrent_redeems_of_one_code_make_one_redemption(client, login):
    holder, _, subject_id = await honour_holder(client, login)
    staff = await login("demo-staff")
    token = (await code_of(client, holder))["token"]
    responses = await asyncio.gather(
        *(redeem(client, staff, token, "dp-honour-free") for _ in range(100))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1 and statuses.count(409) == 99, statuses
    assert all(
        r.json()["error"]["code"] == "ALREADY_REDEEMED" for r in responses if r.status_code == 409
    )
    assert await Redemption.filter(holder_id=subject_id, policy_id="dp-honour-free").count() == 1


async def test_concurrent_retries_of_one_idempotency_key_return_one_redemption(client, login):
    holder, _, subject_id = await honour_holder(client, login)
    staff = await login("demo-staff")
    token = (await code_of(client, holder))["token"]
    key = f"retry-{uuid.uuid4().hex}"
    responses = await asyncio.gather(
        *(redeem(client, staff, token, "dp-honour-free", key) for _ in range(20))
    )
    assert {r.status_code for r in responses} <= {200, 201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert await Redemption.filter(holder_id=subject_id).count() == 1


async def test_the_total_quota_stops_at_its_number(client, login):
    base = default_programmes().policies["dp-honour-free"]
    policy = base.__class__(**{**base.__dict__, "id": f"q{uuid.uuid4().hex[:12]}", "quota": 1})
    holders = [(await honour_holder(client, login))[2] for _ in range(2)]
    on = today()

    def values(holder_id: int, nonce: str) -> dict:
        return {
            "policy_id": policy.id, "venue_id": policy.venue, "scenario": policy.scenario,
            "holder_id": holder_id, "status": "redeemed", "source": "scan",
            "token_nonce": nonce, "day": on, "idem_key": f"{policy.id}:{nonce}",
        }  # fmt: skip

    await claim(policy, holders[0], "n1", on, creator(values(holders[0], "n1")))
    with pytest.raises(Conflict) as refused:
        await claim(policy, holders[1], "n2", on, creator(values(holders[1], "n2")))
    assert refused.value.code == "QUOTA_EXHAUSTED"
    assert (await PolicyCounter.get(policy_id=policy.id)).used == 1
    assert await Redemption.filter(policy_id=policy.id).count() == 1
    with pytest.raises(Conflict) as refused:  # the holder's own daily limit comes first
        await claim(policy, holders[0], "n3", on, creator(values(holders[0], "n3")))
    assert refused.value.code == "ALREADY_REDEEMED"


# -- 6. 信易租 ---------------------------------------------------------------------------------


async def test_an_enterprise_applies_for_a_rental_and_the_provider_confirms(client, login):
    operator, _, enterprise = await operator_of_enterprise(client, login)
    park_staff, _ = await staff_of(client, login, PARK)
    scenic_staff = await login("demo-staff")
    body = {"policy_id": "pk-factory", "subject_uscc": enterprise.uscc, "note": "租用 3 号厂房"}
    applied = await client.post("/api/v1/rentals", headers=operator, json=body)
    assert applied.status_code == 201, applied.text
    application = applied.json()
    assert application["status"] == "pending" and "信用等级 B" in application["reason"]
    twice = await client.post("/api/v1/rentals", headers=operator, json=body)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "APPLICATION_EXISTS"

    queue = (
        await client.get(f"/api/v1/venues/{PARK}/rentals?status=pending", headers=park_staff)
    ).json()
    assert application["id"] in [i["id"] for i in queue["items"]]
    mine = next(i for i in queue["items"] if i["id"] == application["id"])
    assert mine["holder"]["name"] == enterprise.name and mine["grade_at_application"] == "B"
    assert (
        await client.get(f"/api/v1/venues/{PARK}/rentals", headers=scenic_staff)
    ).status_code == 403
    decide = f"/api/v1/rentals/{application['id']}/decision"
    refused = await client.post(decide, headers=scenic_staff, json={"decision": "confirm"})
    assert refused.status_code == 403
    assert (
        await client.post(decide, headers=operator, json={"decision": "confirm"})
    ).status_code == 403

    confirmed = await client.post(decide, headers=park_staff, json={"decision": "confirm"})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "redeemed" and confirmed.json()["source"] == "rental"
    again = await client.post(decide, headers=park_staff, json={"decision": "decline"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "ALREADY_DECIDED"
    # A second application the same day is accepted, but confirming it passes the daily limit.
    second = (await client.post("/api/v1/rentals", headers=operator, json=body)).json()
    over = await client.post(
        f"/api/v1/rentals/{second['id']}/decision", headers=park_staff, json={"decision": "confirm"}
    )
    assert over.status_code == 409 and over.json()["error"]["code"] == "ALREADY_REDEEMED"
    declined = await client.post(
        f"/api/v1/rentals/{second['id']}/decision", headers=park_staff,
        json={"decision": "decline", "note": "本月厂房已满"},
    )  # fmt: skip
    assert declined.json()["status"] == "declined"
    row = await Redemption.get(id=application["id"])
    assert row.holder_id == enterprise.id and row.day == today()  # type: ignore[attr-defined]


async def test_rentals_are_for_operators_and_rental_policies_only(client, login, settings):
    operator, _, enterprise = await operator_of_enterprise(client, login)
    stranger = await login(unique_code())
    body = {"policy_id": "pk-factory", "subject_uscc": enterprise.uscc}
    refused = await client.post("/api/v1/rentals", headers=stranger, json=body)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "NOT_SUBJECT_OPERATOR"
    person, *_ = await bound_citizen(client, login)
    refused = await client.post("/api/v1/rentals", headers=person, json={"policy_id": "pk-factory"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "NOT_ELIGIBLE"
    refused = await client.post(
        "/api/v1/rentals", headers=operator, json={"policy_id": "ht-deposit"}
    )
    assert refused.json()["error"]["code"] == "NOT_A_RENTAL_POLICY"
    # An enterprise's own credit code, through its operator.
    token = (await code_of(client, operator, subject_uscc=enterprise.uscc))["token"]
    assert credit_code.signer_for(settings).open(parse(token)).policies == ("pk-factory",)
    assert await SubjectOperator.exists(subject_id=enterprise.id)


# -- 7. reports --------------------------------------------------------------------------------


async def _report(client, headers, venue=SCENIC):  # type: ignore[no-untyped-def]
    return await client.get(f"/api/v1/venues/{venue}/report", headers=headers)


async def test_reports_count_redemptions_and_credit_checks_and_export_csv(client, login):
    staff = await login("demo-staff")
    before = (await _report(client, staff)).json()["totals"]
    holder, *_ = await honour_holder(client, login)
    token = (await code_of(client, holder))["token"]
    assert (await verify(client, staff, token)).status_code == 200
    assert (await redeem(client, staff, token, "dp-honour-free")).status_code == 201
    after = await _report(client, staff)
    assert after.status_code == 200, after.text
    totals = after.json()["totals"]
    assert totals["redemptions"] == before["redemptions"] + 1
    assert totals["credit_checks"] == before["credit_checks"] + 1
    day = today().isoformat()
    row = next(
        r
        for r in after.json()["redemptions"]
        if r["day"] == day and r["policy_id"] == "dp-honour-free"
    )
    assert row["venue_id"] == SCENIC and row["redemptions"] >= 1

    exported = await client.get(f"/api/v1/venues/{SCENIC}/report.csv", headers=staff)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    text = exported.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][0] == "日期" and rows[0][-1] == "信用核查次数"
    day_total = next(r for r in rows if r[0] == day and r[4] == "当日合计")
    assert int(day_total[8]) >= 1 and int(day_total[5]) >= 1

    hotel_staff, _ = await staff_of(client, login, HOTEL)
    assert (await _report(client, hotel_staff)).status_code == 403
    assert (await _report(client, await login("demo-citizen"))).status_code == 403
    admin = await login("demo-admin")
    assert (await _report(client, admin)).status_code == 200
    everything = await client.get("/api/v1/admin/incentives/report.csv", headers=admin)
    assert everything.status_code == 200
    assert (await client.get("/api/v1/admin/incentives/report", headers=staff)).status_code == 403
    bad = await client.get(f"/api/v1/venues/{SCENIC}/report?from=2026-13-01", headers=staff)
    assert bad.status_code == 422
    reversed_range = await client.get(
        f"/api/v1/venues/{SCENIC}/report?from=2026-05-02&to=2026-05-01", headers=staff
    )
    assert reversed_range.status_code == 422
