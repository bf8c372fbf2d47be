"""The monthly 调度 figures (issue 14 item 3) in the console: a month picker, the fragment of
scenarios/figures/page.py (tables and inline SVG charts) and its downloads served by the console
itself (the console's cookie, not the API's bearer token), the same functions and roles as the
API's /api/v1/admin/figures."""

from __future__ import annotations

from datetime import timedelta

from markupsafe import Markup
from sanic.response import HTTPResponse, raw

from console.core import Ctx, console_page, view
from credit.calendar_dates import today
from scenarios.figures import downloads, monthly, page

ROLES = monthly.FIGURES_ROLES
BASE = "/console/figures"


def _default_month() -> str:
    """The month just ended: the 调度 figures report a whole month."""
    return (today().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


def _attachment(data: bytes, content_type: str, name: str) -> HTTPResponse:
    return raw(
        data,
        content_type=content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


@console_page("/figures", roles=ROLES, title="月度调度", nav_order=60, name="console_figures")
async def figures_page(ctx: Ctx) -> HTTPResponse:
    month = ctx.arg("month") or _default_month()
    region = ctx.arg("region")
    figures = await monthly.figures_for(ctx.rt, ctx.session, month, region)
    fragment = page.render_fragment(figures, page.api_links(figures, base=BASE))
    return view(
        ctx,
        "figures.html",
        title="月度调度统计",
        month=figures.month_text,
        region=figures.region or "",
        fragment=Markup(fragment),  # noqa: S704 - its own autoescaping Jinja2 environment
    )


@console_page("/figures.xlsx", roles=ROLES, name="console_figures_xlsx")
async def figures_xlsx(ctx: Ctx) -> HTTPResponse:
    name, book = await downloads.xlsx_download(
        ctx.rt, ctx.session, ctx.arg("month"), ctx.arg("region")
    )
    return _attachment(book, downloads.XLSX_TYPE, name)


@console_page("/figures.csv", roles=ROLES, name="console_figures_csv")
async def figures_csv(ctx: Ctx) -> HTTPResponse:
    name, data = await downloads.csv_download(
        ctx.rt, ctx.session, ctx.arg("month"), ctx.arg("region"), ctx.arg("table")
    )
    return _attachment(data, "text/csv; charset=utf-8", name)
