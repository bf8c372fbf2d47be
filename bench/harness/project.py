"""Every name the benches take from the service, in one file: when the service's modules move,
this is the edit (the bench scripts, bench/http_data.py and bench/service_variant.py import them
from here)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from credit.calendar_dates import add_months, today
from credit.identity import identity_consent
from credit.ingest import import_file
from credit.models import ID_NUMBER_FIELD
from credit.person_names import seal_legal_representative, seal_person_name
from infra.cache import Keys, make_redis
from infra.db import close_database
from infra.db import open_database as _open_database
from infra.security.crypto import FieldCipher
from infra.settings import ENV_VARS, Settings, SettingsError, load_settings
from qr.offline_verifier import OfflineVerifier
from server.schema import SCHEMA

if TYPE_CHECKING:
    from sanic import Sanic

# The service's commands, as `python <args>`.
SERVE = ("-m", "server", "serve")
MIGRATE = ("-m", "server", "migrate")
FAKE_WECHAT = ("-m", "infra.wechat.fake")

# Redis keys the benches read, after the REDIS_PREFIX they give the service.
AUDIT_STREAM = "audit:stream"
CREDIT_VIEWS = "credit:view:*"
CREDIT_CODE_RECORDS = "ccode:*"
INCENTIVE_USED = "incentive-used:*"


async def open_database(database_url: str) -> None:
    """The service's database with its whole schema, as `python -m server` opens it."""
    await _open_database(database_url, SCHEMA)


def patch_audit(run_drainer: Any, run_drainer_process: Any) -> None:
    """Replace the audit drain loop and the drainer process (bench/service_variant.py)."""
    from infra import audit
    from server import drainer

    audit.run_drainer = run_drainer
    drainer.run_drainer_process = run_drainer_process


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
    "CREDIT_CODE_RECORDS",
    "CREDIT_VIEWS",
    "ENV_VARS",
    "FAKE_WECHAT",
    "ID_NUMBER_FIELD",
    "INCENTIVE_USED",
    "MIGRATE",
    "SERVE",
    "FieldCipher",
    "Keys",
    "OfflineVerifier",
    "Settings",
    "SettingsError",
    "add_months",
    "close_database",
    "identity_consent",
    "import_file",
    "load_settings",
    "make_redis",
    "migrate",
    "open_database",
    "patch_audit",
    "seal_legal_representative",
    "seal_person_name",
    "service_app",
    "today",
]
