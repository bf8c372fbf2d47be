"""Attachments: type by content, size limit, EXIF stripped, owner and reviewers only."""

from __future__ import annotations

import io

from PIL import Image

from infra.models import Upload
from tests.helpers import unique_code


def jpeg_with_exif() -> bytes:
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0131] = "GPS-and-serial-here"  # Software
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif.tobytes())
    return buffer.getvalue()


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (10, 10), (0, 0, 255, 128)).save(buffer, "PNG")
    return buffer.getvalue()


def pdf(**catalog_extras) -> bytes:
    """A one-page PDF as an office suite exports it; `catalog_extras` go into its catalog."""
    from pypdf import PdfWriter
    from pypdf.generic import NameObject

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    for key, value in catalog_extras.items():
        writer._root_object[NameObject(f"/{key}")] = writer._add_object(value)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


PDF = pdf()


async def post(client, headers, content: bytes, name: str = "file.jpg"):
    return await client.post(
        "/api/v1/uploads", headers=headers, files={"file": (name, content, "image/jpeg")}
    )


async def test_image_is_reencoded_without_exif(client, login, settings):
    headers = await login(unique_code())
    original = jpeg_with_exif()
    assert b"SecretCam" in original
    response = await post(client, headers, original, name="证明.jpg")
    assert response.status_code == 201
    body = response.json()
    assert body["content_type"] == "image/jpeg" and body["size"] > 0
    stored = await Upload.get(id=body["id"])
    on_disk = (settings.path(settings.upload_dir) / stored.storage_path).read_bytes()
    assert b"SecretCam" not in on_disk and b"GPS-and-serial-here" not in on_disk
    assert not Image.open(io.BytesIO(on_disk)).getexif()
    fetched = await client.get(f"/api/v1/uploads/{body['id']}", headers=headers)
    assert fetched.status_code == 200 and fetched.content == on_disk
    assert fetched.headers["content-type"] == "image/jpeg"


async def test_png_and_pdf_are_accepted_by_content_whatever_the_name(client, login):
    headers = await login(unique_code())
    png_response = await post(client, headers, png(), name="photo.pdf")
    assert png_response.status_code == 201
    assert png_response.json()["content_type"] == "image/png"
    pdf_response = await post(client, headers, PDF, name="scan.jpg")
    assert pdf_response.status_code == 201
    assert pdf_response.json()["content_type"] == "application/pdf"


async def test_other_content_is_refused_whatever_the_name(client, login):
    headers = await login(unique_code())
    before = await Upload.all().count()
    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, "GIF")
    for content, name in (
        (b"MZ\x90\x00 an executable", "photo.jpg"),
        (b"<script>alert(1)</script>", "scan.pdf"),
        (gif.getvalue(), "a.png"),
        (b"%PDF-1.4 truncated", "a.pdf"),
        (jpeg_with_exif()[:200], "cut.jpg"),
    ):
        response = await post(client, headers, content, name=name)
        assert response.status_code == 422, name
        assert response.json()["error"]["message"]
    assert await Upload.all().count() == before


async def test_size_limit_and_missing_file(client, login, settings):
    headers = await login(unique_code())
    original = settings.upload_max_bytes
    settings.upload_max_bytes = 1000
    try:
        response = await post(client, headers, PDF + b"x" * 2000 + b"%%EOF")
    finally:
        settings.upload_max_bytes = original
    assert response.status_code == 413
    assert "MB" in response.json()["error"]["message"]
    missing = await client.post("/api/v1/uploads", headers=headers, data={"other": "x"})
    assert missing.status_code == 422
    empty = await post(client, headers, b"")
    assert empty.status_code == 422


async def test_only_owner_and_reviewers_read_an_upload(client, login):
    owner = await login(unique_code())
    upload_id = (await post(client, owner, png())).json()["id"]
    stranger = await login(unique_code())
    refused = await client.get(f"/api/v1/uploads/{upload_id}", headers=stranger)
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "UPLOAD_NOT_FOUND"
    reviewer = await login("demo-reviewer")
    assert (await client.get(f"/api/v1/uploads/{upload_id}", headers=reviewer)).status_code == 200
    assert (await client.get(f"/api/v1/uploads/{upload_id}")).status_code == 401
    assert (await client.post("/api/v1/uploads", files={"file": ("a", png())})).status_code == 401


# Issue 12 item 5: uploads cannot exhaust the server.


