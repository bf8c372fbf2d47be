"""Attachments: images and PDF only, recognised by their content, never by their name.

Images are refused by their declared size before any pixel is decoded, then decoded and
re-encoded with Pillow, which drops EXIF (GPS position, camera serials) and anything hidden after
the image data. PDFs are read with pypdf and refused when they carry JavaScript, automatic
actions, launch actions or embedded files; otherwise they are kept as sent. The checks run in a
small thread pool of their own (UPLOAD_CONCURRENCY per worker), so a burst of heavy files cannot
take every core or all the memory. Files live under the configured directory; only the owner and
reviewers may read them, and they are served as downloads (see `content_disposition`).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import re
import secrets
import warnings
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from PIL import Image, ImageOps
from pypdf import PdfReader
from pypdf.errors import PyPdfError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

from infra.errors import ApiError, Invalid, NotFound, ServiceUnavailable
from infra.models import Upload
from infra.params import path_id, strip_control_characters
from infra.security.sessions import Session
from infra.settings import Settings

log = logging.getLogger(__name__)

IMAGE_FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png")}
READER_ROLES = ("reviewer", "admin")

# What a PDF viewer runs or opens by itself. Keys of a dictionary ...
PDF_ACTIVE_KEYS = frozenset(
    {"/JS", "/JavaScript", "/AA", "/Launch", "/EmbeddedFile", "/EmbeddedFiles", "/RichMedia"}
)
# ... and values of an action's /S or an object's /Type.
PDF_ACTIVE_NAMES = frozenset(
    {"/JavaScript", "/Launch", "/EmbeddedFile", "/RichMediaExecute", "/ImportData", "/GoToE"}
)
# The same names in the raw bytes, however spelt: "/J#61vaScript" is "/JavaScript" (PDF 32000-1
# 7.3.5). This catches objects that no cross-reference points to, which a viewer's repair of a
# broken file may still find.
_RAW_NAME = re.compile(rb"/[^\s/<>\[\]()%{}]+")
_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")


class UploadTooLarge(ApiError):
    status, code = 413, "UPLOAD_TOO_LARGE"


@dataclass(frozen=True)
class CleanFile:
    content: bytes
    content_type: str
    extension: str


def clean(content: bytes, max_pixels: int) -> CleanFile:
    """Recognise and sanitise the bytes; raises 422 for anything not an image or a safe PDF."""
    if content.startswith(b"%PDF-"):
        _check_pdf(content)
        return CleanFile(content, "application/pdf", "pdf")
    return _reencode_image(content, max_pixels)


def _too_many_pixels(max_pixels: int) -> Invalid:
    megapixels = max_pixels // 1_000_000
    return Invalid(
        f"图片像素过大（不能超过 {megapixels} 百万像素），请缩小后上传",
        code="UPLOAD_TOO_MANY_PIXELS",
    )


def _reencode_image(content: bytes, max_pixels: int) -> CleanFile:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content)) as image:
                if image.format not in IMAGE_FORMATS:
                    raise Invalid("只能上传 JPG、PNG 图片或 PDF 文件", code="UPLOAD_TYPE")
                # The header's declared size, before a single pixel is decoded.
                if image.width * image.height > max_pixels:
                    raise _too_many_pixels(max_pixels)
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
        raise _too_many_pixels(max_pixels) from exc
    except (OSError, ValueError, SyntaxError) as exc:  # what Pillow raises for unknown data
        raise Invalid("只能上传 JPG、PNG 图片或 PDF 文件", code="UPLOAD_TYPE") from exc
    return CleanFile(buffer.getvalue(), content_type, extension)


def _pdf_refused() -> Invalid:
    return Invalid(
        "PDF 含有脚本、自动操作或嵌入文件，不能上传；请用“打印为 PDF”重新导出后再上传",
        code="UPLOAD_PDF_ACTIVE",
    )


def _check_pdf(content: bytes) -> None:
    """Every object pypdf finds (the cross-reference table and object streams, names decoded),
    and every name in the raw bytes: no script, automatic action, launch or embedded file."""
    if b"%%EOF" not in content[-2048:]:
        raise Invalid("PDF 文件不完整，请重新导出后上传", code="UPLOAD_INVALID")
    if any(_decode_name(raw) in PDF_ACTIVE_KEYS | PDF_ACTIVE_NAMES for raw in _raw_names(content)):
        raise _pdf_refused()
    try:
        reader = PdfReader(io.BytesIO(content), strict=False)
        if reader.is_encrypted:
            raise Invalid("PDF 已加密，请去除密码后上传", code="UPLOAD_PDF_ENCRYPTED")
        objects = [reader.trailer, *_indirect_objects(reader)]
        if any(_is_active(obj) for obj in objects):
            raise _pdf_refused()
    except Invalid:
        raise
    except (PyPdfError, OSError, ValueError, KeyError, TypeError, AttributeError,
            RecursionError) as exc:  # fmt: skip
        raise Invalid("PDF 文件无法读取，请重新导出后上传", code="UPLOAD_INVALID") from exc


def _raw_names(content: bytes) -> Iterator[bytes]:
    for match in _RAW_NAME.finditer(content):
        yield match.group()


def _decode_name(raw: bytes) -> str:
    decoded = _NAME_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw)
    return decoded.decode("latin-1")


def _indirect_objects(reader: PdfReader) -> Iterator[Any]:
    numbers = {number for table in reader.xref.values() for number in table}
    numbers.update(reader.xref_objStm)
    for number in sorted(numbers):
        yield reader.get_object(number)


def _is_active(obj: Any, depth: int = 0) -> bool:
    """Direct objects nested in one indirect object; indirect ones are each visited anyway."""
    if depth > 64 or isinstance(obj, IndirectObject):
        return False
    if isinstance(obj, DictionaryObject):
        if any(str(key) in PDF_ACTIVE_KEYS for key in obj):
            return True
        if str(obj.get("/S", "")) in PDF_ACTIVE_NAMES:
            return True
        if str(obj.get("/Type", "")) in PDF_ACTIVE_NAMES:
            return True
        return any(_is_active(value, depth + 1) for value in obj.values())
    if isinstance(obj, ArrayObject):
        return any(_is_active(value, depth + 1) for value in obj)
    return False


class _CleaningPool:
    """At most `size` files checked at once per worker, in threads of their own (the default
    executor renders posters and reads files); a request waits a bounded time for a place."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="upload-clean")
        self.places = asyncio.Semaphore(size)

    async def run(self, settings: Settings, content: bytes) -> CleanFile:
        try:
            await asyncio.wait_for(self.places.acquire(), settings.upload_queue_seconds)
        except TimeoutError as exc:
            log.warning("upload pool busy: %d files being checked", self.size)
            raise ServiceUnavailable(
                "上传人数较多，请稍后再试", code="UPLOAD_BUSY", retry_after=5
            ) from exc
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self.executor, clean, content, settings.upload_max_pixels
            )
        finally:
            self.places.release()


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _CleaningPool] = (
    weakref.WeakKeyDictionary()
)


