"""The mobile H5 pages of the public lists, an agency's page and the 政务诚信 summary (issue 13
items 3 and 5), rendered with Jinja2 (autoescaped) from the same views as the API.

Like the plate page (`/m/{code}`) each page has one `<style>` element, no `style=` attribute and
no script, so the handler's Content-Security-Policy allows exactly that stylesheet by its hash
(scenarios.merchants.h5.content_security_policy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from credit.calendar_dates import now_iso
from credit.public_lists import LISTS, Filters
from infra.bilingual import MONGOLIAN_STYLE, mongolian_block, mongolian_of

_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
# Every page: the stylesheet's Mongolian part (in the one <style>, so the CSP hash covers it).
_ENV.globals["mongolian_style"] = Markup(MONGOLIAN_STYLE)  # noqa: S704 - a constant of ours
SITE_LINE = "信用阿拉善 · 公共信用信息公示"
_ENV.globals["site_line"] = SITE_LINE


def _mongolian(title: str) -> Markup:
    """The page's title and the site line in Mongolian, beside the Chinese (issue 15): "" while
    the catalogue has neither, so a page never shows the same Chinese twice."""
    block = mongolian_block(
        [("mn-name", mongolian_of(title)), ("mn-muted", mongolian_of(SITE_LINE))]
    )
    return Markup(block)  # noqa: S704 - mongolian_block escapes every text


TABS = [(entry.name, entry.label.split("（")[0]) for entry in LISTS.values()]


def _next_href(path: str, params: dict[str, str | None], cursor: str | None) -> str | None:
    if cursor is None:
        return None
    query = {key: value for key, value in params.items() if value} | {"cursor": cursor}
    return f"{path}?{urlencode(query)}"


def render_list(view: dict[str, Any], filters: Filters) -> str:
    params = {
        "authority": filters.authority,
        "from": filters.start.isoformat() if filters.start else None,
        "to": filters.end.isoformat() if filters.end else None,
        "category": filters.category,
        "keyword": filters.keyword,
    }
    return _ENV.get_template("public_list.html").render(
        title=view["list"]["label"],
        mongolian=_mongolian(view["list"]["label"]),
        view=view,
        tabs=TABS,
        next_href=_next_href(f"/public/{view['list']['name']}", params, view["next"]),
    )


def render_agency(view: dict[str, Any]) -> str:
    return _ENV.get_template("agency.html").render(
        title=view["agency"]["name"], mongolian=_mongolian("政务诚信"), view=view
    )


def render_summary(view: dict[str, Any]) -> str:
    return _ENV.get_template("integrity_summary.html").render(
        title="政务诚信概况",
        mongolian=_mongolian("阿拉善盟政务诚信概况"),
        view=view,
        tabs=TABS,
        next_href=_next_href("/public/integrity", {}, view["next"]),
    )


def render_error(message: str, code: str, fields: dict[str, str] | None = None) -> str:
    """A refused request to an H5 page (a bad filter, an unknown body, too many requests),
    said on a page, not in JSON."""
    return _ENV.get_template("error.html").render(
        title="无法显示", mongolian=_mongolian("无法显示"), message=message, code=code,
        fields=fields or {}, view={"as_of": now_iso()},
    )  # fmt: skip
