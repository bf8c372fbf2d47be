"""The database schema of the whole service: every domain's model modules and the migrations
that span them. The composition root says this, so no lower layer has to know the domains."""

from __future__ import annotations

import os

from infra.db import Schema, tortoise_config

SCHEMA = Schema(
    models=(
        "credit.models",
        "credit.applications.models",
        "credit.integrity.models",
        "scenarios.merchants.models",
        "scenarios.incentives.models",
        "scenarios.reports.models",
        "infra.models",
    ),
    migrations="server.migrations",
)

# For tortoise's own CLI (`tortoise makemigrations`), configured in pyproject.toml.
TORTOISE_ORM = tortoise_config(
    os.environ.get("DATABASE_URL", "sqlite://var/credit.sqlite3"), SCHEMA
)
