"""The signature of a credit report (issue 13): Ed25519 over the report's canonical JSON, which
names the PDF by its SHA-256, so a bank holding the PDF checks it offline with the published
public key: sha256(pdf) equals the signed `pdf_sha256`, and the signature verifies.

Keys come from settings (REPORT_SIGNING_KEYS, "kid:base64seed,…", like CODE_SIGNING_KEYS): the
first signs, every key verifies, so a new key is put first while the old one stays listed for as
long as reports signed with it are to be checked (their validity, and the archives of those who
kept them: retire an old key only when no one needs to check its reports any more).

Canonical JSON: UTF-8, keys sorted, no spaces (`separators=(",", ":")`), non-ASCII as is
(`ensure_ascii=False`): what `canonical_json` writes. A verifier checks the signature over the
bytes it was given, never over a re-serialisation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from infra.settings import Settings
from qr.offline_verifier import b64url_decode, b64url_encode

ALGORITHM = "Ed25519"


def canonical_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class ReportSignature:
    kid: str
    value: str  # base64url, no padding

    def as_dict(self) -> dict[str, str]:
        return {"kid": self.kid, "alg": ALGORITHM, "value": self.value}


class ReportSigner:
    def __init__(self, current_kid: str, seeds: dict[str, bytes]) -> None:
        self.current_kid = current_kid
        self._private = Ed25519PrivateKey.from_private_bytes(seeds[current_kid])
        self.public: dict[str, Ed25519PublicKey] = {
            kid: Ed25519PrivateKey.from_private_bytes(seed).public_key()
            for kid, seed in seeds.items()
        }

    def sign(self, canonical: str) -> ReportSignature:
        signature = self._private.sign(canonical.encode())
        return ReportSignature(self.current_kid, b64url_encode(signature))

    def verifies(self, canonical: str, signature: ReportSignature) -> bool:
        return verify(canonical, signature.kid, signature.value, self.public)

    def public_keys(self) -> list[dict[str, str]]:
        return [
            {
                "kid": kid,
                "alg": ALGORITHM,
                "public_key": b64url_encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)),
            }
            for kid, key in self.public.items()
        ]


def verify(canonical: str, kid: str, value: str, keys: dict[str, Ed25519PublicKey]) -> bool:
    """What a bank's offline check does, with the published keys: no exception, a yes or no."""
    key = keys.get(kid)
    if key is None:
        return False
    try:
        key.verify(b64url_decode(value), canonical.encode())
    except (InvalidSignature, ValueError):
        return False
    return True


def public_key_from(encoded: str) -> Ed25519PublicKey:
    """A published key (base64url of the 32 raw bytes) as a verifier loads it."""
    return Ed25519PublicKey.from_public_bytes(b64url_decode(encoded))


_SIGNERS: dict[str, ReportSigner] = {}


def signer_for(settings: Settings) -> ReportSigner:
    """One signer per key configuration, kept for the process."""
    config = settings.report_signing_keys or ""
    signer = _SIGNERS.get(config)
    if signer is None:
        current, ring = settings.report_signing_key_ring()
        signer = _SIGNERS[config] = ReportSigner(current, ring)
    return signer
