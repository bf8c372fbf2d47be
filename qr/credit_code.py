"""Signing side of the personal credit code (DESIGN.md §5); the format, its parser and the
checks a verifier makes are in qr/offline_verifier.py, which the server uses too.

Keys come from settings (CODE_SIGNING_KEYS, "kid:base64seed,…"): the first signs, every key
verifies, so a new key is put first while the old one stays listed until the last code and
offline bundle signed with it have expired (rotation with overlap).
"""

from __future__ import annotations

import hashlib
import io
import secrets
import time
from dataclasses import dataclass

import qrcode
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from infra.settings import Settings
from qr.offline_verifier import (
    FORMAT,
    CreditCode,
    Malformed,
    b64url_encode,
    check_signature,
    open_claims,
)

MAX_TTL_SECONDS = 60
CLAIMS_KEY_INFO = b"alxa credit code claims v1"
BUNDLE_FORMAT = "B1"


@dataclass(frozen=True)
class Issued:
    token: str
    exp: int
    nonce: str
    token_hash: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_reference() -> str:
    """16 base64url characters of randomness: a holder reference or a nonce."""
    return b64url_encode(secrets.token_bytes(12))


def claims_key(seed: bytes) -> bytes:
    """The AES-256-GCM key that seals a code's claims, derived from its signing seed, so a key
    rotation rotates both and no second secret has to be configured."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=CLAIMS_KEY_INFO).derive(seed)


class CodeSigner:
    def __init__(self, current_kid: str, seeds: dict[str, bytes]) -> None:
        self.current_kid = current_kid
        self._private = Ed25519PrivateKey.from_private_bytes(seeds[current_kid])
        self.public: dict[str, Ed25519PublicKey] = {
            kid: Ed25519PrivateKey.from_private_bytes(seed).public_key()
            for kid, seed in seeds.items()
        }
        self._claims_raw = {kid: claims_key(seed) for kid, seed in seeds.items()}
        self._claims = {kid: AESGCM(key) for kid, key in self._claims_raw.items()}

    def issue(
        self, holder: str, policies: list[str], ttl: int = MAX_TTL_SECONDS, now: float | None = None
    ) -> Issued:
        if not 1 <= ttl <= MAX_TTL_SECONDS:
            raise ValueError("a credit code lives at most 60 s")
        exp = int(now if now is not None else time.time()) + ttl
        nonce_bytes = secrets.token_bytes(12)
        nonce = b64url_encode(nonce_bytes)
        header = f"{FORMAT}.{self.current_kid}.{holder}.{exp}.{nonce}"
        sealed = self._claims[self.current_kid].encrypt(
            nonce_bytes, "~".join(sorted(policies)).encode(), header.encode()
        )
        body = f"{header}.{b64url_encode(sealed)}"
        token = body + "." + b64url_encode(self._private.sign(body.encode()))
        return Issued(token=token, exp=exp, nonce=nonce, token_hash=token_hash(token))

    def open(self, code: CreditCode) -> CreditCode:
        """The code with its policies (about 2 µs). Raises UnknownKey or Tampered."""
        return open_claims(code, self._claims)

    def check(self, code: CreditCode) -> None:
        """Raises UnknownKey or Tampered (about 200 µs: used when no issuance record helps)."""
        check_signature(code, self.public)

    def public_keys(self) -> list[dict[str, str]]:
        return [
            {
                "kid": kid,
                "alg": "Ed25519",
                "public_key": b64url_encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)),
            }
            for kid, key in self.public.items()
        ]

    def bundle_keys(self) -> list[dict[str, str]]:
        """The offline bundle's keys: each public key with the claims key of the same id (staff
        devices must read the claims; the bundle goes to authenticated venue staff only)."""
        return [
            key | {"claims_key": b64url_encode(self._claims_raw[key["kid"]])}
            for key in self.public_keys()
        ]

    # An offline bundle's id is signed too, so a device cannot claim a later validity at sync.
    def bundle_id(self, venue_id: str, issued_at: int, valid_until: int) -> str:
        body = f"{BUNDLE_FORMAT}.{self.current_kid}.{venue_id}.{issued_at}.{valid_until}"
        return body + "." + b64url_encode(self._private.sign(body.encode()))

    def open_bundle_id(self, bundle_id: str) -> tuple[str, int, int]:
        """(venue id, issued_at, valid_until) of a bundle id this service signed."""
        parts = bundle_id.split(".") if isinstance(bundle_id, str) else []
        if len(parts) != 6 or parts[0] != BUNDLE_FORMAT or len(bundle_id) > 200:
            raise Malformed("离线核验包标识无效")
        _, kid, venue_id, issued, valid_until, signature = parts
        if not (issued.isdigit() and valid_until.isdigit()):
            raise Malformed("离线核验包标识无效")
        signed = bundle_id.rpartition(".")[0].encode()
        check_signature(CreditCode(kid, "", 0, "", "", signed, signature), self.public)
        return venue_id, int(issued), int(valid_until)


_SIGNERS: dict[str, CodeSigner] = {}


def signer_for(settings: Settings) -> CodeSigner:
    """One signer per key configuration, kept for the process (building it costs key setup)."""
    config = settings.code_signing_keys or ""
    signer = _SIGNERS.get(config)
    if signer is None:
        current, ring = settings.code_signing_key_ring()
        signer = _SIGNERS[config] = CodeSigner(current, ring)
    return signer


def qr_png(token: str) -> bytes:
    """The code as a PNG QR image (run it in a thread: it is CPU work)."""
    image = qrcode.make(token, error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=8)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue()
