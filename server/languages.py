"""The API in Chinese or traditional Mongolian (issue 15), decided per request at the edge.

`?lang=mn` or `Accept-Language: mn` turns every text of a JSON response (error messages and
their fields, labels, statuses, names from config) into Mongolian where the catalogue has it
(infra/i18n.py); anything else stays Chinese. Done on the finished body, so cached hot-path
bodies, handlers and the domain stay language-free, and a Chinese request pays one header read."""

from __future__ import annotations

import json

from sanic import Request
from sanic.response import HTTPResponse

from infra import i18n
from infra.json_encoding import encode_json
from scenarios.incentives.programmes import default_programmes, mongolian_names
from scenarios.merchants.rules import default_rules


def register_names() -> None:
    """Names officials keep in config with their Mongolian (`name_mn` …)."""
    i18n.add_names(default_rules().mongolian_names())
    i18n.add_names(mongolian_names(default_programmes()))


def request_language(request: Request) -> str:
    lang = request.args.get("lang") if "lang=" in request.query_string else None
    return i18n.negotiate(request.headers.get("accept-language"), lang)


def localize(request: Request, response: HTTPResponse) -> None:
    if not (response.content_type or "").startswith("application/json"):
        return
    language = request_language(request)
    vary = response.headers.get("vary")
    response.headers["vary"] = f"{vary}, Accept-Language" if vary else "Accept-Language"
    response.headers["content-language"] = i18n.CONTENT_LANGUAGE[language]
    if language == i18n.ZH or not response.body:
        return
    try:
        data = json.loads(response.body)
    except ValueError:
        return
    response.body = encode_json(i18n.localize(data, language))
