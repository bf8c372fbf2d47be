"""The credit report's signature (qr/report_signing.py): canonical JSON, rotation with overlap,
and the offline check a bank makes with the published keys."""

from __future__ import annotations

import base64

from qr import report_signing
from qr.report_signing import canonical_json, public_key_from, verify


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_canonical_json_is_sorted_compact_and_keeps_chinese():
    written = canonical_json({"b": 1, "a": {"名": "乌*", "z": [1, 2]}})
    assert written == '{"a":{"z":[1,2],"名":"乌*"},"b":1}'


def test_rotation_signs_with_the_first_key_and_verifies_with_every_listed_one(settings):
    old, new = _b64(b"\x33" * 32), _b64(b"\x44" * 32)
    before = settings.model_copy(update={"report_signing_keys": f"r1:{old}"})
    during = settings.model_copy(update={"report_signing_keys": f"r2:{new},r1:{old}"})
    after = settings.model_copy(update={"report_signing_keys": f"r2:{new}"})
    signed_before = report_signing.signer_for(before).sign('{"report_no":"R1"}')
    signer = report_signing.signer_for(during)
    assert signer.sign("{}").kid == "r2"
    assert signer.verifies('{"report_no":"R1"}', signed_before)
    published = {k["kid"]: public_key_from(k["public_key"]) for k in signer.public_keys()}
    assert set(published) == {"r1", "r2"}
    assert verify('{"report_no":"R1"}', "r1", signed_before.value, published)
    assert not report_signing.signer_for(after).verifies('{"report_no":"R1"}', signed_before)


def test_a_changed_document_a_bad_signature_or_an_unknown_key_fail_without_raising(settings):
    seed = _b64(b"\x55" * 32)
    signer = report_signing.signer_for(
        settings.model_copy(update={"report_signing_keys": f"r9:{seed}"})
    )
    signed = signer.sign('{"grade":"B"}')
    keys = signer.public
    assert verify('{"grade":"B"}', signed.kid, signed.value, keys)
    assert not verify('{"grade":"A"}', signed.kid, signed.value, keys)
    assert not verify('{"grade":"B"}', "nope", signed.value, keys)
    assert not verify('{"grade":"B"}', signed.kid, "!!!not-base64", keys)
    assert not verify('{"grade":"B"}', signed.kid, signed.value[:-4] + "AAAA", keys)


def test_the_credit_code_and_the_report_keys_are_separate(settings):
    code = settings.code_signing_key_ring()[1]
    report = settings.report_signing_key_ring()[1]
    assert set(code.values()).isdisjoint(report.values())
