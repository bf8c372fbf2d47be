"""Attachments: images and PDF only, recognised by their content, never by their name.

Images are decoded and re-encoded with Pillow, which drops EXIF (GPS position, camera serials)
and anything hidden after the image data; PDFs are kept as sent after a structural check. Files
live under the configured directory; only the owner and reviewers may read them.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import secrets
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image, ImageOps

from infra.errors import ApiError, Invalid, NotFound
from infra.models import Upload
from infra.params import path_id, strip_control_characters
from infra.security.sessions import Session
from infra.settings import Settings

MAX_PIXELS = 40_000_000  # a 40-megapixel photo is plenty; larger is likely a decompression bomb
IMAGE_FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png")}
READER_ROLES = ("reviewer", "admin")


class UploadTooLarge(ApiError):
    status, code = 413, "UPLOAD_TOO_LARGE"


@dataclass(frozen=True)
class CleanFile:
    content: bytes
    content_type: str
    extension: str


def clean(content: bytes) -> CleanFile:
    """Recognise and sanitise the bytes; raises 422 for anything not an image or a PDF."""
    if content.startswith(b"%PDF-"):
        if b"%%EOF" not in content[-2048:]:
            raise Invalid("PDF 文件不完整，请重新导出后上传", code="UPLOAD_INVALID")
        return CleanFile(content, "application/pdf", "pdf")
    return _reencode_image(content)


def _reencode_image(content: bytes) -> CleanFile:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content)) as image:
                if image.format not in IMAGE_FORMATS:
                    raise Invalid("只能上传 JPG、PNG 图片或 PDF 文件", code="UPLOAD_TYPE")
                if image.width * image.height > MAX_PIXELS:
                    raise Invalid("图片尺寸过大，请压缩后上传", code="UPLOAD_INVALID")
                content_type, extension = IMAGE_FORMATS[image.format]
                image.load()
                upright = ImageOps.exif_transpose(image)
                buffer = io.BytesIO()
                if image.format == "JPEG":
                    upright.convert("RGB").save(buffer, "JPEG", quality=90, optimize=True)
                else:
                    keep = (
                        upright
                        if upright.mode in ("RGB", "RGBA", "L", "LA")
                        else upright.convert("RGBA")
                    )
                    keep.save(buffer, "PNG", optimize=True)
    except Invalid:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise Invalid("图片尺寸过大，请压缩后上传", code="UPLOAD_INVALID") from exc
    except (OSError, ValueError, SyntaxError) as exc:  # what Pillow raises for unknown data
        raise Invalid("只能上传 JPG、PNG 图片或 PDF 文件", code="UPLOAD_TYPE") from exc
    return CleanFile(buffer.getvalue(), content_type, extension)


async def store_upload(
    settings: Settings, session: Session, content: bytes, original_name: str | None
) -> Upload:
    if not content:
        raise Invalid("文件为空", fields={"file": "请选择文件"})
    if len(content) > settings.upload_max_bytes:
        limit_mb = settings.upload_max_bytes // (1024 * 1024)
        raise UploadTooLarge(f"文件过大，不能超过 {limit_mb} MB")
    cleaned = await asyncio.to_thread(clean, content)
    now = datetime.now(UTC)
    relative = Path(f"{now:%Y/%m}") / f"{secrets.token_hex(16)}.{cleaned.extension}"
    target = settings.path(settings.upload_dir) / relative
    await asyncio.to_thread(_write, target, cleaned.content)
    return await Upload.create(
        owner_id=session.user_id,
        content_type=cleaned.content_type,
        size=len(cleaned.content),
        sha256=hashlib.sha256(cleaned.content).hexdigest(),
        storage_path=str(relative),
        # A name is only shown back to its owner; control characters (U+0000 on PostgreSQL)
        # are dropped rather than refusing the file over its name.
        original_name=strip_control_characters(original_name or "")[:120] or None,
    )


def _write(target: Path, content: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)


async def readable_upload(
    settings: Settings, session: Session, upload_id: str
) -> tuple[Upload, bytes]:
    """The owner and reviewers read a file; anyone else is told it does not exist."""
    upload = await Upload.get_or_none(id=path_id(upload_id, "文件不存在", "UPLOAD_NOT_FOUND"))
    allowed = upload is not None and (
        upload.owner_id == session.user_id or session.has_role(*READER_ROLES)
    )
    if upload is None or not allowed:
        raise NotFound("文件不存在", code="UPLOAD_NOT_FOUND")
    path = settings.path(settings.upload_dir) / upload.storage_path
    content = await asyncio.to_thread(path.read_bytes)
    return upload, content


async def owned_upload_ids(session: Session, ids: list[int]) -> list[int]:
    """Attachments of an application must be the applicant's own uploads."""
    if not ids:
        return []
    found = await Upload.filter(id__in=ids, owner_id=session.user_id).values_list("id", flat=True)
    missing = sorted(set(ids) - set(found))
    if missing:
        raise Invalid("附件不存在或不属于您", fields={"attachments": f"无效的附件：{missing}"})
    return list(ids)
