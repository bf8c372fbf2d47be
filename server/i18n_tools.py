"""`python -m server i18n check|update`: which user-facing texts have no Mongolian yet.

Extraction is Babel's (`extract_from_dir`) with one extractor of our own: the house rule makes
every Chinese string literal a user-facing text (code, comments and log lines are English), so
the extractor takes every Chinese literal that is not a docstring; an f-string becomes a template
with numbered placeholders (`商户当前为“{0}”，不能执行此操作`), which the translator matches at
run time. Texts of config that are labels (level names, the plate caption) are extracted too;
names (zones, venues, policies) carry `*_mn` fields beside them and are checked there.

`check` fails (exit 1) on a broken catalogue: a Mongolian entry without its source note, a
placeholder missing from a translation, a translation not in Mongolian script, a draft without
"需蒙古文专业人员审校"; it lists (exit 0) the texts still untranslated and the drafts not yet
reviewed. `--strict` fails on those too. `update` adds the new texts to the catalogue (empty, for
a translator) and drops the ones no longer used."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import write_po

from infra import i18n
from infra.settings import CONFIG_DIR

ROOT = Path(__file__).resolve().parent.parent
# What users read through the API and on the pages. Not: the importer (officials' CSV reports
# in Chinese), settings errors (operators), demo data, the OpenAPI descriptions.
SOURCES = ("credit", "scenarios", "miniprogram_api", "infra", "qr", "server")
SKIPPED = (
    "credit/ingest/**",
    "**/demo.py",
    "server/__main__.py",
    "server/i18n_tools.py",
    "server/http_hygiene.py",
    "server/migrations/**",
    "infra/settings.py",
    "infra/wechat/fake.py",
    "miniprogram_api/openapi_schemas.py",
)
# config file -> dotted paths of label texts ("*" any key or list item)
CONFIG_LABELS = {
    "scoring.toml": ("grades.*.label",),
    "merchants.toml": ("evaluation.grade_labels.*", "plate.caption", "categories.*"),
}
# config file -> (list of tables, the Chinese field, its Mongolian field)
CONFIG_NAMES = (
    ("zones.toml", "zones", "name", "name_mn"),
    ("programmes.toml", "venues", "name", "name_mn"),
    ("programmes.toml", "policies", "title", "title_mn"),
    ("programmes.toml", "policies", "benefit", "benefit_mn"),
)
_CJK = re.compile(r"[\u3400-\u9fff]")
_PLACEHOLDER = re.compile(r"\{\d+\}")
HEADER = """\
# Traditional Mongolian texts of 信用阿拉善 (issue 15). msgid: the Chinese text, the source.
#
# 每条译文注明来源（# 来源：…）。标 fuzzy 的是草译，注明“需蒙古文专业人员审校”；审校后去掉
# fuzzy 标记，并加一行“# 审校：姓名（单位），日期”。见 README“蒙古文”。
#"""
SOURCE_NOTE = "来源："
REVIEWED_NOTE = "审校："


def extract_chinese(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any
) -> Iterator[tuple[int, str, str, list[str]]]:
    """A Babel extraction method: Chinese string literals and f-string templates."""
    tree = ast.parse(fileobj.read())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    inside_fstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts: list[str] = []
            holes = 0
            for value in node.values:
                inside_fstrings.add(id(value))
                if isinstance(value, ast.Constant):
                    parts.append(str(value.value).replace("{", "{{").replace("}", "}}"))
                else:
                    parts.append(f"{{{holes}}}")
                    holes += 1
            text = "".join(parts)
            if _CJK.search(text):
                yield node.lineno, "", text, []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and id(node) not in inside_fstrings
            and _CJK.search(node.value)
        ):
            yield node.lineno, "", node.value, []


def extract_code(root: Path = ROOT) -> Catalog:
    catalogue = Catalog(locale="mn", domain=i18n.DOMAIN)
    method = "server.i18n_tools:extract_chinese"
    for source in SOURCES:
        method_map = [*((pattern.removeprefix(f"{source}/"), "ignore") for pattern in SKIPPED)]
        method_map.append(("**.py", method))
        for filename, lineno, message, _comments, _context in extract_from_dir(
            root / source, method_map=method_map
        ):
            if isinstance(message, str) and message.strip():
                catalogue.add(message, locations=[(f"{source}/{filename}", lineno)])
    for name, paths in CONFIG_LABELS.items():
        data = tomllib.loads((CONFIG_DIR / name).read_text(encoding="utf-8"))
        for path in paths:
            for text in _walk(data, path.split(".")):
                catalogue.add(text, locations=[(f"config/{name}", 0)])
    return catalogue


