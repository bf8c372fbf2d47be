"""Traditional Mongolian script set vertically: top to bottom, columns left to right.

Pillow's `direction="ttb"` does not work for Mongolian (checked with raqm 0.11 and Noto Sans
Mongolian: the font has no vertical metrics, so every glyph lands on the same spot and the line
measures 0). Mongolian fonts draw the script in its horizontal presentation, which is the
vertical text turned 90° counter-clockwise (Unicode §13.5), so a line is shaped horizontally with
raqm (initial, medial and final forms, ligatures, variation selectors) and turned 90° clockwise.

Lines break at spaces only (never inside a word: U+202F, the narrow no-break space before a case
suffix, keeps the suffix with its word); a text too long for the column height goes on in the
next column, and a block that does not fit its box steps the font size down."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, features

MONGOLIAN_LANGUAGE = "mn-Mong"


class MongolianFontMissing(RuntimeError):
    """No usable Mongolian font: the plate would print boxes instead of the script."""


@lru_cache(maxsize=32)
def load_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    if not features.check("raqm"):
        raise MongolianFontMissing("Pillow 未带 raqm 复杂文本排版，蒙古文无法正确连写")
    return ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.RAQM)


def mongolian_font(path: Path | None, size: int) -> ImageFont.FreeTypeFont:
    if path is None:
        raise MongolianFontMissing("未找到蒙古文字体")
    return load_font(str(path), size)


@dataclass(frozen=True)
class Paragraph:
    """One text of a block, with the largest and smallest size it may be set in."""

    text: str
    size: int
    min_size: int
    colour: str = "#222222"


@dataclass(frozen=True)
class Column:
    text: str
    size: int
    colour: str
    left: int
    top: int
    width: int  # the line height, across the column
    height: int  # the shaped line's length, down the column


@dataclass(frozen=True)
class Layout:
    columns: tuple[Column, ...]

    @property
    def box(self) -> tuple[int, int, int, int]:
        if not self.columns:
            return (0, 0, 0, 0)
        return (
            min(c.left for c in self.columns),
            min(c.top for c in self.columns),
            max(c.left + c.width for c in self.columns),
            max(c.top + c.height for c in self.columns),
        )


class LayoutError(ValueError):
    """The texts do not fit the box even at their smallest sizes."""


def line_length(font: ImageFont.FreeTypeFont, text: str) -> int:
    return int(font.getlength(text, language=MONGOLIAN_LANGUAGE) + 0.999)


def column_pitch(font: ImageFont.FreeTypeFont) -> int:
    ascent, descent = font.getmetrics()
    return ascent + descent


def break_columns(text: str, font: ImageFont.FreeTypeFont, height: int) -> list[str] | None:
    """Greedy: as many words per column as fit `height`; None when one word alone is longer
    (a word is never cut)."""
    columns: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if line_length(font, candidate) <= height:
            current = candidate
            continue
        if line_length(font, word) > height:
            return None
        columns.append(current)
        current = word
    if current:
        columns.append(current)
    return columns


def layout(
    paragraphs: list[Paragraph],
    font_path: Path,
    box: tuple[int, int, int, int],
    *,
    gap: int = 12,
    step: int = 2,
) -> Layout:
    """Set `paragraphs` in columns from the box's left edge, each paragraph in new columns.
    Every size steps down together (by `step`, never below a paragraph's `min_size`) until
    the columns fit the box's width and each column its height."""
    left, top, right, bottom = box
    height = bottom - top
    scale = 0
    while True:
        sizes = [max(p.min_size, p.size - scale) for p in paragraphs]
        placed: list[Column] = []
        x = left
        fits = True
        for paragraph, size in zip(paragraphs, sizes, strict=True):
            font = mongolian_font(font_path, size)
            lines = break_columns(paragraph.text, font, height)
            if lines is None:
                fits = False
                break
            pitch = column_pitch(font)
            for line in lines:
                placed.append(
                    Column(line, size, paragraph.colour, x, top, pitch, line_length(font, line))
                )
                x += pitch
            x += gap
        if fits and x - gap <= right:
            return Layout(tuple(placed))
        if all(size == p.min_size for p, size in zip(paragraphs, sizes, strict=True)):
            raise LayoutError("蒙古文内容过长，无法排入信用牌")
        scale += step


def draw(image: Image.Image, placed: Layout, font_path: Path) -> None:
    """Each column shaped as a horizontal line, turned 90° clockwise, pasted in its colour."""
    for column in placed.columns:
        font = mongolian_font(font_path, column.size)
        ascent, _ = font.getmetrics()
        line = Image.new("L", (column.height + 4, column.width), 0)
        ImageDraw.Draw(line).text(
            (0, ascent), column.text, font=font, fill=255, anchor="ls", language=MONGOLIAN_LANGUAGE
        )
        turned = line.rotate(-90, expand=True)
        image.paste(column.colour, (column.left, column.top), turned)
