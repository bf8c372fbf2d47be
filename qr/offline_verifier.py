"""Reference verifier of the personal credit code (信用码), for staff devices with no network.

Small on purpose, so that staff-device developers can port it (Kotlin, Swift, a WeChat
mini-program): it needs an Ed25519 verify (libsodium `crypto_sign_verify_detached`, TweetNaCl,
Android/iOS platform APIs; here the `cryptography` package), AES-256-GCM, base64url and a
clock. It imports nothing of the service; the tests check it against the server's own tokens.

The code (DESIGN.md §5) is one line of ASCII, seven fields joined by "." :

    C1.<kid>.<holder>.<exp>.<nonce>.<claims>.<signature>

- `C1`        format and version;
- `kid`       the signing key's id ([A-Za-z0-9_-]{1,16}), a key of the bundle's "keys";
- `holder`    pseudonymous holder reference (16 base64url characters; no personal data);
- `exp`       expiry, Unix seconds (the server issues codes valid for at most 60 s);
- `nonce`     16 base64url characters (12 random bytes), unique per code (one code = one visit);
- `claims`    base64url of AES-256-GCM(claims key of `kid`, nonce = the 12 nonce bytes,
              associated data = "C1.<kid>.<holder>.<exp>.<nonce>") of the ids of the policies the
              holder was eligible for when the code was issued, joined by "~" (empty when none).
              Sealed, because which offers someone gets (an honour, a level) is about them: only
              the service and devices holding an offline bundle can read it;
- `signature` base64url (no padding) Ed25519 signature of the ASCII bytes of everything before
              the last ".", i.e. "C1.<kid>.<holder>.<exp>.<nonce>.<claims>".

A device verifies with the offline bundle (`GET /api/v1/venues/{id}/offline-bundle`): known key,
valid signature, not expired (with a small clock leeway), holder not revoked, bundle still valid;
then opens the claims with the bundle's `claims_key` of that key and shows the policies of its
venue that the code lists. It records each redemption and later
posts them to `POST /api/v1/scan/offline-sync` (see `Ledger.sync_items`), where the server applies
the per-day limits and quotas across all gates: the same holder redeemed at two gates while
offline gives one `accepted` and one `duplicate`.

Usage:

    verifier = OfflineVerifier(bundle)                     # the bundle's JSON, as a dict
    result = verifier.verify(scanned_text)                 # raises CodeError (see .code)
    for policy in result.eligible: ...                     # this venue's policies for the holder
    item = ledger.redeem(result, policy_id)                # local limits, then queue for sync
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT = "C1"
MAX_TOKEN_LENGTH = 600
_TOKEN = re.compile(
    r"C1\.(?P<kid>[A-Za-z0-9_-]{1,16})\.(?P<holder>[A-Za-z0-9_-]{16})\.(?P<exp>[0-9]{1,12})"
    r"\.(?P<nonce>[A-Za-z0-9_-]{16})\.(?P<claims>[A-Za-z0-9_-]{22,400})"
    r"\.(?P<signature>[A-Za-z0-9_-]{86})"
)
SHANGHAI = timezone(timedelta(hours=8))  # the calendar day of a redemption (no DST in China)


class CodeError(Exception):
    """The code cannot be accepted. `code` is the machine code, `message` the Chinese text to
    show the staff member."""

    code = "CODE_INVALID"
    message = "信用码无效"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.message
        super().__init__(self.message)


class Malformed(CodeError):
    code, message = "CODE_MALFORMED", "不是有效的信用码，请让对方刷新后重新扫码"


class UnknownKey(CodeError):
    code, message = "CODE_UNKNOWN_KEY", "信用码的签名密钥未知（可能来自其他系统或密钥已停用）"


class Tampered(CodeError):
    code, message = "CODE_TAMPERED", "信用码签名校验失败，内容可能被篡改"


class Expired(CodeError):
    code, message = "CODE_EXPIRED", "信用码已过期，请让对方刷新后重新扫码"


class Revoked(CodeError):
    code, message = "CODE_REVOKED", "该信用码已被持有人停用"


class BundleExpired(CodeError):
    code, message = "BUNDLE_EXPIRED", "离线核验包已过有效期，请联网更新"


@dataclass(frozen=True)
class CreditCode:
    kid: str
    holder: str
    exp: int
    nonce: str
    claims: str  # sealed: see open_claims
    signed: bytes  # the bytes the signature covers
    signature_text: str  # base64url, as in the code
    policies: tuple[str, ...] = ()  # filled by open_claims

    @property
    def header(self) -> bytes:
        """What the claims are bound to: "C1.<kid>.<holder>.<exp>.<nonce>"."""
        return self.signed.rpartition(b".")[0]

    @property
    def signature(self) -> bytes:
        return b64url_decode(self.signature_text)


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parse(token: str) -> CreditCode:
    """Check the shape and split (one regular expression); no cryptography yet. Raises
    Malformed."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise Malformed
    match = _TOKEN.fullmatch(token.strip())
    if match is None:
        raise Malformed
    kid, holder, exp, nonce, claims, signature = match.groups()
    signed = match.string[: match.start("signature") - 1].encode()
    return CreditCode(kid, holder, int(exp), nonce, claims, signed, signature)


