"""The credit-code signing keys in settings: generated and kept outside production, required
from the environment in production, several for rotation."""

from __future__ import annotations

import base64
import json
import secrets

import pytest

from infra.settings import SettingsError, load_settings
from tests.server.test_settings import production_env


def _key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def test_the_embedded_default_generates_a_signing_key_and_keeps_it(tmp_path):
    path = tmp_path / "keys.json"
    settings = load_settings({"KEY_FILE": str(path)})
    assert settings.code_key_source == "generated"
    kid, ring = settings.code_signing_key_ring()
    assert kid == "local1" and len(ring[kid]) == 32
    assert json.loads(path.read_text())["code_signing_keys"] == settings.code_signing_keys
    assert path.stat().st_mode & 0o077 == 0
    again = load_settings({"KEY_FILE": str(path)})
    assert again.code_signing_keys == settings.code_signing_keys  # codes survive a restart


def test_a_key_file_from_before_gets_a_signing_key_added(tmp_path):
    path = tmp_path / "keys.json"
    first = load_settings({"KEY_FILE": str(path)})
    stored = json.loads(path.read_text())
    del stored["code_signing_keys"]
    path.write_text(json.dumps(stored))
    again = load_settings({"KEY_FILE": str(path)})
    assert again.field_keys == first.field_keys  # the other keys are kept
    assert json.loads(path.read_text())["code_signing_keys"] == again.code_signing_keys


def test_production_needs_signing_keys_from_the_environment():
    with pytest.raises(SettingsError, match="CODE_SIGNING_KEYS"):
        load_settings(production_env(CODE_SIGNING_KEYS=""))
    settings = load_settings(production_env(CODE_SIGNING_KEYS=f"c3:{_key()},c2:{_key()}"))
    current, ring = settings.code_signing_key_ring()
    assert current == "c3" and list(ring) == ["c3", "c2"]


@pytest.mark.parametrize(
    "value",
    [f"bad.kid:{_key()}", f"c1:{_key()},c1:{_key()}", "c1:not-base64", "c1:" + "A" * 43 + "="],
)
def test_bad_signing_keys_are_refused(value):
    with pytest.raises(SettingsError, match="CODE_SIGNING_KEYS"):
        load_settings(production_env(CODE_SIGNING_KEYS=value))
