"""The plate's traditional Mongolian (qr/mongolian.py, issue 15): every string it prints shapes
without a missing glyph in the font used, the block stands taller than wide, long names wrap at
spaces into further columns at smaller sizes, and the QR code still decodes."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest
import uharfbuzz as hb
from PIL import Image

from infra.i18n import is_mongolian_char, translate
from qr import mongolian
from qr.plate import BAND_MARGIN, BAND_WIDTH, POSTER_SIZE, PosterContent, poster_png
from scenarios.merchants.rules import default_rules
from tests.helpers import decode_qr
from tests.scenarios.merchants.support import active_merchant

RULES = default_rules()
FONT = RULES.mongolian_font()
CJK = RULES.font()
pytestmark = pytest.mark.skipif(
    FONT is None or CJK is None, reason="fonts-noto-core / fonts-wqy-microhei not installed"
)
NAME_MN = "ᠲᠡᠮᠡᠭᠡᠨ ᠬᠣᠩᠬᠣ ᠬᠣᠭᠣᠯᠠ ᠶᠢᠨ ᠭᠠᠵᠠᠷ"


def plate_strings() -> set[str]:
    """Every Mongolian text a plate can print: zones, level captions, the scan line, the demo
    shops' names."""
    texts = {z.name_mn for z in RULES.zones.values() if z.name_mn}
    texts |= {translate(f"信用等级：{g.label}") for g in RULES.grades}
    texts.add(translate(RULES.caption))
    texts.add(NAME_MN)
    return {t for t in texts if any(is_mongolian_char(c) for c in t)}


def shaped_glyphs(text: str, font_path: Path) -> list[int]:
    face = hb.Face(font_path.read_bytes())
    font = hb.Font(face)
    buffer = hb.Buffer()
    buffer.add_str(text)
    buffer.guess_segment_properties()
    hb.shape(font, buffer, {})
    return [info.codepoint for info in buffer.glyph_infos]


def test_every_mongolian_string_of_the_plate_shapes_without_notdef():
    assert FONT is not None
    texts = plate_strings()
    # The catalogue has every plate text: the three zones, four captions, the scan line, a name.
    assert len(texts) >= 9, texts
    for text in texts:
        glyphs = shaped_glyphs(text, FONT)
        assert glyphs and 0 not in glyphs, f"missing glyph (.notdef) in {text!r}"
        # Shaping joined the letters: positional forms, not one isolated glyph per letter.
        assert mongolian.line_length(mongolian.mongolian_font(FONT, 40), text) > 0
    # The check itself catches a glyph the font lacks (a CJK character has none there).
    assert 0 in shaped_glyphs("信", FONT)


def content(**overrides: str) -> PosterContent:
    values = dict(
        name="驼铃餐厅（定远营店）", zone="定远营诚信示范街区", grade="B",
        grade_label="诚信经营", colour="#66bd63", url="http://127.0.0.1:8000/m/DemoTuoling01",
        caption=RULES.caption, issued_on=date(2026, 1, 5), code="DemoTuoling01",
        name_mn=NAME_MN, zone_mn=RULES.zones["dingyuanying"].name_mn,
        grade_caption_mn=translate("信用等级：诚信经营"), caption_mn=translate(RULES.caption),
    )  # fmt: skip
    values.update(overrides)
    return PosterContent(**values)  # type: ignore[arg-type]


def ink_box(image: Image.Image, left: int, right: int) -> tuple[int, int, int, int]:
    """The bounding box of everything not white between two x positions (below the header)."""
    band = image.crop((left, 200, right, POSTER_SIZE[1] - 100)).convert("L")
    box = band.point(lambda v: 255 if v < 200 else 0).getbbox()
    assert box is not None, "nothing printed in the band"
    return box