def open_claims(code: CreditCode, claims_keys: dict[str, AESGCM]) -> CreditCode:
    """The code with its policies read from the sealed claims. Raises UnknownKey or Tampered."""
    key = claims_keys.get(code.kid)
    if key is None:
        raise UnknownKey
    try:
        listed = key.decrypt(b64url_decode(code.nonce), b64url_decode(code.claims), code.header)
    except (InvalidTag, ValueError) as exc:
        raise Tampered from exc
    text = listed.decode("ascii", "replace")
    return replace(code, policies=tuple(text.split("~")) if text else ())


def public_key_from(encoded: str) -> Ed25519PublicKey:
    """A bundle key: base64url of the 32 raw bytes of the Ed25519 public key."""
    return Ed25519PublicKey.from_public_bytes(b64url_decode(encoded))


def check_signature(code: CreditCode, keys: dict[str, Ed25519PublicKey]) -> None:
    key = keys.get(code.kid)
    if key is None:
        raise UnknownKey
    try:
        key.verify(code.signature, code.signed)
    except (InvalidSignature, ValueError) as exc:  # ValueError: not base64 of 64 bytes
        raise Tampered from exc


@dataclass(frozen=True)
class Verified:
    code: CreditCode
    eligible: list[dict[str, Any]]  # this venue's policies the code lists, active today
    ineligible: list[dict[str, str]]  # this venue's other policies, with the reason


class OfflineVerifier:
    def __init__(self, bundle: dict[str, Any], *, leeway_seconds: int | None = None) -> None:
        self.bundle = bundle
        self.keys = {k["kid"]: public_key_from(k["public_key"]) for k in bundle["keys"]}
        self.claims_keys = {
            k["kid"]: AESGCM(b64url_decode(k["claims_key"])) for k in bundle["keys"]
        }
        self.revoked = set(bundle.get("revoked", []))
        self.policies = {p["policy_id"]: p for p in bundle["policies"]}
        self.valid_until = _parse_time(bundle["valid_until"])
        self.leeway = bundle.get("leeway_seconds", 30) if leeway_seconds is None else leeway_seconds

    def verify(self, token: str, now: float | None = None) -> Verified:
        now = time.time() if now is None else now
        if now > self.valid_until.timestamp():
            raise BundleExpired
        code = parse(token)
        check_signature(code, self.keys)
        code = open_claims(code, self.claims_keys)
        if now > code.exp + self.leeway:
            raise Expired
        if code.holder in self.revoked:
            raise Revoked
        day = datetime.fromtimestamp(now, SHANGHAI).date().isoformat()
        eligible, ineligible = [], []
        for policy_id, policy in self.policies.items():
            if not policy["valid_from"] <= day <= policy["valid_until"]:
                ineligible.append({"policy_id": policy_id, "reason": "优惠不在有效期内"})
            elif policy_id in code.policies:
                eligible.append(policy)
            else:
                ineligible.append({"policy_id": policy_id, "reason": "持码人不符合该优惠的条件"})
        return Verified(code, eligible, ineligible)


@dataclass
class Ledger:
    """The device's own redemptions: keeps each policy's per-visit and per-day limits on this
    device, and what it has to sync. (Other gates' redemptions are only known at sync.)"""

    verifier: OfflineVerifier
    device_id: str
    items: list[dict[str, Any]] = field(default_factory=list)

    def redeem(
        self, verified: Verified, policy_id: str, now: float | None = None
    ) -> dict[str, Any]:
        now = time.time() if now is None else now
        policy = next((p for p in verified.eligible if p["policy_id"] == policy_id), None)
        if policy is None:
            raise CodeError("该优惠不适用于此信用码")
        at = datetime.fromtimestamp(now, UTC)
        day = at.astimezone(SHANGHAI).date()
        same = [i for i in self.items if i["policy_id"] == policy_id]
        visit = sum(1 for i in same if i["nonce"] == verified.code.nonce)
        today = sum(
            1
            for i in same
            if i["holder"] == verified.code.holder
            and _parse_time(i["redeemed_at"]).astimezone(SHANGHAI).date() == day
        )
        limits = policy["limits"]
        if (limits["per_visit"] and visit >= limits["per_visit"]) or (
            limits["per_day"] and today >= limits["per_day"]
        ):
            raise CodeError("该持码人已享受过此优惠")
        item = {
            "token": verified.code.signed.decode() + "." + verified.code.signature_text,
            "policy_id": policy_id,
            "idempotency_key": f"{self.device_id}-{uuid.uuid4().hex}",
            "redeemed_at": at.isoformat(),
            "bundle_id": self.verifier.bundle["bundle_id"],
            "device_id": self.device_id,
            "holder": verified.code.holder,
            "nonce": verified.code.nonce,
        }
        self.items.append(item)
        return item

    def sync_items(self) -> list[dict[str, Any]]:
        """The body's "redemptions" for POST /api/v1/scan/offline-sync."""
        keep = ("token", "policy_id", "idempotency_key", "redeemed_at", "bundle_id", "device_id")
        return [{k: item[k] for k in keep} for item in self.items]


def _parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
