"""Chinese and traditional Mongolian (issue 15): Chinese is the source language and the default;
`Accept-Language: mn` or `?lang=mn` asks for Mongolian.

Fixed texts live in a gettext catalogue, `infra/locale/mn/LC_MESSAGES/messages.po`, whose msgids
are the Chinese texts themselves (house rule: every user-facing text is Chinese, everything else
English, so the Chinese literal *is* the message id). The catalogue is compiled with Babel into
an in-memory `.mo` when first used, and read with the standard library's `gettext`: there is no
build step and no compiled file in git to go stale. A Chinese text the code builds with an
f-string is a template (`商户当前为“{0}”…`): its parts are translated too.

Names (zones, venues, policies) carry their Mongolian in config (`name_mn` …); the composition
root adds them with `add_names`. A text without a translation stays Chinese.

Entries marked `fuzzy` are drafts still to be reviewed by a Mongolian-language professional
("需蒙古文专业人员审校"); they are shown (better than Chinese only on a bilingual sign), and
`python -m server i18n check` lists them."""

from __future__ import annotations

import gettext
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ZH, MN = "zh", "mn"
LANGUAGES = (ZH, MN)
CONTENT_LANGUAGE = {ZH: "zh-CN", MN: "mn-Mong"}
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
REVIEW_NOTE = "需蒙古文专业人员审校"
_CJK = re.compile(r"[\u3400-\u9fff]")
_PLACEHOLDER = re.compile(r"\{(\d+)\}")


# The Mongolian block and the Mongolian Supplement (Unicode 13).
_MONGOLIAN_BLOCKS = ((0x1800, 0x18AF), (0x11660, 0x1167F))
# What may sit inside a Mongolian name besides its letters: NNBSP (before a case suffix), ZWNJ,
# ZWJ, spaces, printable ASCII (brands, numbers) and a little Chinese punctuation.
_NAME_EXTRAS = set("\u202f\u200c\u200d ·（）、，。")


def is_mongolian_char(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _MONGOLIAN_BLOCKS)


# The longest Mongolian words run to about 25 letters; a plate column holds about 80 at its
# smallest size, and a word is never cut, so a longer "word" could not be printed.
MAX_WORD_LETTERS = 40


def mongolian_text_problem(text: str) -> str | None:
    """Why `text` is not a Mongolian-script name, or None."""
    if not any(is_mongolian_char(c) for c in text):
        return "须为传统蒙古文（蒙古文字母）"
    if any(len(word) > MAX_WORD_LETTERS for word in text.split()):
        return f"单词过长（每个词不超过 {MAX_WORD_LETTERS} 个字母，词与词之间用空格分开）"
    for char in text:
        allowed = char in _NAME_EXTRAS or (char.isascii() and char.isprintable())
        if not (allowed or is_mongolian_char(char)):
            return f"含有不能用于蒙古文名称的字符 U+{ord(char):04X}"
    return None


def po_path(language: str = MN) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalogue(path: Path | None = None) -> Catalog:
    with (path or po_path()).open("rb") as handle:
        return read_po(handle, locale="mn")


def compile_catalogue(catalogue: Catalog) -> gettext.GNUTranslations:
    """Babel writes the `.mo` (drafts included: `use_fuzzy`), gettext reads it."""
    buffer = io.BytesIO()
    write_mo(buffer, catalogue, use_fuzzy=True)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@dataclass
class Translator:
    """Chinese -> Mongolian: the catalogue's exact texts, its templates, and config names."""

    translations: gettext.GNUTranslations
    templates: list[tuple[re.Pattern[str], str]] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_catalogue(cls, catalogue: Catalog) -> Translator:
        templates = []
        for message in catalogue:
            msgid = message.id
            if not isinstance(msgid, str) or not message.string or "{0}" not in msgid:
                continue
            pattern = "".join(
                "(.+?)" if i % 2 else re.escape(part)
                for i, part in enumerate(_PLACEHOLDER.split(msgid))
            )
            templates.append((re.compile(pattern, re.DOTALL), str(message.string)))
        # The most specific (longest fixed text) first.
        templates.sort(key=lambda t: -len(_PLACEHOLDER.sub("", t[0].pattern)))
        return cls(compile_catalogue(catalogue), templates)

    def translate(self, text: str) -> str:
        if not _CJK.search(text):
            return text
        name = self.names.get(text)
        if name is not None:
            return name
        found = self.translations.gettext(text)
        if found != text:
            return found
        for pattern, target in self.templates:
            match = pattern.fullmatch(text)
            if match:
                parts = [self.translate(part) for part in match.groups()]
                return _PLACEHOLDER.sub(partial(_fill, parts), target)
        return text

    def has(self, text: str) -> bool:
        return self.translate(text) != text


def _fill(parts: list[str], match: re.Match[str]) -> str:
    return parts[int(match.group(1))]


_NAMES: dict[str, str] = {}


@lru_cache(maxsize=1)
def translator() -> Translator:
    """Built on first use (a worker that is never asked for Mongolian never reads the
    catalogue), with the names added before or after."""
    built = Translator.from_catalogue(read_catalogue())
    built.names = _NAMES
    return built


def add_names(pairs: Iterable[tuple[str, str]]) -> None:
    """Config names with their Mongolian (`name_mn`, `title_mn`, `benefit_mn`)."""
    for chinese, mongolian in pairs:
        if chinese and mongolian:
            _NAMES[chinese] = mongolian


def translate(text: str, language: str = MN) -> str:
    return text if language == ZH else translator().translate(text)


def localize(value: Any, language: str) -> Any:
    """Every string of a JSON value in `language`; keys and non-text values as they are."""
    if language == ZH:
        return value
    if isinstance(value, str):
        return translator().translate(value)
    if isinstance(value, dict):
        return {key: localize(item, language) for key, item in value.items()}
    if isinstance(value, list):
        return [localize(item, language) for item in value]
    return value


def negotiate(accept_language: str | None, lang: str | None = None) -> str:
    """`?lang=` wins; else the Accept-Language entry of highest weight that is Chinese or
    Mongolian. `mn-Cyrl` (Cyrillic, as in Mongolia) is not what this service writes: skipped."""
    if lang:
        lang = lang.strip().lower()
        return MN if lang in ("mn", "mn-mong", "mn-cn", "mvf") else ZH
    if not accept_language or "mn" not in accept_language.lower():
        return ZH
    best, best_q = ZH, -1.0
    for entry in accept_language.split(",")[:20]:
        tag, _, params = entry.strip().partition(";")
        tag = tag.strip().lower()
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if ((tag == "mn" or tag.startswith("mn-")) and "cyrl" not in tag) or tag == "mvf":
            language = MN
        elif tag.startswith("zh") or tag == "*":
            language = ZH
        else:
            continue
        if q > best_q:
            best, best_q = language, q
    return best if best_q > 0 else ZH
