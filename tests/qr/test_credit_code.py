"""Signing side of the personal credit code (qr/credit_code.py): key rotation with overlap."""

from __future__ import annotations

import pytest

from qr import credit_code
from qr.offline_verifier import UnknownKey, parse


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
