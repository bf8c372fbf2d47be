"""HTTP hygiene of every response (issue 12 item 6): security headers, the API documentation
served from this host only (and not at all in production), and an access log that never prints
the values of query parameters that may hold personal data or tokens."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qsl, quote

import swagger_ui_bundle
from sanic import Request, Sanic
from sanic.constants import HTTP_METHODS
from sanic.exceptions import NotFound, SanicException
from sanic.response import HTTPResponse, file, raw

from infra.settings import Settings

# Every response: never sniffed into another type, never framed, no referrer sent with links
# (some of our URLs carry a credit-code token in `?token=`). JSON and images need no resource at
# all; the H5 pages, the documentation and attachments set a CSP of their own.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def install(app: Sanic, settings: Settings) -> None:
    """Called by the app factory before the blueprints are registered."""
    app.config.OAS = not settings.production  # production: no /docs, no /openapi.json
    app.config.OAS_UI_SWAGGER = False  # sanic-ext's pages load Swagger UI from a CDN
    app.config.OAS_UI_REDOC = False
    app.config.OAS_UI_DEFAULT = None
    if not settings.production:
        # On the app, not a blueprint: sanic-ext's start-up banner links to "openapi.index".
        app.add_route(docs_page, "/docs", methods=["GET"], name="openapi.index")
        app.add_route(docs_asset, "/docs/assets/<name:str>", methods=["GET"], name="docs_asset")
    redact_access_log()


def add_security_headers(response: HTTPResponse) -> None:
    """Every response's (the app's one response middleware calls it): a handler's own win."""
    headers = response.headers
    for name, value in SECURITY_HEADERS.items():
        if name not in headers:
            headers[name] = value
    if "content-security-policy" not in headers:
        headers["Content-Security-Policy"] = DEFAULT_CSP


def allowed_methods(request: Request) -> str:
    """The Allow header of a 405 (RFC 9110 15.5.6). Sanic's router names the methods of a static
    path only; for a path with parameters, ask the router method by method."""
    allowed = []
    for method in HTTP_METHODS:
        try:
            request.app.router.get(request.path, method, request.headers.get("host"))
        except SanicException:
            continue
        allowed.append(method)
    return ", ".join(allowed)


# --- The documentation: Swagger UI from the pinned swagger-ui-bundle package, no inline script.

_SWAGGER_DIR = Path(swagger_ui_bundle.swagger_ui_path)
_SWAGGER_FILES = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}
_DOCS_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>信用阿拉善 API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" href="/docs/assets/favicon-32x32.png"></head>
<body><div id="openapi"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/swagger-ui-standalone-preset.js"></script>
<script src="/docs/assets/init.js"></script></body></html>
"""
_DOCS_INIT = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json", dom_id: "#openapi", deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout", validatorUrl: null
  });
});
"""
# Swagger UI sets style attributes and injects <style> elements as it renders, hence
# 'unsafe-inline' for styles (never for scripts) on this page only.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


async def docs_page(request: Request) -> HTTPResponse:
    return raw(
        _DOCS_PAGE.encode(),
        content_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": DOCS_CSP},
    )


async def docs_asset(request: Request, name: str) -> HTTPResponse:
    if name == "init.js":
        return raw(_DOCS_INIT.encode(), content_type="text/javascript; charset=utf-8")
    content_type = _SWAGGER_FILES.get(name)
    if content_type is None:
        raise NotFound("请求的地址不存在")
    return await file(
        _SWAGGER_DIR / name, mime_type=content_type, headers={"Cache-Control": "max-age=86400"}
    )


# --- The access log.

# Query parameters whose values the access log may show; every other value is replaced.
LOGGABLE_QUERY_PARAMETERS = frozenset(
    {"cursor", "status", "from", "to", "limit", "moderation", "lang", "format"}
)
REDACTED = "***"


class RedactQueryFilter(logging.Filter):
    """Rewrites the request line of Sanic's access log records (`record.request`, "GET /path?…")
    before any handler formats it, whatever the format (text or JSON): values of query
    parameters outside LOGGABLE_QUERY_PARAMETERS (`q=`, `token=`, `query_code=`, …) become ***."""

    def filter(self, record: logging.LogRecord) -> bool:
        line = getattr(record, "request", None)
        if isinstance(line, str) and "?" in line:
            record.request = redact_query(line)
        return True


def redact_query(line: str) -> str:
    if "?" not in line:
        return line
    head, _, query = line.partition("?")
    fragment = ""
    if "#" in query:
        query, _, fragment = query.partition("#")
    parts = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        shown = value if name in LOGGABLE_QUERY_PARAMETERS else REDACTED
        parts.append(f"{quote(name, safe='')}={quote(shown, safe='*')}")
    return f"{head}?{'&'.join(parts)}" + (f"#{REDACTED}" if fragment else "")


_FILTER = RedactQueryFilter()


def redact_access_log() -> None:
    """On the logger itself, so every handler (Sanic's, a JSON one, a test's) sees the result."""
    logger = logging.getLogger("sanic.access")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
