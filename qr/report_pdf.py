"""The credit report's PDF (issue 13): A4, the CJK font embedded as a subset with a ToUnicode map
(the text can be searched and extracted), a QR code to the verification page, and the report
number as a visible watermark on every page.

A pure function of its input, CPU-bound, and ReportLab keeps its font registry per process and is
not thread-safe: callers render in one thread (scenarios/reports/render.py) and keep the bytes.
ReportLab renders `invariant`: the same input gives the same bytes (no creation time, no random
file id), so a test or a second worker can reproduce a report exactly."""

from __future__ import annotations

import functools
import hashlib
import io
import threading
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from qr.plate import FontMissing, qr_image
from qr.report_document import ReportDocument

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 18 * mm
QR_SIZE = 34 * mm

# ReportLab's registry and its TrueType subsetting are process-wide state.
_LOCK = threading.Lock()
_FONTS: dict[str, str] = {}


def font_name(path: Path) -> str:
    """The font registered under a name of its own path (so two configured fonts never mix);
    FontMissing when it cannot be embedded (e.g. a CFF-outline OpenType collection, which
    ReportLab does not subset) or has no CJK glyphs."""
    key = str(path)
    with _LOCK:
        name = _FONTS.get(key)
        if name is not None:
            return name
        name = "CJK" + hashlib.sha256(key.encode()).hexdigest()[:10]
        try:
            font = TTFont(name, key, subfontIndex=0)
        except (TTFError, OSError) as exc:
            raise FontMissing(f"字体 {path} 无法嵌入 PDF：{exc}") from exc
        if not all(ord(char) in font.face.charToGlyph for char in "信用阿拉善报告"):
            raise FontMissing(f"字体 {path} 不含中文字形")
        pdfmetrics.registerFont(font)
        _FONTS[key] = name
        return name


def render(document: ReportDocument, font_path: Path | None) -> bytes:
    if font_path is None:
        raise FontMissing("未找到中文字体")
    font = font_name(font_path)
    with _LOCK:
        return _render(document, font)


class _QrCode(Flowable):  # type: ignore[misc]  # ReportLab ships no types
    """The verification URL's QR code, whole pixels per module (decoders misread fractions)."""

    def __init__(self, url: str, size: float) -> None:
        super().__init__()
        self.image = ImageReader(qr_image(url, box_size=8))
        self.width = self.height = size

    def draw(self) -> None:
        self.canv.drawImage(self.image, 0, 0, self.width, self.height)


def _styles(font: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=font, fontSize=10, leading=15, wordWrap="CJK")
    return {
        "base": base,
        "title": ParagraphStyle("title", base, fontSize=20, leading=28, alignment=TA_CENTER),
        "h2": ParagraphStyle(
            "h2",
            base,
            fontSize=13,
            leading=20,
            spaceBefore=8,
            spaceAfter=4,
            textColor=colors.HexColor("#1f3a5f"),
        ),
        "item": ParagraphStyle("item", base, fontSize=10.5, leading=16, spaceBefore=3),
        "detail": ParagraphStyle(
            "detail",
            base,
            fontSize=9,
            leading=13,
            leftIndent=12,
            textColor=colors.HexColor("#444444"),
        ),
        "small": ParagraphStyle(
            "small", base, fontSize=8.5, leading=12, textColor=colors.HexColor("#555555")
        ),
        "special": ParagraphStyle("special", base, fontSize=12, leading=19),
    }


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text), style)


