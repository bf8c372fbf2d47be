"""The verification page `/r/{report_no}` (no login): Jinja2 (autoescape on), one `<style>` and
no script, no style attributes, so the merchant pages' hashed Content-Security-Policy fits it
(scenarios/merchants/h5.py `content_security_policy`)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from infra.bilingual import MONGOLIAN_STYLE, mongolian_block, mongolian_of

_COLOUR = re.compile(r"#[0-9A-Fa-f]{3,8}")
STATUS_COLOURS = {"valid": "#1a9850", "revoked": "#b71c1c", "expired": "#b35806"}


TITLE = "信用报告核验"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # The Mongolian part of the one stylesheet (issue 15): inside <style>, so the CSP hash
    # covers it.
    environment.globals["mongolian_style"] = Markup(MONGOLIAN_STYLE)  # noqa: S704 - ours
    return environment


def _mongolian(*chinese: str) -> Markup:
    """The page's title (and status) in Mongolian beside the Chinese; "" while the catalogue
    has none of them."""
    lines = [("mn-name", mongolian_of(chinese[0]))]
    lines += [("mn-muted", mongolian_of(text)) for text in chinese[1:]]
    return Markup(mongolian_block(lines))  # noqa: S704 - mongolian_block escapes every text


def render_verification(view: dict[str, Any]) -> str:
    colour = STATUS_COLOURS.get(view["status"], "#888")
    return (
        _environment()
        .get_template("verify.html")
        .render(view=view, colour=colour, mongolian=_mongolian(TITLE, view["status_label"]))
    )


def render_not_found(report_no: str, message: str) -> str:
    return (
        _environment()
        .get_template("verify.html")
        .render(
            view=None,
            colour="#b71c1c",
            report_no=report_no[:40],
            message=message,
            mongolian=_mongolian(TITLE, message),
        )
    )