def bomb_png(width: int = 6300, height: int = 6300) -> bytes:
    """A flat image compresses to next to nothing: 6300x6300 is ~130 KB, 119 MB decoded."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (250, 250, 250)).save(buffer, "PNG")
    return buffer.getvalue()


async def test_decompression_heavy_image_is_refused_before_decoding(client, login):
    import time

    headers = await login(unique_code())
    content = bomb_png()
    assert len(content) < 200_000
    before = await Upload.all().count()
    started = time.process_time()
    response = await post(client, headers, content, name="bomb.png")
    spent = time.process_time() - started
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "UPLOAD_TOO_MANY_PIXELS"
    assert "百万像素" in response.json()["error"]["message"]
    assert spent < 0.5  # decoding it took ~1.2 s of CPU before
    assert await Upload.all().count() == before


async def test_image_within_the_pixel_limit_is_accepted(client, login, settings):
    headers = await login(unique_code())
    original = settings.upload_max_pixels
    settings.upload_max_pixels = 100 * 100
    try:
        at_limit = await post(client, headers, bomb_png(100, 100), name="ok.png")
        over = await post(client, headers, bomb_png(101, 100), name="over.png")
    finally:
        settings.upload_max_pixels = original
    assert at_limit.status_code == 201
    assert over.status_code == 422 and over.json()["error"]["code"] == "UPLOAD_TOO_MANY_PIXELS"


async def test_checks_run_in_a_bounded_pool_and_a_full_pool_answers_503(client, login, settings):
    import asyncio

    headers = await login(unique_code())
    heavy = bomb_png(4000, 4000)  # ~0.4 s to decode and re-encode
    saved = settings.upload_concurrency, settings.upload_queue_seconds
    settings.upload_concurrency, settings.upload_queue_seconds = 1, 0.05
    try:
        responses = await asyncio.gather(
            *(post(client, headers, heavy, name=f"{n}.png") for n in range(3))
        )
    finally:
        settings.upload_concurrency, settings.upload_queue_seconds = saved
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 503, 503], statuses
    busy = next(r for r in responses if r.status_code == 503)
    assert busy.json()["error"]["code"] == "UPLOAD_BUSY"
    assert busy.headers["retry-after"] == "5"


def _javascript_action():
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    return DictionaryObject(
        {
            NameObject("/S"): NameObject("/JavaScript"),
            NameObject("/JS"): TextStringObject("app.alert('hi')"),
        }
    )


def _active_pdfs() -> dict[str, bytes]:
    from pypdf import PdfWriter
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    open_action_js = pdf(OpenAction=_javascript_action())
    launch = pdf(
        OpenAction=DictionaryObject(
            {
                NameObject("/S"): NameObject("/Launch"),
                NameObject("/F"): TextStringObject("cmd.exe"),
            }
        )
    )
    page_aa = PdfWriter()
    page = page_aa.add_blank_page(200, 200)
    page[NameObject("/AA")] = DictionaryObject({NameObject("/O"): _javascript_action()})
    buffer = io.BytesIO()
    page_aa.write(buffer)
    embedded = PdfWriter()
    embedded.add_blank_page(200, 200)
    embedded.add_attachment("invoice.exe", b"MZ\x90\x00")
    embedded_buffer = io.BytesIO()
    embedded.write(embedded_buffer)
    return {
        "OpenAction JavaScript": open_action_js,
        # PDF name escapes: the viewer reads /J#61vaScript as /JavaScript.
        "obfuscated name": open_action_js.replace(b"/JavaScript", b"/J#61vaScript"),
        "Launch": launch,
        "page /AA": buffer.getvalue(),
        "embedded file": embedded_buffer.getvalue(),
    }


async def test_pdfs_with_scripts_actions_or_embedded_files_are_refused(client, login):
    headers = await login(unique_code())
    before = await Upload.all().count()
    for name, content in _active_pdfs().items():
        response = await post(client, headers, content, name=f"{name}.pdf")
        assert response.status_code == 422, name
        assert response.json()["error"]["code"] == "UPLOAD_PDF_ACTIVE", name
        assert "脚本" in response.json()["error"]["message"]
    assert await Upload.all().count() == before
    # A PDF that opens at a page (a destination, not an action) is an ordinary export.
    plain = await post(client, headers, pdf(), name="ok.pdf")
    assert plain.status_code == 201


async def test_encrypted_or_unreadable_pdf_is_refused(client, login):
    from pypdf import PdfWriter

    headers = await login(unique_code())
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt("secret")
    buffer = io.BytesIO()
    writer.write(buffer)
    encrypted = await post(client, headers, buffer.getvalue(), name="locked.pdf")
    assert encrypted.status_code == 422
    assert encrypted.json()["error"]["code"] == "UPLOAD_PDF_ENCRYPTED"
    garbage = await post(client, headers, b"%PDF-1.7\n" + b"\x00" * 300 + b"\n%%EOF\n")
    assert garbage.status_code == 422
    assert garbage.json()["error"]["code"] == "UPLOAD_INVALID"


async def test_pdf_is_served_as_a_download_and_images_inline(client, login):
    from urllib.parse import quote

    headers = await login(unique_code())
    pdf_id = (await post(client, headers, PDF, name="营业执照 2024.pdf")).json()["id"]
    fetched = await client.get(f"/api/v1/uploads/{pdf_id}", headers=headers)
    assert fetched.status_code == 200 and fetched.content == PDF
    disposition = fetched.headers["content-disposition"]
    assert disposition == (
        f'attachment; filename="upload-{pdf_id}.pdf"; '
        f"filename*=UTF-8''{quote('营业执照 2024.pdf', safe='')}"
    )
    assert fetched.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in fetched.headers["content-security-policy"]
    # A name without the right extension gets it; quotes and CR/LF cannot break the header.
    odd_id = (await post(client, headers, PDF, name='a"b\r\nX-Evil: 1')).json()["id"]
    odd = await client.get(f"/api/v1/uploads/{odd_id}", headers=headers)
    assert "x-evil" not in odd.headers
    odd_disposition = odd.headers["content-disposition"]
    assert "\n" not in odd_disposition and '"' not in odd_disposition.split("filename*=")[1]
    assert odd_disposition.endswith("X-Evil%3A%201.pdf")
    image_id = (await post(client, headers, png(), name="照片.png")).json()["id"]
    image = await client.get(f"/api/v1/uploads/{image_id}", headers=headers)
    assert image.headers["content-disposition"].startswith(
        f'inline; filename="upload-{image_id}.png"'
    )
