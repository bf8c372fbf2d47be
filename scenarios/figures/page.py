"""The monthly figures as an HTML fragment with inline SVG charts, for the console's page
template to include (Jinja2, autoescaped; the charts are built here from numbers and escaped
text, so they are marked safe)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from scenarios.figures.charts import bar_chart, line_chart
from scenarios.figures.monthly import MonthlyFigures

_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
API_BASE = "/api/v1/admin/figures"


@dataclass(frozen=True)
class Links:
    xlsx: str
    csv: dict[str, str]


def api_links(figures: MonthlyFigures, base: str = API_BASE) -> Links:
    """Download links; the console passes its own `base` if it serves the files itself."""
    query = {"month": figures.month_text}
    if figures.region:
        query["region"] = figures.region
    qs = urlencode(query)
    return Links(
        xlsx=f"{base}.xlsx?{qs}",
        csv={key: f"{base}.csv?{qs}&table={key}" for key in figures.tables},
    )


def charts(figures: MonthlyFigures) -> dict[str, Markup]:
    """SVG per table key (and `applications`): the numbers of the tables, drawn."""
    apps = figures.tables["applications"]
    out = {
        "applications": bar_chart(
            "申请收件与办结",
            [str(r[0]) for r in apps.rows],
            [
                ("收件", [int(r[1] or 0) for r in apps.rows]),
                ("办结", [int(r[2] or 0) for r in apps.rows]),
            ],
        ),
        "plate_scans": _single_bars(figures, "plate_scans", "扫码次数"),
        "complaints": _single_bars(figures, "complaints", "收到投诉"),
    }
    redemptions = figures.tables["redemptions"]
    if redemptions.rows:
        out["redemptions"] = bar_chart(
            "核销次数", [f"{r[1]}·{r[2]}" for r in redemptions.rows],
            [("核销次数", [int(r[3] or 0) for r in redemptions.rows])],
        )  # fmt: skip
    out["street_index"] = line_chart("街区信用指数走势", figures.index_trend, _days(figures.month))
    return {key: Markup(svg) for key, svg in out.items()}  # noqa: S704 - built from escaped text


def _single_bars(figures: MonthlyFigures, key: str, name: str) -> str:
    table = figures.tables[key]
    return bar_chart(
        table.title, [str(r[0]) for r in table.rows], [(name, [int(r[1] or 0) for r in table.rows])]
    )


def _days(month: date) -> list[date]:
    days, day = [], month
    while day.month == month.month:
        days.append(day)
        day += timedelta(days=1)
    return days


def render_fragment(figures: MonthlyFigures, links: Links | None = None) -> str:
    return _ENV.get_template("monthly.html").render(
        figures=figures, charts=charts(figures), links=links or api_links(figures)
    )
