"""How the benches configure the service: production mode on this machine's PostgreSQL and
Redis, fresh keys, and rate limits raised so that a bench measures the service, not the limiter."""

from __future__ import annotations

import base64
import os
import re
import secrets
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness.processes import ROOT, free_port
from bench.harness.project import ENV_VARS, FieldCipher

REDIS_BASE = "redis://127.0.0.1:6379"
REDIS_PREFIX = "bench:"
RAISED_LIMIT = 10**9
WECHAT_APPID = "wx-bench-appid"
# Every environment variable the service's settings read: the service gets exactly the ones set
# here, never stray ones from the caller's shell.
SERVICE_ENV_NAMES = frozenset(ENV_VARS) | {"CONFIG_DIR"}


def raised_config(target: Path) -> dict[str, Any]:
    """Copy config/ to `target` with every [rate_limits] limit raised; returns default.toml."""
    shutil.copytree(ROOT / "config", target)
    path = target / "default.toml"
    text = path.read_text()
    start = text.find("[rate_limits]")
    if start < 0:
        raise RuntimeError("config/default.toml has no [rate_limits] section")
    end = text.find("\n[", start + 1)
    end = len(text) if end < 0 else end
    section = re.sub(r"\blimit\s*=\s*\d+", f"limit = {RAISED_LIMIT}", text[start:end])
    path.write_text(text[:start] + section + text[end:])
    values = tomllib.loads(path.read_text())
    limits = values.get("rate_limits", {})
    if not limits or any(rule.get("limit") != RAISED_LIMIT for rule in limits.values()):
        raise RuntimeError(f"could not raise every rate limit in {path}: {limits}")
    return values


def new_keys() -> dict[str, str]:
    return {
        "field_keys": "k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "blind_index_key": base64.b64encode(secrets.token_bytes(32)).decode(),
    }


def cipher_for(keys: dict[str, str]) -> FieldCipher:
    kid, _, encoded = keys["field_keys"].partition(":")
    return FieldCipher(
        kid, {kid: base64.b64decode(encoded)}, base64.b64decode(keys["blind_index_key"])
    )


@dataclass(frozen=True)
class Ports:
    fake_wechat: int
    service: int
    ceiling: int

    @classmethod
    def free(cls) -> Ports:
        return cls(free_port(), free_port(), free_port())


def service_env(
    *,
    database_url: str,
    redis_db: int,
    workers: int,
    ports: Ports,
    config_dir: Path,
    keys: dict[str, str],
    signing_kid: str,
    wechat_secret: str,
) -> dict[str, str]:
    """The service's whole environment: this process's, less anything the settings would read."""
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_ENV_NAMES}
    signing = base64.b64encode(secrets.token_bytes(32)).decode()
    env.update({
        "APP_ENV": "production", "DEMO": "false", "HOST": "127.0.0.1",
        "DATABASE_URL": database_url, "REDIS_URL": f"{REDIS_BASE}/{redis_db}",
        "REDIS_PREFIX": REDIS_PREFIX, "WECHAT_API_BASE": f"http://127.0.0.1:{ports.fake_wechat}",
        "WECHAT_APPID": WECHAT_APPID, "WECHAT_SECRET": wechat_secret,
        "FIELD_KEYS": keys["field_keys"], "BLIND_INDEX_KEY": keys["blind_index_key"],
        "WORKERS": str(workers), "PORT": str(ports.service),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{ports.service}", "ACCESS_LOG": "false",
        "CONFIG_DIR": str(config_dir), "PYTHONUNBUFFERED": "1",
        "CODE_SIGNING_KEYS": f"{signing_kid}:{signing}",
        "REPORT_SIGNING_KEYS": "report1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        # the console's 消息推送 Token and EncodingAESKey (production refuses to start without)
        "WECHAT_PUSH_TOKEN": secrets.token_hex(16),
        "WECHAT_PUSH_AES_KEY": base64.b64encode(secrets.token_bytes(32)).decode().rstrip("="),
    })  # fmt: skip
    return env
