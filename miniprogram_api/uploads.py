"""Attachments (API.md "Registration, repair, objection": POST /api/v1/uploads)."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, raw

from infra import uploads
from infra.errors import Invalid
from miniprogram_api.common import json_body, limit_per_client, require_session, runtime
from miniprogram_api.openapi_schemas import BINARY, INT, api_doc, enum, obj, path

CONTENT_TYPES = ("image/jpeg", "image/png", "application/pdf")

bp = Blueprint("uploads", url_prefix="/api/v1")


@bp.post("/uploads")
@api_doc(
    "上传附件（仅图片与 PDF，按内容识别，图片去除 EXIF，含脚本或嵌入文件的 PDF 拒收）",
    "applications",
    obj({"id": INT, "content_type": enum(*CONTENT_TYPES), "size": INT}),
    status=201,
    multipart=obj({"file": {"type": "string", "contentMediaType": "application/octet-stream"}}),
    secured=True,
    errors=(429,),
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
@api_doc(
    "读取附件（本人或审核人员）",
    "applications",
    BINARY,
    content_type=CONTENT_TYPES,
    secured=True,
    params=[path("upload_id", "附件编号")],
)
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