def test_the_mongolian_block_on_the_plate_is_taller_than_wide_and_the_qr_decodes():
    png = poster_png(content(), CJK, FONT)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    for left in (BAND_MARGIN, POSTER_SIZE[0] - BAND_MARGIN - BAND_WIDTH):
        x0, y0, x1, y1 = ink_box(image, left, left + BAND_WIDTH)
        assert (y1 - y0) > 2 * (x1 - x0), (x0, y0, x1, y1)
    assert decode_qr(png) == "http://127.0.0.1:8000/m/DemoTuoling01"
    # Without Mongolian the bands are empty (Chinese-only plate as before).
    bare = Image.open(io.BytesIO(poster_png(content(name_mn="", zone_mn="", grade_caption_mn="",
                                                     caption_mn=""), CJK, FONT)))  # fmt: skip
    band = bare.convert("L").crop((BAND_MARGIN, 600, BAND_MARGIN + BAND_WIDTH, 1600))
    assert band.getextrema()[0] > 200


def test_a_long_name_wraps_at_spaces_into_columns_at_a_smaller_size():
    assert FONT is not None
    words = ["ᠠᠯᠠᠱᠠ", "ᠵᠡᠭᠦᠨ", "ᠬᠣᠰᠢᠭᠤ", "ᠶᠢᠨ", "ᠲᠡᠮᠡᠭᠡᠨ", "ᠬᠣᠩᠬᠣ", "ᠬᠣᠭᠣᠯᠠ", "ᠶᠢᠨ", "ᠭᠠᠵᠠᠷ"]
    long_name = " ".join(words * 3)
    box = (0, 0, BAND_WIDTH, 900)
    short = mongolian.layout([mongolian.Paragraph(NAME_MN, 52, 24)], FONT, box)
    placed = mongolian.layout([mongolian.Paragraph(long_name, 52, 24)], FONT, box)
    assert len(short.columns) == 1 and short.columns[0].size == 52
    assert len(placed.columns) > 1
    assert placed.columns[0].size < 52  # stepped down to fit the band's width
    for column in placed.columns:
        assert column.height <= 900 and set(column.text.split()) <= set(words)  # whole words
    assert " ".join(c.text for c in placed.columns) == long_name  # nothing lost, order kept
    _, _, x1, _ = placed.box
    assert x1 <= BAND_WIDTH and [c.left for c in placed.columns] == sorted(
        c.left for c in placed.columns
    )  # columns left to right
    # A word longer than the column cannot be set, not even at the smallest size.
    with pytest.raises(mongolian.LayoutError):
        mongolian.layout([mongolian.Paragraph("ᠠ" * 400, 52, 24)], FONT, (0, 0, 200, 300))


async def test_a_plate_with_the_operators_mongolian_name_decodes(client, login, settings):
    operator, merchant = await active_merchant(client, login, name_mn=NAME_MN)
    assert merchant["name_mn"] == NAME_MN and merchant["name_mn_by"] == "merchant"
    response = await client.get(f"/api/v1/merchants/{merchant['id']}/plate.png", headers=operator)
    assert response.status_code == 200
    assert decode_qr(response.content) == f"{settings.public_base_url}/m/{merchant['code']}"
    image = Image.open(io.BytesIO(response.content)).convert("RGB")
    x0, y0, x1, y1 = ink_box(image, BAND_MARGIN, BAND_MARGIN + BAND_WIDTH)
    assert y1 - y0 > x1 - x0


def test_the_longest_name_accepted_still_fits_the_plate():
    """100 letters in words of at most 40 (what registration accepts) and the longest zone
    name: the bands still take them, at a smaller size, without cutting a word."""
    from infra.i18n import MAX_WORD_LETTERS, mongolian_text_problem

    word = ("ᠲᠡᠮᠡᠭᠡᠨ" * 10)[:MAX_WORD_LETTERS]
    longest = f"{word} {word} {word}"[:100].strip()
    assert mongolian_text_problem(longest) is None
    zone = max((z.name_mn for z in RULES.zones.values()), key=len)
    png = poster_png(content(name_mn=longest, zone_mn=zone), CJK, FONT)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    x0, y0, x1, y1 = ink_box(image, BAND_MARGIN, BAND_MARGIN + BAND_WIDTH)
    assert y1 - y0 > x1 - x0
