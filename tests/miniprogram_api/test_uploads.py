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


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


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
