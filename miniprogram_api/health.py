"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from tortoise import connections

from miniprogram_api.common import json_body, runtime
from miniprogram_api.openapi_schemas import STR, api_doc, enum, obj

bp = Blueprint("health")

READINESS = obj(
    {
        "status": enum("ok", "unavailable"),
        "checks": obj({"database": STR, "cache": STR}),
    }
)


@bp.get("/healthz")
@api_doc("存活检查", "health", obj({"status": enum("ok")}))
async def healthz(request: Request) -> HTTPResponse:
    return json_body({"status": "ok"})


@bp.get("/readyz")
@api_doc(
    "就绪检查：数据库与缓存均可用",
    "health",
    READINESS,
    other={503: ("数据库或缓存不可用", READINESS)},
)
async def readyz(request: Request) -> HTTPResponse:
    rt = runtime(request)
    checks = {"database": "ok", "cache": "ok"}
    try:
        await asyncio.wait_for(connections.get("default").execute_query("SELECT 1"), 2)
    except Exception:
        checks["database"] = "unavailable"
    try:
        await asyncio.wait_for(rt.redis.ping(), 2)
    except Exception:
        checks["cache"] = "unavailable"
    ready = all(v == "ok" for v in checks.values())
    return json_body(
        {"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503
    )
