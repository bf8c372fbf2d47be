"""The merchant plate (一店一码, DESIGN.md §5): a plain HTTPS URL in a QR code, and the printable
poster around it. Pure functions of their inputs, CPU-bound: callers run them in a thread and
cache the bytes."""

from __future__ import annotations

import io
import secrets
import string
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw, ImageFont
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


def qr_image(url: str, box_size: int = 12) -> Image.Image:
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=4)
    code.add_data(url)
    code.make(fit=True)
    image: Image.Image = code.make_image(fill_color="black", back_color="white").get_image()
    return image.convert("RGB")


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
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
    font = ImageFont.truetype(str(path), size)
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
        _centred(draw, line, y, name_font, width, "#222222")
        y += 96
    _centred(draw, content.zone, y + 4, text_font, width, "#555555")

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
    modules = qr_image(content.url, box_size=1).width
    qr = qr_image(content.url, box_size=max(1, room // modules))
    side = qr.width
    qr_top = badge_top + 340
    poster.paste(qr, ((width - side) // 2, qr_top))
    _centred(draw, content.caption, qr_top + side + 30, text_font, width, "#222222")
    footer = f"发码日期 {content.issued_on.isoformat()}　编码 {content.code}"
    _centred(draw, footer, height - 80, small_font, width, "#777777")
    if content.mongolian:
        _mongolian_bands(poster, content, mongolian_font_path, badge_top, height - 110)
    return png_bytes(poster)


def mongolian_layouts(
    content: PosterContent, font_path: Path, top: int, bottom: int
) -> list[mongolian.Layout]:
    """The two bands' columns (tests measure them; `poster_png` draws them)."""
    width = POSTER_SIZE[0]
    left_band = (BAND_MARGIN, top, BAND_MARGIN + BAND_WIDTH, bottom)
    right_band = (width - BAND_MARGIN - BAND_WIDTH, top, width - BAND_MARGIN, bottom)
    left = [
        Paragraph(content.name_mn, 52, 24, "#222222"),
        Paragraph(content.zone_mn, 38, 20, "#555555"),
    ]
    right = [
        Paragraph(content.grade_caption_mn, 44, 22, content.colour),
        Paragraph(content.caption_mn, 38, 20, "#222222"),
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
