"""The reference offline verifier (qr/offline_verifier.py) against the server's own tokens and
bundles."""

from __future__ import annotations

import time

import pytest

from qr import credit_code
from qr.offline_verifier import (
    BundleExpired,
    CodeError,
    Expired,
    OfflineVerifier,
    Revoked,
    Tampered,
    UnknownKey,
    parse,
)
from tests.scenarios.incentives.support import bundle_of, code_of, honour_holder


async def test_the_reference_verifier_accepts_server_codes_and_refuses_bad_ones(
    client, login, settings
):
    holder, *_ = await honour_holder(client, login)
    staff = await login("demo-staff")
    verifier = OfflineVerifier(await bundle_of(client, staff))
    token = (await code_of(client, holder))["token"]
    result = verifier.verify(token)
    assert [p["policy_id"] for p in result.eligible] == ["dp-honour-free"]
    assert result.ineligible == [{"policy_id": "dp-ticket-a", "reason": "持码人不符合该优惠的条件"}]
    code = parse(token)
    with pytest.raises(Expired):
        verifier.verify(token, now=code.exp + 31)
    assert verifier.verify(token, now=code.exp + 29).eligible  # within the clock leeway
    parts = token.split(".")
    parts[3] = str(int(parts[3]) + 600)  # a longer life
    with pytest.raises(Tampered):
        verifier.verify(".".join(parts))
    stranger = credit_code.CodeSigner("zz", {"zz": b"\x05" * 32}).issue(code.holder, [])
    with pytest.raises(UnknownKey) as unknown:
        verifier.verify(stranger.token)
    assert unknown.value.code == "CODE_UNKNOWN_KEY"
    with pytest.raises(BundleExpired):
        verifier.verify(token, now=time.time() + 73 * 3600)
    with pytest.raises(CodeError):
        verifier.verify("garbage")


async def test_a_revoked_holder_reference_is_refused_offline_and_replaced(client, login):
    holder, *_ = await honour_holder(client, login)
    staff = await login("demo-staff")
    old = parse((await code_of(client, holder))["token"])
    revoked = await client.post("/api/v1/me/credit-code/revoke", headers=holder, json={})
    assert revoked.status_code == 200 and revoked.json() == {"revoked": True}
    verifier = OfflineVerifier(await bundle_of(client, staff))
    assert old.holder in verifier.revoked
    with pytest.raises(Revoked):
        verifier.verify(old.signed.decode() + "." + credit_code.b64url_encode(old.signature))
    new = parse((await code_of(client, holder))["token"])
    assert new.holder != old.holder
    assert verifier.verify((await code_of(client, holder))["token"]).eligible
