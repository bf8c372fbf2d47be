"""The personal credit code (scenarios/incentives/codes.py): issued signed, short-lived and
impersonal, its PNG, and a scanned code checked with its own error for each way it is wrong."""

from __future__ import annotations

import time

from qr import credit_code
from qr.offline_verifier import parse
from scenarios.incentives.models import HolderRef
from tests.helpers import bound_citizen, decode_qr, unique_code
from tests.scenarios.incentives.support import HOTEL, altered, code_of, staff_of, verify


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
    headers, *_ = await bound_citizen(client, login)
    issued = await code_of(client, headers)
    token = issued["token"]
    assert issued["qr_png"].endswith(f"/api/v1/me/credit-code/qr.png?token={token}")
    png = await client.get(
        "/api/v1/me/credit-code/qr.png", headers=headers, params={"token": token}
    )
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert decode_qr(png.content) == token
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
