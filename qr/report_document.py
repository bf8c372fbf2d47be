"""What a credit report prints, as plain data (qr/report_pdf.py renders it). Kept apart from the
renderer so that importing it does not load ReportLab: the workers load that on their first
report, not at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Item:
    """One printed fact: a title line, detail lines under it, and a mark (e.g. 异议处理中)."""

    title: str
    lines: tuple[str, ...] = ()
    mark: str | None = None


@dataclass(frozen=True)
class Section:
    title: str
    items: tuple[Item, ...]
    empty: str = "无"


@dataclass(frozen=True)
class ReportDocument:
    report_no: str
    heading: str
    header_rows: tuple[tuple[str, str], ...]  # (label, value): number, time, validity, purpose
    subject_rows: tuple[tuple[str, str], ...]
    grade: str
    grade_label: str
    grade_colour: str
    level_lines: tuple[str, ...]
    special_title: str
    special_lines: tuple[str, ...]
    special_footnote: str
    sections: tuple[Section, ...]
    verify_url: str
    caption: str
    closing: tuple[str, ...] = field(default=())
