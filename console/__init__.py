"""The officials' console (issue 14): server-rendered pages under /console for reviewers, venue
staff and admins, logged in by scanning (扫码登录). A handler package like miniprogram_api: pages
parse, call the domain function the API calls, and render a Jinja2 template; no ORM, no rule of
their own. It sits above miniprogram_api in the layers and shares its helpers.

Adding a page (e.g. the monthly 调度 figures):

1. a module here, say console/figures.py, with a handler

       from console.core import Ctx, console_page, view

       @console_page("/figures", roles=("reviewer", "admin"), title="月度调度", nav_order=60)
       async def figures(ctx: Ctx) -> HTTPResponse:
           data = await some_domain_function(ctx.rt, ctx.session, ctx.arg("month"))
           return view(ctx, "figures.html", title="月度调度", data=data)

   `title` adds the nav entry (shown to those with one of `roles`); a POST page
   (`methods=("POST",)`) gets the form in `ctx.form`, its CSRF token already checked; a
   domain ApiError becomes an error page with its status and Chinese message. A download is
   any HTTPResponse (e.g. `raw(body, content_type=..., headers={"Content-Disposition": ...})`).
2. console/templates/figures.html: `{% extends "base.html" %}` and a `{% block content %}`;
   forms carry `<input type="hidden" name="csrf" value="{{ csrf }}">`. Pages have no script
   (CSP), charts are inline SVG, and every control has a <label>.
3. the module's name in PAGE_MODULES below.
"""

from __future__ import annotations

import importlib

from console.core import bp

PAGE_MODULES = (
    "login",
    "applications",
    "merchants",
    "venues",
    "admin",
    "figures",
    "audit",
    "exports",
    "integrity",
)

for _module in PAGE_MODULES:
    importlib.import_module(f"console.{_module}")

from console.login import api  # noqa: E402  (its routes are registered above)

__all__ = ["api", "bp"]
