"""What every H5 page needs to show traditional Mongolian beside the Chinese (issue 15): the
stylesheet part, the vertical block, and the font file the service serves at
`/fonts/mongolian.ttf` (no other origin: the pages' CSP says `font-src 'self'`).

A page adds `MONGOLIAN_STYLE` to its one `<style>` element (so the CSP hash covers it), puts
`mongolian_block([...])` beside its Chinese (inside an element of class `bilingual`, Chinese in
`.zh`), and takes `font-src 'self'` into its Content-Security-Policy.

The Mongolian is set vertically, top to bottom, columns left to right (`writing-mode:
vertical-lr`, `lang="mn-Mong"`). A long text wraps at its spaces into further columns inside a
box of fixed height; a box wider than its share of the screen scrolls by itself, never the page.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from html import escape
from pathlib import Path

from infra.i18n import translate

FONT_ROUTE = "/fonts/mongolian.ttf"
FONT_FAMILY = "Noto Sans Mongolian"
MONGOLIAN_STYLE = f"""
@font-face{{font-family:"{FONT_FAMILY}";src:url({FONT_ROUTE}) format("truetype");
font-display:swap}}
.bilingual{{display:flex;gap:12px;align-items:flex-start}}
.bilingual .zh{{flex:1;min-width:0}}
.mn{{writing-mode:vertical-lr;font-family:"{FONT_FAMILY}",sans-serif;font-size:17px;
line-height:1.4;height:220px;max-width:45%;overflow-x:auto;overflow-y:hidden;flex:none;
word-break:normal;overflow-wrap:normal;color:#333}}
.mn .mn-name{{font-size:20px;font-weight:600}}
.mn .mn-muted{{color:#666;font-size:15px}}
"""


def mongolian_block(lines: list[tuple[str, str]], element_id: str = "mongolian") -> str:
    """(css class, text) pairs, escaped, empty texts left out; "" when none is left."""
    items = "".join(
        f'<div class="{escape(css)}">{escape(text)}</div>' for css, text in lines if text
    )
    if not items:
        return ""
    return f'<div class="mn" lang="mn-Mong" id="{escape(element_id)}">{items}</div>'


def mongolian_of(chinese: str) -> str:
    """The catalogue's Mongolian of a fixed text, "" when it has none yet (then a page shows
    the Chinese only, rather than the same Chinese twice)."""
    mongolian = translate(chinese)
    return "" if mongolian == chinese else mongolian


@dataclass(frozen=True)
class FontFile:
    """The served font, raw and gzip-compressed once (Noto Sans Mongolian: 242 kB -> 92 kB;
    not subset: shop names typed later may use any letter or variant form)."""

    raw: bytes
    gzipped: bytes
    etag: str


@lru_cache(maxsize=4)
def font_file(path: Path) -> FontFile:
    data = path.read_bytes()
    etag = '"' + hashlib.sha256(data).hexdigest()[:20] + '"'
    return FontFile(data, gzip.compress(data, 9, mtime=0), etag)