def _walk(value: Any, path: list[str]) -> Iterator[str]:
    if not path:
        if isinstance(value, str) and _CJK.search(value):
            yield value
        return
    head, rest = path[0], path[1:]
    if head == "*":
        items = list(value.values()) if isinstance(value, dict) else value
        for item in items if isinstance(items, list) else []:
            yield from _walk(item, rest)
    elif isinstance(value, dict) and head in value:
        yield from _walk(value[head], rest)


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)  # (where, text)
    drafts: list[str] = field(default_factory=list)
    obsolete: list[str] = field(default_factory=list)
    translated: int = 0


def check(catalogue: Catalog | None = None, extracted: Catalog | None = None) -> Report:
    catalogue = catalogue or i18n.read_catalogue()
    extracted = extracted or extract_code()
    report = Report()
    for message in catalogue:
        if not message.id or not isinstance(message.id, str):
            continue
        target = str(message.string or "")
        if not target:
            continue
        report.translated += 1
        notes = " ".join(message.user_comments + message.auto_comments)
        if SOURCE_NOTE not in notes:
            report.errors.append(f"{message.id!r}: 缺少来源说明（# {SOURCE_NOTE}…）")
        if message.fuzzy and i18n.REVIEW_NOTE not in notes:
            report.errors.append(f"{message.id!r}: 未审校的译文须注明“{i18n.REVIEW_NOTE}”")
        if not message.fuzzy and REVIEWED_NOTE not in notes:
            report.errors.append(f"{message.id!r}: 已审校的译文须注明审校人（# {REVIEWED_NOTE}…）")
        if sorted(_PLACEHOLDER.findall(message.id)) != sorted(_PLACEHOLDER.findall(target)):
            report.errors.append(f"{message.id!r}: 译文的占位符与原文不一致")
        if _CJK.search(_PLACEHOLDER.sub("", target)) or not any(
            i18n.is_mongolian_char(c) for c in target
        ):
            report.errors.append(f"{message.id!r}: 译文须为传统蒙古文")
        if message.fuzzy:
            report.drafts.append(message.id)
        if message.id not in extracted:
            report.obsolete.append(message.id)
    for message in extracted:
        if not message.id or not isinstance(message.id, str):
            continue
        found = catalogue.get(message.id)
        if found is None or not found.string:
            where = f"{message.locations[0][0]}:{message.locations[0][1]}"
            report.missing.append((where, message.id))
    _check_config_names(report)
    return report


def _check_config_names(report: Report) -> None:
    for name, table, chinese, mongolian in CONFIG_NAMES:
        data = tomllib.loads((CONFIG_DIR / name).read_text(encoding="utf-8"))
        for item in data.get(table, []):
            label = f"config/{name} [{table}] {item.get('id', '?')}.{mongolian}"
            if not item.get(mongolian):
                report.missing.append((label, str(item.get(chinese, ""))))
                continue
            if not any(i18n.is_mongolian_char(c) for c in str(item[mongolian])):
                report.errors.append(f"{label}: 须为传统蒙古文")
            if not item.get(f"{mongolian}_reviewed", False):
                report.drafts.append(f"{label}（{item[chinese]}）")


def update(path: Path | None = None) -> tuple[int, int]:
    """New texts in (untranslated), unused ones out; translations and notes kept."""
    path = path or i18n.po_path()
    catalogue = i18n.read_catalogue(path)
    extracted = extract_code()
    before = {m.id for m in catalogue if m.id}
    catalogue.update(extracted, no_fuzzy_matching=True)
    catalogue.obsolete.clear()
    write_catalogue(catalogue, path)
    after = {m.id for m in catalogue if m.id}
    return len(after - before), len(before - after)


def write_catalogue(catalogue: Catalog, path: Path | None = None) -> None:
    catalogue.header_comment = HEADER
    catalogue.project, catalogue.version = "credit-alxa", "1"
    catalogue.msgid_bugs_address = ""
    with (path or i18n.po_path()).open("wb") as handle:
        write_po(handle, catalogue, width=100, sort_output=False)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    strict = "--strict" in argv
    if command == "update":
        added, removed = update()
        print(f"新增待译 {added} 条，删除不再使用的 {removed} 条：{i18n.po_path()}")
        return 0
    report = check()
    for where, text in report.missing:
        print(f"缺少蒙古文\t{where}\t{_line(text)}")
    for text in report.drafts:
        print(f"待审校\t{_line(text)}")
    for text in report.obsolete:
        print(f"已不再使用\t{_line(text)}")
    for error in report.errors:
        print(f"错误\t{error}", file=sys.stderr)
    print(
        f"蒙古文译文 {report.translated} 条（待审校 {len(report.drafts)} 条），"
        f"缺少 {len(report.missing)} 条（界面显示中文），错误 {len(report.errors)} 条",
        file=sys.stderr,
    )
    if report.errors or (strict and (report.missing or report.drafts)):
        return 1
    return 0


def _line(text: str) -> str:
    return text.replace("\n", "\\n")
