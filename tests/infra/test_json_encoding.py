"""orjson writes what the standard module wrote, byte for byte, for every value our bodies hold."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from infra.json_encoding import encode_json, encode_json_text

# Text as requests can bring it (any code point but lone surrogates, which neither encodes).
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: "e" not in repr(x))
    | TEXT
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=6)
        | st.dictionaries(TEXT | st.integers(-1000, 1000).map(int), inner, max_size=6)
    ),
    max_leaves=40,
)


def standard(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


@settings(max_examples=2000, deadline=None)
@given(VALUES)
def test_encode_json_is_the_standard_modules_compact_utf8(value: Any) -> None:
    assert encode_json(value) == standard(value)
    assert encode_json_text(value) == standard(value).decode()


def test_the_characters_json_escapes() -> None:
    tricky = {"控制": '\x00\x1f\x7f\u2028\u2029"\\/\b\f\n\r\t', "表情": "😀", "": [1.0, -0.0, 1e15]}
    assert encode_json(tricky) == standard(tricky)


@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: "e" in repr(x)))
def test_floats_python_writes_with_an_exponent_are_the_same_number(number: float) -> None:
    """The one difference: below 1e-4 orjson writes 1.5e-7 or 0.00003 where json wrote 1.5e-07
    or 3e-05 (none of our bodies holds such a number; both are the same JSON number)."""
    assert json.loads(encode_json(number)) == number
