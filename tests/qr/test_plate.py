"""The plate as a phone uses it: print the poster, decode its QR code with OpenCV, follow the URL,
get the shop (the H5 page in a real browser: tests/scenarios/merchants/test_h5.py)."""

from __future__ import annotations

import io
from urllib.parse import urlparse

import pytest
from PIL import Image, ImageFont

from qr.plate import FontMissing, PosterContent, has_cjk_glyphs, poster_png
from scenarios.merchants.models import Merchant
from scenarios.merchants.rules import default_rules
from tests.helpers import decode_qr, make_record
from tests.scenarios.merchants.support import active_merchant


async def test_poster_decodes_to_the_plate_url_and_leads_to_the_shop(
    client, login, settings, runtime
):
    operator, merchant = await active_merchant(client, login, name="红柳滩农家乐")
    response = await client.get(f"/api/v1/merchants/{merchant['id']}/plate.png", headers=operator)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    poster = Image.open(io.BytesIO(response.content)).convert("RGB")
    assert poster.size == (1240, 1754)
    url = decode_qr(response.content)
    assert url == f"{settings.public_base_url}/m/{merchant['code']}"

    page = await client.get(urlparse(url).path)
    assert page.status_code == 200 and "红柳滩农家乐" in page.text
    shop = (await client.get(f"/api/v1/merchant-codes/{merchant['code']}")).json()
    assert shop["merchant"]["name"] == "红柳滩农家乐"

    bare = await client.get(f"/api/v1/merchants/{merchant['id']}/qr.png", headers=operator)
    assert decode_qr(bare.content) == url
    keys = await runtime.redis.keys(runtime.keys.poster(merchant["id"], "qr-*"))
    assert len(keys) == 1 and await runtime.redis.get(keys[0]) == bare.content  # kept
    # The level colour is printed: the header band is in it.
    assert poster.getpixel((20, 20)) == Image.new("RGB", (1, 1), shop["level"]["colour"]).getpixel(
        (0, 0)
    )


async def test_poster_is_cached_until_the_level_changes(client, login, runtime):
    operator, merchant = await active_merchant(client, login)
    path = f"/api/v1/merchants/{merchant['id']}/plate.png"
    first = (await client.get(path, headers=operator)).content
    cached = await runtime.redis.keys(runtime.keys.poster(merchant["id"], "*"))
    assert len(cached) == 1
    assert (await client.get(path, headers=operator)).content == first
    # A penalty published against the shop's subject moves it from B to C: a new plate.
    shop = await Merchant.get(id=merchant["id"])
    await make_record(shop.subject_id)
    second = (await client.get(path, headers=operator)).content
    assert len(await runtime.redis.keys(runtime.keys.poster(merchant["id"], "*"))) == 2
    assert second != first and decode_qr(second) == decode_qr(first)


async def test_plates_are_for_the_operator_and_staff_only(client, login):
    _operator, merchant = await active_merchant(client, login)
    stranger = await login("demo-citizen")
    for kind in ("plate.png", "qr.png"):
        path = f"/api/v1/merchants/{merchant['id']}/{kind}"
        assert (await client.get(path)).status_code == 401
        assert (await client.get(path, headers=stranger)).status_code == 404
        assert (await client.get(path, headers=await login("demo-admin"))).status_code == 200


async def test_no_cjk_font_means_no_poster(client, login, settings):
    operator, merchant = await active_merchant(client, login)
    saved = settings.plate_font_path
    settings.plate_font_path = "/nonexistent/font.ttc"
    try:
        refused = await client.get(
            f"/api/v1/merchants/{merchant['id']}/plate.png", headers=operator
        )
    finally:
        settings.plate_font_path = saved
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "FONT_MISSING"
    assert not has_cjk_glyphs(ImageFont.load_default(40))  # Latin-only: would print boxes
    content = PosterContent(
        "店", "区", "A", "优", "#1a9850", "https://x.test/m/a", "扫", _today(), "a"
    )
    with pytest.raises(FontMissing):
        poster_png(content, None)
    font = default_rules().font(settings.plate_font_path)
    assert font is not None and has_cjk_glyphs(ImageFont.truetype(str(font), 40))


def _today():  # type: ignore[no-untyped-def]
    from credit.calendar_dates import today

    return today()


@pytest.mark.parametrize("colour", [grade.colour for grade in default_rules().grades])
def test_the_poster_png_keeps_the_drawn_colours(colour: str) -> None:
    """The PNG is the drawing reduced to a palette: flat colours (white, the level colour, the
    code's black) exact, antialiased edges within a few levels, and the QR code pure black on
    pure white."""
    import numpy as np

    from qr.plate import poster_image

    rules = default_rules()
    content = PosterContent(
        "阿拉善左旗驼铃餐饮有限公司", "定远营", "A", "诚信经营", colour,
        "https://x.test/m/Abc123", rules.caption, _today(), "Abc123",
    )  # fmt: skip
    drawn = poster_image(content, rules.font())
    printed = Image.open(io.BytesIO(poster_png(content, rules.font()))).convert("RGB")
    assert printed.size == drawn.size
    drawn_pixels, printed_pixels = np.asarray(drawn, int), np.asarray(printed, int)
    assert np.abs(drawn_pixels - printed_pixels).max() <= 12
    for flat in ((255, 255, 255), (0, 0, 0), tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))):
        mask = (drawn_pixels == flat).all(axis=2)
        assert mask.sum() > 1000 and (printed_pixels[mask] == flat).all(), flat
    assert decode_qr(poster_png(content, rules.font())) == "https://x.test/m/Abc123"
