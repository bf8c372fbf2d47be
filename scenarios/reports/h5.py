"""The verification page `/r/{report_no}` (no login): Jinja2 (autoescape on), one `<style>` and
no script, no style attributes, so the merchant pages' hashed Content-Security-Policy fits it
(scenarios/merchants/h5.py `content_security_policy`)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

_COLOUR = re.compile(r"#[0-9A-Fa-f]{3,8}")
STATUS_COLOURS = {"valid": "#1a9850", "revoked": "#b71c1c", "expired": "#b35806"}


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_verification(view: dict[str, Any]) -> str:
    colour = STATUS_COLOURS.get(view["status"], "#888")
    return _environment().get_template("verify.html").render(view=view, colour=colour)


def render_not_found(report_no: str, message: str) -> str:
    return (
        _environment()
        .get_template("verify.html")
        .render(view=None, colour="#b71c1c", report_no=report_no[:40], message=message)
    )
