"""scan/verify's hand-checked body (miniprogram_api/incentives.py) agrees with VerifyBody: same
values, or the model's error."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from infra.errors import BadRequest, Invalid
from miniprogram_api.common import parse_body
from miniprogram_api.incentives import VerifyBody, _verify_args

BODIES = [
    {"token": "C1.abc"},
    {"token": "C1.abc", "venue_id": "alxa-desert-park"},
    {"token": "C1.abc", "venue_id": None},
    {"token": "C1.abc", "venue_id": ""},
    {"token": "C1.abc", "venue_id": "x" * 25},
    {"token": "C1.abc", "venue_id": 5},
    {"token": " C1.abc\u3000"},
    {"token": "\x1cC1"},
    {"token": "   "},
    {"token": ""},
    {"token": "x" * 600},
    {"token": "x" * 601},
    {"token": 12},
    {"token": ["C1"]},
    {},
    ["C1"],
    "C1",
    None,
]


def _outcome(call, body: bytes):  # type: ignore[no-untyped-def]
    request = SimpleNamespace(body=body)
    try:
        return call(request)
    except (BadRequest, Invalid) as exc:
        return type(exc), exc.args, getattr(exc, "fields", None)


@pytest.mark.parametrize("payload", BODIES)
def test_same_as_the_model(payload: object) -> None:
    body = json.dumps(payload).encode()

    def by_model(request):  # type: ignore[no-untyped-def]
        parsed = parse_body(request, VerifyBody)
        return parsed.token, parsed.venue_id

    assert _outcome(_verify_args, body) == _outcome(by_model, body)


@pytest.mark.parametrize("body", [b"", b"{", b"\xff\xfe", b"[]"])
def test_garbage_same_as_the_model(body: bytes) -> None:
    def by_model(request):  # type: ignore[no-untyped-def]
        parsed = parse_body(request, VerifyBody)
        return parsed.token, parsed.venue_id

    assert _outcome(_verify_args, body) == _outcome(by_model, body)
