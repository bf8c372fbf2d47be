"""The merchant plate (一店一码, DESIGN.md §5): a plain HTTPS URL in a QR code, and the printable
poster around it. Pure functions of their inputs, CPU-bound: callers run them in a thread and
cache the bytes."""

from __future__ import annotations

import io
import secrets
import string
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import qrcode
from PIL import Image, ImageColor, ImageDraw, ImageFont
from qrcode.constants import ERROR_CORRECT_M

from qr import mongolian
from qr.mongolian import MongolianFontMissing, Paragraph

CODE_ALPHABET = string.ascii_letters + string.digits
POSTER_SIZE = (1240, 1754)  # A5 at 210 dpi: prints sharp on a shop wall


class FontMissing(RuntimeError):
    """No usable CJK (or Mongolian) font: printing would show empty boxes instead of the shop's
    name."""


def new_code(length: int) -> str:
    """Short and opaque, `[0-9A-Za-z]` only, so it can also be a mini-program code `scene`."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def is_valid_code(code: str) -> bool:
    return 0 < len(code) <= 32 and all(c in CODE_ALPHABET for c in code)


def plate_url(public_base_url: str, code: str) -> str:
    return f"{public_base_url.rstrip('/')}/m/{code}"


QR_BORDER = 4  # modules of quiet zone, as the standard asks


def qr_matrix(url: str) -> qrcode.QRCode:
    """The code laid out once (version, mask choice): the costly, pure-Python part."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=QR_BORDER)
    code.add_data(url)
    code.make(fit=True)
    return code


def qr_image(url: str, box_size: int = 12, code: qrcode.QRCode | None = None) -> Image.Image:
    code = code or qr_matrix(url)
    code.box_size = box_size
    image: Image.Image = code.make_image(fill_color="black", back_color="white").get_image()
    return image.convert("RGB")


# The poster is drawn in a handful of colours on white; antialiased edges blend each into white.
# Its palette is those colours and BLEND_STEPS blends of each with white: exact where it is flat
# (white, black, the level colour), within a few levels on the edges, and a third of the bytes
# to compress. Pillow maps a pixel through a cache of 6 bits per channel, each slot taking the
# entry nearest to the slot's lowest corner (Palette.c, ImagingPaletteCacheUpdate), so a blend
# nearer to a flat colour's corner than the colour itself would take its pixels: such blends
# are left out (tests/qr/test_plate.py checks the flat colours stay exact for every level colour).
BLEND_STEPS = 24
TEXT_INK, SOFT_INK, FAINT_INK = "#222222", "#555555", "#777777"
POSTER_INKS = ("#000000", TEXT_INK, SOFT_INK, FAINT_INK)  # the code's black, the texts' greys


