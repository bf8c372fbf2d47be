"""The report PDF renderer (qr/report_pdf.py): deterministic bytes, and no PDF with empty boxes
when the font cannot print Chinese."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pypdf import PdfReader

from qr.plate import FontMissing
from qr.report_document import Item, ReportDocument, Section
from qr.report_pdf import render
from scenarios.merchants.rules import default_rules

DOCUMENT = ReportDocument(
    report_no="R23456789ABCDEFGHJKLMNPQR",
    heading="信用报告（自然人）",
    header_rows=(("报告编号", "R23456789ABCDEFGHJKLMNPQR"),),
    subject_rows=(("姓名", "乌*"),),
    grade="B",
    grade_label="良",
    grade_colour="#66bd63",
    level_lines=("信用分 750",),
    special_title="专项：近三年有无行政处罚 / 严重失信",
    special_lines=("近三年有无行政处罚：无", "近三年有无严重失信：无"),
    special_footnote="依据本平台公示期内的信息",
    sections=(Section("基础信息", tuple(Item(f"行政许可 {i}", ("许可机关",)) for i in range(80))),),
    verify_url="https://credit.example.test/r/R23456789ABCDEFGHJKLMNPQR",
    caption="扫码核验",
)


def _font() -> Path:
    font = default_rules().font()
    if font is None:
        pytest.skip("no CJK font installed (fonts-wqy-microhei)")
    return font


def test_the_same_document_renders_the_same_bytes_over_several_pages():
    first, second = render(DOCUMENT, _font()), render(DOCUMENT, _font())
    assert first == second
    reader = PdfReader(io.BytesIO(first))
    assert len(reader.pages) >= 2
    assert "行政许可 79" in reader.pages[-1].extract_text()


def test_no_font_or_a_font_without_chinese_refuses_to_render():
    with pytest.raises(FontMissing):
        render(DOCUMENT, None)
    latin = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    if not latin.is_file():
        pytest.skip("DejaVu not installed")
    with pytest.raises(FontMissing):
        render(DOCUMENT, latin)