def _pool(settings: Settings) -> _CleaningPool:
    """One pool per event loop, i.e. per worker process (tools and tests may run other loops)."""
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None or pool.size != settings.upload_concurrency:
        pool = _pools[loop] = _CleaningPool(settings.upload_concurrency)
    return pool


def content_disposition(upload: Upload) -> str:
    """PDFs download rather than open in the browser's viewer; images show inline. The name is
    ASCII in `filename` and the owner's own name in `filename*` (RFC 6266, RFC 5987)."""
    kind = "inline" if upload.content_type.startswith("image/") else "attachment"
    extension = upload.storage_path.rsplit(".", 1)[-1]
    fallback = f"upload-{upload.id}.{extension}"
    name = upload.original_name or fallback
    if not name.lower().endswith(f".{extension}"):
        name = f"{name}.{extension}"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


async def store_upload(
    settings: Settings, session: Session, content: bytes, original_name: str | None
) -> Upload:
    if not content:
        raise Invalid("文件为空", fields={"file": "请选择文件"})
    if len(content) > settings.upload_max_bytes:
        limit_mb = settings.upload_max_bytes // (1024 * 1024)
        raise UploadTooLarge(f"文件过大，不能超过 {limit_mb} MB")
    cleaned = await _pool(settings).run(settings, content)
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


async def describe(session: Session, ids: list[int]) -> dict[int, str]:
    """The content types of the uploads among `ids` that the caller may read (as
    readable_upload decides), so a page can show images and PDFs inline."""
    if not ids:
        return {}
    query = Upload.filter(id__in=ids)
    if not session.has_role(*READER_ROLES):
        query = query.filter(owner_id=session.user_id)
    rows = await query.values_list("id", "content_type")
    return {int(upload_id): str(content_type) for upload_id, content_type in rows}
