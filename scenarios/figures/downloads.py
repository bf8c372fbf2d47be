"""The figures as files: each table as CSV (UTF-8 with a BOM, so spreadsheets read the Chinese
headers) and all of them as one XLSX workbook, a sheet per table (openpyxl: the same library
reads the workbook back in the tests). Built in a thread by the callers, off the event loop."""

from __future__ import annotations

import asyncio
import csv
import io

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from infra.errors import NotFound
from infra.runtime import Runtime
from infra.security.sessions import Session
from scenarios.figures.monthly import MonthlyFigures, Table, figures_for, parse_table

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def table_of(figures: MonthlyFigures, key: str) -> Table:
    table = figures.tables.get(key)
    if table is None:
        raise NotFound("没有这张统计表", code="FIGURES_TABLE_NOT_FOUND")
    return table


def table_csv(figures: MonthlyFigures, key: str) -> bytes:
    table = table_of(figures, key)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.columns)
    writer.writerows(["" if cell is None else cell for cell in row] for row in table.rows)
    return ("\ufeff" + out.getvalue()).encode()


def file_stem(figures: MonthlyFigures) -> str:
    return f"figures-{figures.month_text}-{figures.region or 'all'}"


def workbook(figures: MonthlyFigures) -> bytes:
    """A cover sheet (month, scope, when it was made) and a sheet per table, numbers as numbers."""
    book = Workbook()
    cover = book.active
    assert cover is not None
    cover.title = "说明"
    cover.append(["信用阿拉善 调度统计"])
    cover["A1"].font = Font(bold=True, size=14)
    cover.append(["月份", figures.month_text])
    cover.append(["范围", figures.scope_label])
    cover.append(["生成时间", figures.generated_at.isoformat(timespec="seconds")])
    cover.append([])
    cover.append(["工作表", "内容"])
    for table in figures.tables.values():
        cover.append([_sheet_name(table), table.title])
    cover.column_dimensions["A"].width = 24
    cover.column_dimensions["B"].width = 48
    for table in figures.tables.values():
        sheet = book.create_sheet(_sheet_name(table))
        sheet.append(list(table.columns))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in table.rows:
            sheet.append(list(row))
        for index, column in enumerate(table.columns, start=1):
            widest = max([len(str(column)), *(len(str(r[index - 1] or "")) for r in table.rows)])
            sheet.column_dimensions[get_column_letter(index)].width = min(60, 4 + 2 * widest)
        sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet_name(table: Table) -> str:
    """Excel: at most 31 characters, none of []:*?/\\ ."""
    title = table.title.split("（", 1)[0]
    for bad in "[]:*?/\\":
        title = title.replace(bad, " ")
    return title[:31]


async def csv_download(
    rt: Runtime, session: Session, month: str | None, region: str | None, table: str | None
) -> tuple[str, bytes]:
    """(file name, CSV) of one table of the month's figures."""
    key = parse_table(table)
    figures = await figures_for(rt, session, month, region)
    return f"{file_stem(figures)}-{key}.csv", table_csv(figures, key)


async def xlsx_download(
    rt: Runtime, session: Session, month: str | None, region: str | None
) -> tuple[str, bytes]:
    """(file name, XLSX) of the month's figures, the workbook built in a thread."""
    figures = await figures_for(rt, session, month, region)
    return f"{file_stem(figures)}.xlsx", await asyncio.to_thread(workbook, figures)
