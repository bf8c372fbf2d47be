"""Every name the benches take from the service, in one file: when the service's modules move,
this is the edit (the bench scripts, bench/http_data.py and bench/service_variant.py import them
from here)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from credit.calendar_dates import add_months, today
from credit.identity import CONSENT_PURPOSE, CONSENT_TEXT
from credit.ingest import import_file
from credit.lookup import ID_NUMBER_FIELD
from qr.offline_verifier import OfflineVerifier
from server.cache import Keys, make_redis
from server.db import close_database, open_database
from server.security.crypto import FieldCipher
from server.settings import ENV_VARS, Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from sanic import Sanic

# The service's commands, as `python <args>`.
SERVE = ("-m", "server", "serve")
MIGRATE = ("-m", "server", "migrate")
FAKE_WECHAT = ("-m", "server.wechat.fake")

# Redis keys the benches read, after the REDIS_PREFIX they give the service.
AUDIT_STREAM = "audit:stream"
CREDIT_VIEWS = "credit:view:*"
CREDIT_CODE_RECORDS = "ccode:*"


def patch_audit(**replacements: Any) -> None:
    """Replace functions of the service's audit module (bench/service_variant.py)."""
    from server import audit

    for name, value in replacements.items():
        setattr(audit, name, value)


def service_app(settings: Settings) -> Sanic:
    """The service's own app factory, imported only when called (after a variant's patches)."""
    from server.app import create_app

    return create_app(settings, migrate_on_start=False)


async def migrate(settings: Settings) -> None:
    """What `python -m server serve` does before it serves."""
    from server.__main__ import _migrate

    await _migrate(settings)


__all__ = [
    "AUDIT_STREAM",
    "CONSENT_PURPOSE",
    "CONSENT_TEXT",
    "CREDIT_CODE_RECORDS",
    "CREDIT_VIEWS",
    "ENV_VARS",
    "FAKE_WECHAT",
    "ID_NUMBER_FIELD",
    "MIGRATE",
    "SERVE",
    "FieldCipher",
    "Keys",
    "OfflineVerifier",
    "Settings",
    "SettingsError",
    "add_months",
    "close_database",
    "import_file",
    "load_settings",
    "make_redis",
    "migrate",
    "open_database",
    "patch_audit",
    "service_app",
    "today",
]
