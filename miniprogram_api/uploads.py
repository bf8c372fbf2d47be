"""Attachments (API.md "Registration, repair, objection": POST /api/v1/uploads)."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, raw
from sanic_ext import openapi

from infra import uploads
from infra.errors import Invalid
from miniprogram_api.common import (
    BEARER,
    json_body,
    limit_per_client,
    require_session,
    runtime,
)

bp = Blueprint("uploads", url_prefix="/api/v1")


@bp.post("/uploads")
@openapi.definition(
    summary="上传附件（仅图片与 PDF，按内容识别，图片去除 EXIF，含脚本或嵌入文件的 PDF 拒收）",
    tag="applications",
    secured=BEARER,
)
async def upload(request: Request) -> HTTPResponse:
    session = await require_session(request)
    await limit_per_client(request, session, "upload")
    file = request.files.get("file") if request.files else None
    if file is None:
        raise Invalid("请以 multipart 表单的 file 字段上传文件", fields={"file": "必填"})
    stored = await uploads.store_upload(runtime(request).settings, session, file.body, file.name)
    return json_body(
        {"id": stored.id, "content_type": stored.content_type, "size": stored.size}, status=201
    )


@bp.get("/uploads/<upload_id:str>")
@openapi.definition(summary="读取附件（本人或审核人员）", tag="applications", secured=BEARER)
async def read_upload(request: Request, upload_id: str) -> HTTPResponse:
    session = await require_session(request)
    stored, content = await uploads.readable_upload(runtime(request).settings, session, upload_id)
    return raw(
        content,
        content_type=stored.content_type,
        headers={
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": uploads.content_disposition(stored),
            # Opened in a tab all the same, a file runs nothing and loads nothing.
            "Content-Security-Policy": "default-src 'none'; sandbox; frame-ancestors 'none'",
        },
    )