def _distance(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    return sum((x - y) ** 2 for x, y in zip(a, b, strict=True))


@lru_cache(maxsize=64)  # one per level colour
def _palette(colours: tuple[str, ...]) -> Image.Image:
    white = (255, 255, 255)
    flat = [white, *(ImageColor.getrgb(colour)[:3] for colour in colours)]
    corners = [(tuple(v & ~3 for v in colour), colour) for colour in flat]
    entries: dict[tuple[int, ...], None] = dict.fromkeys(flat)
    for ink in flat[1:]:
        for step in range(1, BLEND_STEPS - 1):
            share = step / (BLEND_STEPS - 1)
            blend = tuple(round(w + (i - w) * share) for w, i in zip(white, ink, strict=True))
            if all(_distance(blend, c) > _distance(colour, c) for c, colour in corners):
                entries[blend] = None
    if len(entries) > 256:
        raise ValueError("too many colours for one palette")
    palette = Image.new("P", (1, 1))
    palette.putpalette([value for entry in entries for value in entry])
    return palette


def png_bytes(image: Image.Image, colours: tuple[str, ...] = ("#000000",)) -> bytes:
    """A palette PNG of `colours` (and white) at zlib's fastest level. The RGB PNG with
    `optimize=True` (zlib level 9 over 6.5 MB of pixels) was 4/5 of a poster's render."""
    indexed = image.quantize(palette=_palette(colours), dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    indexed.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def qr_png(url: str) -> bytes:
    return png_bytes(qr_image(url))


@dataclass(frozen=True)
class PosterContent:
    name: str
    zone: str
    grade: str
    grade_label: str
    colour: str
    url: str
    caption: str
    issued_on: date
    code: str
    # Traditional Mongolian beside the Chinese (issue 15); empty texts are left out. A plate
    # with any of them needs the Mongolian font.
    name_mn: str = ""
    zone_mn: str = ""
    grade_caption_mn: str = ""
    caption_mn: str = ""

    @property
    def mongolian(self) -> tuple[str, ...]:
        """Every Mongolian text the plate prints (the font test shapes each one)."""
        texts = (self.name_mn, self.zone_mn, self.grade_caption_mn, self.caption_mn)
        return tuple(t for t in texts if t)


def load_cjk_font(path: Path | None, size: int) -> ImageFont.FreeTypeFont:
    if path is None:
        raise FontMissing("未找到中文字体")
    return _cjk_font(str(path), size)


@lru_cache(maxsize=32)  # a handful of sizes per font; loading and checking one costs ms
def _cjk_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    font = ImageFont.truetype(path, size)
    if not has_cjk_glyphs(font):
        raise FontMissing(f"字体 {path} 不含中文字形")
    return font


def has_cjk_glyphs(font: ImageFont.FreeTypeFont) -> bool:
    """A font without CJK draws every such character as the same fallback box."""
    shapes = {bytes(font.getmask(char)) for char in "信用阿拉善"}
    return len(shapes) > 1


# Where the vertical Mongolian goes: a band each side of the badge and the QR code, from the
# badge down to the footer. Left: the shop and its zone; right: the level and the scan line.
BAND_WIDTH = 196
BAND_MARGIN = 30


def poster_png(
    content: PosterContent, font_path: Path | None, mongolian_font_path: Path | None = None
) -> bytes:
    image = poster_image(content, font_path, mongolian_font_path)
    return png_bytes(image, (*POSTER_INKS, content.colour))


def poster_image(
    content: PosterContent, font_path: Path | None, mongolian_font_path: Path | None = None
) -> Image.Image:
    """The poster as drawn (RGB), before it is reduced to its palette."""
    width, height = POSTER_SIZE
    title_font = load_cjk_font(font_path, 64)
    name_font = load_cjk_font(font_path, 76)
    text_font = load_cjk_font(font_path, 40)
    small_font = load_cjk_font(font_path, 32)
    grade_font = load_cjk_font(font_path, 150)

    poster = Image.new("RGB", POSTER_SIZE, "white")
    draw = ImageDraw.Draw(poster)
    draw.rectangle((0, 0, width, 170), fill=content.colour)
    _centred(draw, "信用阿拉善 · 一店一码", 50, title_font, width, "white")

    y = 215
    for line in _wrap(content.name, name_font, width - 120):
        _centred(draw, line, y, name_font, width, TEXT_INK)
        y += 96
    _centred(draw, content.zone, y + 4, text_font, width, SOFT_INK)

    badge_top = y + 80
    draw.ellipse(
        (width // 2 - 120, badge_top, width // 2 + 120, badge_top + 240), fill=content.colour
    )
    _centred(draw, content.grade, badge_top + 30, grade_font, width, "white")
    _centred(
        draw, f"信用等级：{content.grade_label}", badge_top + 262, text_font, width, content.colour
    )

    # Whole pixels per module: a code scaled by a fraction has modules of uneven width, which
    # phone decoders (and OpenCV's) sometimes misread.
    room = min(760, height - (badge_top + 340) - 230)
    matrix = qr_matrix(content.url)
    modules = matrix.modules_count + 2 * QR_BORDER
    qr = qr_image(content.url, box_size=max(1, room // modules), code=matrix)
    side = qr.width
    qr_top = badge_top + 340
    poster.paste(qr, ((width - side) // 2, qr_top))
    _centred(draw, content.caption, qr_top + side + 30, text_font, width, TEXT_INK)
    footer = f"发码日期 {content.issued_on.isoformat()}　编码 {content.code}"
    _centred(draw, footer, height - 80, small_font, width, FAINT_INK)
    if content.mongolian:
        _mongolian_bands(poster, content, mongolian_font_path, badge_top, height - 110)
    return poster


def mongolian_layouts(
    content: PosterContent, font_path: Path, top: int, bottom: int
) -> list[mongolian.Layout]:
    """The two bands' columns (tests measure them; `poster_png` draws them)."""
    width = POSTER_SIZE[0]
    left_band = (BAND_MARGIN, top, BAND_MARGIN + BAND_WIDTH, bottom)
    right_band = (width - BAND_MARGIN - BAND_WIDTH, top, width - BAND_MARGIN, bottom)
    left = [
        Paragraph(content.name_mn, 52, 24, TEXT_INK),
        Paragraph(content.zone_mn, 38, 20, SOFT_INK),
    ]
    right = [
        Paragraph(content.grade_caption_mn, 44, 22, content.colour),
        Paragraph(content.caption_mn, 38, 20, TEXT_INK),
    ]
    return [
        mongolian.layout([p for p in paragraphs if p.text], font_path, band)
        for paragraphs, band in ((left, left_band), (right, right_band))
    ]


def _mongolian_bands(
    poster: Image.Image, content: PosterContent, font_path: Path | None, top: int, bottom: int
) -> None:
    if font_path is None:
        raise FontMissing("未找到蒙古文字体")
    try:
        for placed in mongolian_layouts(content, font_path, top, bottom):
            mongolian.draw(poster, placed, font_path)
    except MongolianFontMissing as exc:
        raise FontMissing(str(exc)) from exc


def _centred(
    draw: ImageDraw.ImageDraw,
    text: str,
    top: int,
    font: ImageFont.FreeTypeFont,
    width: int,
    colour: str,
) -> None:
    left, _, right, _ = draw.textbbox((0, 0), text, font=font)
    draw.text(((width - (right - left)) // 2, top), text, font=font, fill=colour)


def _wrap(text: str, font: ImageFont.FreeTypeFont, max_width: int) -> list[str]:
    """Chinese has no spaces: break between characters, at most two lines."""
    lines: list[str] = []
    current = ""
    for char in text:
        if font.getlength(current + char) > max_width and current:
            lines.append(current)
            current = char
        else:
            current += char
    lines.append(current)
    if len(lines) > 2:
        lines = [lines[0], lines[1][:-1] + "…"]
    return lines
