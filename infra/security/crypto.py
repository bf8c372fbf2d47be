"""Field encryption for PII: AES-256-GCM with a key id and per-field associated data, plus an
HMAC blind index so encrypted values can still be looked up by equality."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

if TYPE_CHECKING:
    from infra.settings import Settings

FORMAT_VERSION = "v1"


class DecryptionError(ValueError):
    """A stored value cannot be decrypted: unknown key id, wrong field, or tampering."""


class FieldCipher:
    """Encrypts one field value at a time; the associated data binds a ciphertext to its field,
    so a ciphertext copied into another column does not decrypt."""

    def __init__(self, current_kid: str, keys: dict[str, bytes], blind_index_key: bytes) -> None:
        if current_kid not in keys:
            raise ValueError("current key id not in key ring")
        self._current_kid = current_kid
        self._aeads = {kid: AESGCM(key) for kid, key in keys.items()}
        self._blind_key = blind_index_key

    def encrypt(self, plaintext: str, field: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aeads[self._current_kid].encrypt(nonce, plaintext.encode(), field.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode()
        return f"{FORMAT_VERSION}:{self._current_kid}:{body}"

    def decrypt(self, token: str, field: str) -> str:
        try:
            version, kid, body = token.split(":", 2)
        except ValueError as exc:
            raise DecryptionError("malformed ciphertext") from exc
        if version != FORMAT_VERSION or kid not in self._aeads:
            raise DecryptionError(f"unknown key id {kid!r}")
        raw = base64.urlsafe_b64decode(body)
        try:
            return self._aeads[kid].decrypt(raw[:12], raw[12:], field.encode()).decode()
        except InvalidTag as exc:
            raise DecryptionError("ciphertext does not authenticate") from exc

    def blind_index(self, value: str, field: str) -> str:
        """Deterministic keyed digest for equality lookups; reveals nothing without the key."""
        mac = hmac.new(self._blind_key, f"{field}\x00{value}".encode(), hashlib.sha256)
        return mac.hexdigest()[:40]


def mask_id_number(id_number: str) -> str:
    """1529**********123X: the region prefix and the last four stay, as DESIGN.md §6 shows."""
    if len(id_number) < 8:
        return "*" * len(id_number)
    return id_number[:4] + "*" * (len(id_number) - 8) + id_number[-4:]


def mask_phone(phone: str) -> str:
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_name(name: str) -> str:
    """张*, 欧阳** : the family name stays (two characters for long names)."""
    if len(name) <= 1:
        return name
    keep = 2 if len(name) >= 4 else 1
    return name[:keep] + "*" * (len(name) - keep)


def cipher_from_settings(settings: Settings) -> FieldCipher:
    current, ring = settings.field_key_ring()
    return FieldCipher(current, ring, settings.blind_index_key_bytes())
