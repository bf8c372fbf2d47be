"""One validated settings object: config/default.toml, then environment variables.

Production refuses to start on anything that is only fit for a laptop (the built-in fake WeChat,
demo logins, an in-process cache, generated or default keys), and says why.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import secrets
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = Path(os.environ.get("CONFIG_DIR", PROJECT_ROOT / "config"))

BUILTIN_WECHAT = "builtin"
FAKE_WECHAT_SECRET = "fake-secret"  # noqa: S105 - the fake's well-known secret, refused in production

# Environment variables read on top of config/default.toml (name -> settings field).
ENV_VARS = {
    "APP_ENV": "app_env",
    "HOST": "host",
    "PORT": "port",
    "WORKERS": "workers",
    "DATABASE_URL": "database_url",
    "REDIS_URL": "redis_url",
    "REDIS_PREFIX": "redis_prefix",
    "REDIS_TIMEOUT_SECONDS": "redis_timeout_seconds",
    "DATABASE_STATEMENT_TIMEOUT_SECONDS": "database_statement_timeout_seconds",
    "WECHAT_APPID": "wechat_appid",
    "WECHAT_SECRET": "wechat_secret",
    "WECHAT_API_BASE": "wechat_api_base",
    "WECHAT_TIMEOUT_SECONDS": "wechat_timeout_seconds",
    "WECHAT_DEADLINE_SECONDS": "wechat_deadline_seconds",
    "WECHAT_TOKEN_WAIT_SECONDS": "wechat_token_wait_seconds",
    "WECHAT_FORCE_REFRESH_INTERVAL_SECONDS": "wechat_force_refresh_interval_seconds",
    "WECHAT_FORCE_REFRESH_DAILY_LIMIT": "wechat_force_refresh_daily_limit",
    "PUBLIC_BASE_URL": "public_base_url",
    "DEMO": "demo",
    "KEY_FILE": "key_file",
    "FIELD_KEYS": "field_keys",
    "BLIND_INDEX_KEY": "blind_index_key",
    "CODE_SIGNING_KEYS": "code_signing_keys",
    "REPORT_SIGNING_KEYS": "report_signing_keys",
    "SESSION_TTL_SECONDS": "session_ttl_seconds",
    "ACCESS_LOG": "access_log",
    "UPLOAD_DIR": "upload_dir",
    "UPLOAD_MAX_BYTES": "upload_max_bytes",
    "UPLOAD_MAX_PIXELS": "upload_max_pixels",
    "UPLOAD_CONCURRENCY": "upload_concurrency",
    "UPLOAD_QUEUE_SECONDS": "upload_queue_seconds",
    "PLATE_FONT_PATH": "plate_font_path",
    "WECHAT_PUSH_TOKEN": "wechat_push_token",
    "WECHAT_PUSH_AES_KEY": "wechat_push_aes_key",
    "LOG_FORMAT": "log_format",
    "METRICS_TOKEN": "metrics_token",
    "METRICS_DIR": "metrics_dir",
    "PROXIES_COUNT": "proxies_count",
    "CONSOLE_SECURE_COOKIE": "console_secure_cookie",
    "CONSOLE_IDLE_SECONDS": "console_idle_seconds",
    "CONSOLE_MAX_SECONDS": "console_max_seconds",
}


class SettingsError(RuntimeError):
    """The configuration cannot run; the message says what to change."""


class RateLimit(BaseModel):
    limit: int = Field(gt=0)
    window: int = Field(gt=0)


class Settings(BaseModel):
    app_env: Literal["development", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)
    database_url: str = "sqlite://var/credit.sqlite3"
    redis_url: str = "fakeredis://"
    redis_prefix: str = "alxa:"
    # A PostgreSQL statement of a serving process, then 503 (a lock held by a migration or a
    # runaway query never hangs a request). 0: none. Migrations and the CLI (imports) run
    # without it.
    database_statement_timeout_seconds: float = Field(10.0, ge=0, le=600)
    # A Redis connect or command, then 503 (a frozen Redis never hangs a request).
    redis_timeout_seconds: float = Field(0.5, gt=0, le=30)
    wechat_api_base: str = BUILTIN_WECHAT
    wechat_appid: str = "wx-fake-appid"
    wechat_secret: str = FAKE_WECHAT_SECRET
    wechat_timeout_seconds: float = 5.0
    # Every request's WeChat calls together, then 503 with Retry-After (never a hang).
    wechat_deadline_seconds: float = Field(8.0, gt=0)
    # How long a request waits for another worker's access-token refresh.
    wechat_token_wait_seconds: float = Field(3.0, gt=0)
    # Forced access-token refreshes: at most one per interval for the deployment, and a daily
    # allowance (WeChat's: 20 a day, 30 s apart; see infra/wechat/client.py).
    wechat_force_refresh_interval_seconds: float = Field(30.0, ge=30)
    wechat_force_refresh_daily_limit: int = Field(20, ge=0, le=20)
    public_base_url: str = "http://127.0.0.1:8000"
    demo: bool = True
    key_file: str = "var/keys.json"
    # "kid:base64key,kid:base64key", the first one encrypts, all of them decrypt (rotation).
    field_keys: str | None = None
    blind_index_key: str | None = None
    # Ed25519 seeds of the personal credit code (DESIGN.md §5), "kid:base64seed,…": the first
    # signs, all verify (rotation with overlap). Generated into KEY_FILE outside production.
    code_signing_keys: str | None = None
    code_key_source: str = "env"
    # Ed25519 seeds of the credit reports' signatures, the same form and rotation as
    # CODE_SIGNING_KEYS; a key of its own, so neither can be made to sign for the other.
    report_signing_keys: str | None = None
    report_key_source: str = "env"
    session_ttl_seconds: int = Field(604800, gt=0)
    access_log: bool = False
    # "json" (one object per line, for log collectors) or "text"; default: json in production
    log_format: Literal["json", "text"] | None = None
    # GET /metrics answers requests from this host, or with `Authorization: Bearer <token>`
    metrics_token: str | None = None
    # where the workers' metric files live while the service runs (prometheus multiprocess)
    metrics_dir: str = "var/metrics"
    upload_dir: str = "var/uploads"
    upload_max_bytes: int = Field(10 * 1024 * 1024, gt=0)
    # Images are refused by their declared size before any pixel is decoded; decoding runs in a
    # pool of this many threads per worker, and a request waits at most so long for a place.
    upload_max_pixels: int = Field(16_000_000, gt=0)
    upload_concurrency: int = Field(2, ge=1, le=16)
    upload_queue_seconds: float = Field(10.0, gt=0)
    # CJK font for printed plates; empty: the first candidate of config/merchants.toml found.
    plate_font_path: str = ""
    rate_limits: dict[str, RateLimit] = Field(default_factory=dict)
    # WeChat message push (the console's 消息推送: Token and EncodingAESKey). Secrets: never in
    # git; generated into KEY_FILE outside production, required from the environment in it.
    wechat_push_token: str | None = None
    wechat_push_aes_key: str | None = None
    push_key_source: str = "env"
    # Reverse proxies in front of the service that append to X-Forwarded-For: the client address
    # is the entry that many from the right. 0: the socket's peer, and no header is believed.
    proxies_count: int = Field(0, ge=0, le=10)
    # The officials' console (/console): its session cookie is Secure unless this is false (local
    # http only; production refuses false); a session ends after this long without a request,
    # and after the absolute lifetime whatever the activity. Login QR codes live this long.
    console_secure_cookie: bool = True
    console_idle_seconds: int = Field(1800, ge=60, le=86400)
    console_max_seconds: int = Field(43200, ge=300, le=7 * 86400)
    console_ticket_seconds: int = Field(120, ge=30, le=600)
    # Roles that may log in to the console (a user with none of them cannot confirm a ticket).
    console_roles: list[str] = Field(default_factory=lambda: ["reviewer", "admin", "venue_staff"])
    # Filled by resolve_keys(): where the key material came from ("env" or "generated").
    key_source: str = "env"

    @field_validator("public_base_url", "wechat_api_base")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("wechat_push_token")
    @classmethod
    def _push_token(cls, value: str | None) -> str | None:
        # The console accepts 3-32 letters and digits.
        if value and not re.fullmatch(r"[A-Za-z0-9]{3,32}", value):
            raise ValueError("WECHAT_PUSH_TOKEN 须为 3-32 位英文字母或数字")
        return value or None

    @field_validator("wechat_push_aes_key")
    @classmethod
    def _push_aes_key(cls, value: str | None) -> str | None:
        # 43 characters of base64 without its "=" (a 32-byte AES key).
        if not value:
            return None
        try:
            ok = len(value) == 43 and len(base64.b64decode(value + "=", validate=True)) == 32
        except ValueError:
            ok = False
        if not ok:
            raise ValueError("WECHAT_PUSH_AES_KEY 须为 43 位 EncodingAESKey")
        return value

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    @property
    def resolved_log_format(self) -> Literal["json", "text"]:
        return self.log_format or ("json" if self.production else "text")

    @property
    def uses_builtin_wechat(self) -> bool:
        return self.wechat_api_base == BUILTIN_WECHAT

    @property
    def uses_fakeredis(self) -> bool:
        return self.redis_url.startswith("fakeredis")

    def path(self, relative: str) -> Path:
        """Resolve a configured path against the project root, so any working directory works."""
        candidate = Path(relative)
        return candidate if candidate.is_absolute() else PROJECT_ROOT / candidate

    def field_key_ring(self) -> tuple[str, dict[str, bytes]]:
        """(current key id, {key id: 32-byte key}) from FIELD_KEYS."""
        if not self.field_keys:
            raise SettingsError("FIELD_KEYS 未配置")
        ring: dict[str, bytes] = {}
        order: list[str] = []
        for part in self.field_keys.split(","):
            kid, _, encoded = part.strip().partition(":")
            key = _decode_key(encoded, f"FIELD_KEYS[{kid}]")
            ring[kid] = key
            order.append(kid)
        return order[0], ring

    def code_signing_key_ring(self) -> tuple[str, dict[str, bytes]]:
        """(signing key id, {key id: 32-byte Ed25519 seed}) from CODE_SIGNING_KEYS."""
        return _signing_key_ring(self.code_signing_keys, "CODE_SIGNING_KEYS")

    def report_signing_key_ring(self) -> tuple[str, dict[str, bytes]]:
        """(signing key id, {key id: 32-byte Ed25519 seed}) from REPORT_SIGNING_KEYS."""
        return _signing_key_ring(self.report_signing_keys, "REPORT_SIGNING_KEYS")

    def blind_index_key_bytes(self) -> bytes:
        if not self.blind_index_key:
            raise SettingsError("BLIND_INDEX_KEY 未配置")
        return _decode_key(self.blind_index_key, "BLIND_INDEX_KEY")

    def check_production(self) -> None:
        """Refuse laptop-only parts in production, listing every reason at once."""
        if not self.production:
            return
        problems = []
        if self.uses_builtin_wechat:
            problems.append("WECHAT_API_BASE 仍是内置模拟微信（builtin），生产环境须指向微信接口")
        if self.wechat_secret == FAKE_WECHAT_SECRET or not self.wechat_secret:
            problems.append("WECHAT_SECRET 未配置或仍是模拟微信的默认值")
        if self.demo:
            problems.append("演示登录与演示数据已开启（DEMO=true），生产环境须关闭")
        if self.uses_fakeredis:
            problems.append("REDIS_URL 是进程内缓存（fakeredis），生产环境须使用真实 Redis")
        if self.key_source != "env":
            problems.append(
                "密钥来自自动生成的本地文件，生产环境须通过 FIELD_KEYS 与 BLIND_INDEX_KEY 配置"
            )
        if self.code_key_source != "env":
            problems.append(
                "信用码签名密钥未配置或来自本地文件，生产环境须通过 CODE_SIGNING_KEYS 配置"
            )
        if self.report_key_source != "env":
            problems.append(
                "信用报告签名密钥未配置或来自本地文件，生产环境须通过 REPORT_SIGNING_KEYS 配置"
            )
        if self.database_url.startswith("sqlite"):
            problems.append("DATABASE_URL 是 SQLite 文件，生产环境须使用 PostgreSQL")
        if self.push_key_source != "env":
            problems.append(
                "WECHAT_PUSH_TOKEN 与 WECHAT_PUSH_AES_KEY（小程序后台“消息推送”的 Token 和 "
                "EncodingAESKey）未配置，生产环境须通过环境变量配置"
            )
        if not self.console_secure_cookie:
            problems.append("CONSOLE_SECURE_COOKIE=false 只用于本机 http 调试，生产环境须为 true")
        if problems:
            raise SettingsError("生产模式拒绝启动：\n  - " + "\n  - ".join(problems))


def _signing_key_ring(config: str | None, name: str) -> tuple[str, dict[str, bytes]]:
    """ "kid:base64seed,…": the first signs, all verify."""
    if not config:
        raise SettingsError(f"{name} 未配置")
    ring: dict[str, bytes] = {}
    for part in config.split(","):
        kid, _, encoded = part.strip().partition(":")
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,16}", kid) or kid in ring:
            raise SettingsError(f"{name} 的密钥编号 {kid!r} 无效或重复")
        ring[kid] = _decode_key(encoded, f"{name}[{kid}]")
    return next(iter(ring)), ring


def _resolve_signing_keys(settings: Settings, field: str, source: str, what: str) -> None:
    """An Ed25519 key ring (`field`) from the environment, or (outside production) a key kept in
    KEY_FILE beside the other generated key material; `source` records which."""
    if getattr(settings, field):
        setattr(settings, source, "env")
    elif settings.production:
        setattr(settings, source, "missing")
        return
    else:
        path = settings.path(settings.key_file)
        stored = json.loads(path.read_text()) if path.exists() else {}
        if not stored.get(field):
            seed = base64.b64encode(secrets.token_bytes(32)).decode()
            stored[field] = f"local1:{seed}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(stored))
            path.chmod(0o600)
            log.warning("generated a local %s signing key in %s (development only)", what, path)
        setattr(settings, field, stored[field])
        setattr(settings, source, "generated")
    _signing_key_ring(getattr(settings, field), field.upper())


def _resolve_code_signing_keys(settings: Settings) -> None:
    _resolve_signing_keys(settings, "code_signing_keys", "code_key_source", "credit-code")
    _resolve_signing_keys(settings, "report_signing_keys", "report_key_source", "credit-report")


def _resolve_push_keys(settings: Settings) -> None:
    """The message-push Token and EncodingAESKey from the environment, or (outside production)
    generated and kept in KEY_FILE, so the built-in fake WeChat can sign its pushes."""
    if settings.wechat_push_token and settings.wechat_push_aes_key:
        settings.push_key_source = "env"
        return
    if settings.production:
        settings.push_key_source = "missing"
        return
    path = settings.path(settings.key_file)
    stored = json.loads(path.read_text()) if path.exists() else {}
    if not stored.get("wechat_push_token") or not stored.get("wechat_push_aes_key"):
        stored["wechat_push_token"] = secrets.token_hex(16)
        stored["wechat_push_aes_key"] = base64.b64encode(secrets.token_bytes(32)).decode()[:43]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(stored))
        path.chmod(0o600)
        log.warning("generated a local WeChat push token and key in %s (development only)", path)
    settings.wechat_push_token = settings.wechat_push_token or stored["wechat_push_token"]
    settings.wechat_push_aes_key = settings.wechat_push_aes_key or stored["wechat_push_aes_key"]
    settings.push_key_source = "generated"


def _decode_key(encoded: str, name: str) -> bytes:
    try:
        key = base64.b64decode(encoded, validate=True)
    except ValueError as exc:
        raise SettingsError(f"{name} 不是有效的 base64") from exc
    if len(key) != 32:
        raise SettingsError(f"{name} 须为 32 字节（base64 编码）")
    if key == bytes(32):
        raise SettingsError(f"{name} 是全零的默认密钥")
    return key


def _coerce_env(field: str, raw: str) -> Any:
    if field in ("demo", "access_log", "console_secure_cookie"):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    return raw


def read_config(name: str, path: Path | None = None) -> dict[str, Any]:
    """A TOML file of config/ (CONFIG_DIR): the settings and the rule tables officials change."""
    with (path or CONFIG_DIR / name).open("rb") as handle:
        return tomllib.load(handle)


def load_settings(env: dict[str, str] | None = None, *, resolve: bool = True) -> Settings:
    """Read config/default.toml, apply environment overrides, validate, fill keys."""
    env = dict(os.environ if env is None else env)
    values = read_config("default.toml")
    for name, field in ENV_VARS.items():
        if name in env and env[name] != "":
            values[field] = _coerce_env(field, env[name])
    if values.get("app_env") == "production" and "DEMO" not in env:
        values["demo"] = False  # production never defaults to demo logins
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in err["loc"]) for err in exc.errors())
        raise SettingsError(f"配置无效：{fields}\n{exc}") from exc
    if resolve:
        resolve_keys(settings)
        settings.check_production()
    return settings


def resolve_keys(settings: Settings) -> None:
    """Use configured keys, or (outside production) make and keep a local key file."""
    if settings.field_keys and settings.blind_index_key:
        settings.key_source = "env"
    elif settings.production:
        settings.key_source = "missing"
        _resolve_code_signing_keys(settings)
        _resolve_push_keys(settings)
        return
    else:
        path = settings.path(settings.key_file)
        if path.exists():
            stored = json.loads(path.read_text())
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            stored = {
                "field_keys": "local1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
                "blind_index_key": base64.b64encode(secrets.token_bytes(32)).decode(),
            }
            path.write_text(json.dumps(stored))
            path.chmod(0o600)
            log.warning("generated a local key file at %s (development only)", path)
        settings.field_keys = settings.field_keys or stored["field_keys"]
        settings.blind_index_key = settings.blind_index_key or stored["blind_index_key"]
        settings.key_source = "generated"
        log.warning("using key material from the local key file %s (development only)", path)
    settings.field_key_ring()
    settings.blind_index_key_bytes()
    _resolve_code_signing_keys(settings)
    _resolve_push_keys(settings)