def _render(document: ReportDocument, font: str) -> bytes:
    styles = _styles(font)
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
        bottomMargin=MARGIN + 6 * mm, title=f"信用报告 {document.report_no}",
        author="信用阿拉善", subject=document.heading, creator="信用阿拉善", invariant=1,
    )  # fmt: skip
    base, small = styles["base"], styles["small"]
    centred_small = ParagraphStyle("qrcap", small, alignment=TA_CENTER)
    story: list[Flowable] = [_p(document.heading, styles["title"]), Spacer(1, 4 * mm)]
    header = Table(
        [
            [
                Table(
                    [[_p(k, base), _p(v, base)] for k, v in document.header_rows],
                    colWidths=[24 * mm, 100 * mm],
                ),
                _QrCode(document.verify_url, QR_SIZE),
            ],
            [Spacer(1, 1), _p("扫码核验", centred_small)],
        ],
        colWidths=[PAGE_WIDTH - 2 * MARGIN - QR_SIZE - 4 * mm, QR_SIZE + 4 * mm],
    )
    header.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story += [header, _p(document.caption, small), _p(document.verify_url, small)]

    story.append(_p("一、信用主体", styles["h2"]))
    story.append(_rows(document.subject_rows, styles))

    story.append(_p("二、信用等级", styles["h2"]))
    badge = Table(
        [[_p(document.grade, ParagraphStyle("g", styles["title"], textColor=colors.white)),
          _p(f"信用等级：{document.grade_label}", styles["special"])]],
        colWidths=[18 * mm, 120 * mm],
    )  # fmt: skip
    badge.hAlign = "LEFT"
    badge.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (0, 0), colors.HexColor(document.grade_colour)),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    story.append(badge)
    story += [_p(line, styles["detail"]) for line in document.level_lines]

    special = [_p("三、" + document.special_title, styles["h2"])]
    special += [_p(line, styles["special"]) for line in document.special_lines]
    special.append(_p(document.special_footnote, styles["small"]))
    story.append(KeepTogether(special))

    numerals = "四五六七八九十"
    for index, section in enumerate(document.sections):
        story.append(_p(f"{numerals[index % len(numerals)]}、{section.title}", styles["h2"]))
        if not section.items:
            story.append(_p(section.empty, styles["detail"]))
        for item in section.items:
            title = item.title + (f"【{item.mark}】" if item.mark else "")
            block = [_p(title, styles["item"])] + [_p(x, styles["detail"]) for x in item.lines]
            story.append(KeepTogether(block))
    story.append(Spacer(1, 6 * mm))
    story += [_p(line, styles["small"]) for line in document.closing]

    def page(canvas: Canvas, _doc: SimpleDocTemplate) -> None:
        _watermark(canvas, font, document.report_no)
        canvas.setFont(font, 8)
        canvas.setFillColor(colors.HexColor("#777777"))
        canvas.drawCentredString(
            PAGE_WIDTH / 2, MARGIN - 2 * mm,
            f"报告编号 {document.report_no}　第 {canvas.getPageNumber()} 页",
        )  # fmt: skip

    doc.build(
        story, onFirstPage=page, onLaterPages=page,
        canvasmaker=functools.partial(Canvas, initialFontName=font),  # no Helvetica
    )  # fmt: skip
    return out.getvalue()


def _rows(rows: tuple[tuple[str, str], ...], styles: dict[str, ParagraphStyle]) -> Table:
    table = Table(
        [[_p(k, styles["base"]), _p(v, styles["base"])] for k, v in rows],
        colWidths=[30 * mm, PAGE_WIDTH - 2 * MARGIN - 30 * mm],
    )
    table.hAlign = "LEFT"
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return table


def _watermark(canvas: Canvas, font: str, report_no: str) -> None:
    """The number across the page, light and diagonal, under the text (drawn first)."""
    canvas.saveState()
    canvas.setFont(font, 26)
    canvas.setFillColor(colors.Color(0.75, 0.1, 0.1, alpha=0.12))
    for row in range(4):
        canvas.saveState()
        canvas.translate(PAGE_WIDTH / 2, PAGE_HEIGHT * (0.18 + 0.22 * row))
        canvas.rotate(30)
        canvas.drawCentredString(0, 0, f"信用阿拉善 {report_no}")
        canvas.restoreState()
    canvas.restoreState()
