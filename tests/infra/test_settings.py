"""Settings: environment overrides, production refusing laptop-only parts, and the credit-code
signing keys (generated and kept outside production, required from the environment in
production, several for rotation)."""

from __future__ import annotations

import base64
import json
import secrets

import pytest

from infra.settings import SettingsError, load_settings


def _key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def production_env(**overrides: str) -> dict[str, str]:
    env = {
        "APP_ENV": "production",
        "DATABASE_URL": "postgres://app@db.internal:5432/credit",
        "REDIS_URL": "redis://cache.internal:6379/0",
        "WECHAT_API_BASE": "https://api.weixin.qq.com",
        "WECHAT_APPID": "wx1234567890",
        "WECHAT_SECRET": "a-real-secret-from-the-vault",
        "FIELD_KEYS": f"k2:{_key()},k1:{_key()}",
        "BLIND_INDEX_KEY": _key(),
        "CODE_SIGNING_KEYS": f"c2:{_key()},c1:{_key()}",
        "REPORT_SIGNING_KEYS": f"r2:{_key()},r1:{_key()}",
        "WECHAT_PUSH_TOKEN": "PushToken2026",
        "WECHAT_PUSH_AES_KEY": _key()[:43],
        "PUBLIC_BASE_URL": "https://credit.alxa.example/",
        "HOST": "0.0.0.0",
        "PORT": "8080",
        "WORKERS": "4",
    }
    env.update(overrides)
    return env


def test_environment_overrides_the_defaults():
    settings = load_settings(production_env())
    assert settings.production
    assert (settings.host, settings.port, settings.workers) == ("0.0.0.0", 8080, 4)
    assert settings.public_base_url == "https://credit.alxa.example"
    assert settings.demo is False  # production never defaults to the demo logins
    current, ring = settings.field_key_ring()
    assert current == "k2" and set(ring) == {"k1", "k2"}


def test_embedded_default_needs_nothing_configured(tmp_path):
    settings = load_settings({"KEY_FILE": str(tmp_path / "keys.json")})
    assert settings.database_url.startswith("sqlite://")
    assert settings.uses_fakeredis and settings.uses_builtin_wechat and settings.demo
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.key_source == "generated"
    assert (tmp_path / "keys.json").stat().st_mode & 0o077 == 0  # readable by the owner only
    # The key file is kept: a second start decrypts what the first one wrote.
    again = load_settings({"KEY_FILE": str(tmp_path / "keys.json")})
    assert again.field_keys == settings.field_keys


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"WECHAT_API_BASE": "builtin"}, "WECHAT_API_BASE"),
        ({"WECHAT_SECRET": "fake-secret"}, "WECHAT_SECRET"),
        ({"DEMO": "true"}, "DEMO"),
        ({"REDIS_URL": "fakeredis://"}, "REDIS_URL"),
        ({"FIELD_KEYS": "", "BLIND_INDEX_KEY": ""}, "FIELD_KEYS"),
        ({"DATABASE_URL": "sqlite://var/credit.sqlite3"}, "DATABASE_URL"),
        ({"WECHAT_PUSH_TOKEN": ""}, "WECHAT_PUSH_TOKEN"),
        ({"WECHAT_PUSH_AES_KEY": ""}, "WECHAT_PUSH_AES_KEY"),
        ({"REPORT_SIGNING_KEYS": ""}, "REPORT_SIGNING_KEYS"),
    ],
)
def test_production_refuses_laptop_parts_and_says_why(override, reason):
    with pytest.raises(SettingsError) as refused:
        load_settings(production_env(**override))
    assert "生产模式拒绝启动" in str(refused.value)
    assert reason in str(refused.value)


def test_production_refuses_an_all_zero_key():
    zero = base64.b64encode(bytes(32)).decode()
    with pytest.raises(SettingsError, match="默认密钥"):
        load_settings(production_env(FIELD_KEYS=f"k1:{zero}"))


def test_production_lists_every_problem_at_once():
    with pytest.raises(SettingsError) as refused:
        load_settings(production_env(WECHAT_API_BASE="builtin", DEMO="1", REDIS_URL="fakeredis://"))
    message = str(refused.value)
    assert "WECHAT_API_BASE" in message and "DEMO" in message and "REDIS_URL" in message


def test_bad_values_are_refused_with_the_field_named():
    with pytest.raises(SettingsError, match="port"):
        load_settings(production_env(PORT="not-a-port"))


# -- the credit-code signing keys ----------------------------------------------------------------


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


# -- the message-push token and EncodingAESKey ----------------------------------------------------


def test_the_embedded_default_generates_push_secrets_and_keeps_them(tmp_path):
    settings = load_settings({"KEY_FILE": str(tmp_path / "keys.json")})
    assert settings.push_key_source == "generated"
    assert len(settings.wechat_push_aes_key) == 43 and settings.wechat_push_token
    again = load_settings({"KEY_FILE": str(tmp_path / "keys.json")})
    assert (again.wechat_push_token, again.wechat_push_aes_key) == (
        settings.wechat_push_token,
        settings.wechat_push_aes_key,
    )


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"WECHAT_PUSH_TOKEN": "no spaces allowed"}, "wechat_push_token"),
        ({"WECHAT_PUSH_TOKEN": "x" * 33}, "wechat_push_token"),
        ({"WECHAT_PUSH_AES_KEY": "tooshort"}, "wechat_push_aes_key"),
        ({"WECHAT_PUSH_AES_KEY": "!" * 43}, "wechat_push_aes_key"),
    ],
)
def test_bad_push_secrets_are_refused(override, field):
    with pytest.raises(SettingsError, match=field):
        load_settings(production_env(**override))
