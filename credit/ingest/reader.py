"""Reading a platform file: encoding, header check, and batches of checked and mapped rows.

This module is what a parsing worker process imports, so it stays free of database, cache
and key material: rows of persons come back without their blind index, which the importer
adds (MappedRow.complete).
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import gc
import operator
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any

from credit.ingest.fields import RowError
from credit.ingest.mapping import FORMATS, FeedFormat, Layout, MapContext, MappedRow, Row
from credit.ingest.rules import RecordRules
from credit.person_names import masked
from infra.security.crypto import mask_id_number

READ_CHUNK = 1 << 20

# Brackets feeds use in place of ( ) once NFKC has folded the full-width ones.
_BRACKETS = str.maketrans("[]【】〔〕〈〉《》", "()()()()()")
_TRAILING = re.compile(r"[:：*]+$")  # "项目名称：", "行政相对人名称*" (a required-column mark)
# 行政相对人代码_N(…) may also be written bare, 行政相对人代码_N: its meaning is the layout's.
_NUMBERED = re.compile(r"^(行政相对人代码_\d)\(.*\)$")


def normalise_header(name: str) -> str:
    """A header as real feeds write it, folded to one spelling: full-width characters to
    half-width (NFKC: （ ） ＿ ：), no spaces anywhere, [ ] 【 】 〔 〕 as ( ), no trailing
    colon."""
    text = unicodedata.normalize("NFKC", name.lstrip("\ufeff"))
    text = "".join(text.split()).translate(_BRACKETS)
    return _TRAILING.sub("", text)


def _spellings(header: str) -> tuple[str, ...]:
    """The normalised spellings of a layout's column that a file may use."""
    text = normalise_header(header)
    bare = _NUMBERED.match(text)
    return (text, bare[1]) if bare else (text,)


@dataclass
class HeaderFit:
    layout: Layout
    columns: dict[str, int]  # row key -> column index
    missing: list[str]  # required headers not found
    duplicated: list[str]


class ImportRefused(Exception):
    """The whole file is refused (wrong headers, unreadable encoding); nothing was written."""


@dataclass
class FileFacts:
    codec: str
    label: str
    newlines: int
    has_nul: bool


def detect_encoding(path: Path) -> FileFacts:
    """Codec, its label, newline count and NUL presence, in one pass. UTF-8 (with or without
    BOM) if the whole file decodes strictly, else GB18030, which must then decode strictly."""
    newlines = 0
    has_nul = False
    with path.open("rb") as handle:
        head = handle.read(3)
        handle.seek(0)
        decoder: codecs.IncrementalDecoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
        utf8 = True
        for chunk in iter(lambda: handle.read(READ_CHUNK), b""):
            newlines += chunk.count(b"\n")
            has_nul = has_nul or b"\x00" in chunk
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
        if utf8:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8 = False
        if utf8:
            label = "UTF-8（带 BOM）" if head == codecs.BOM_UTF8 else "UTF-8"
            return FileFacts("utf-8-sig", label, newlines, has_nul)
        handle.seek(0)
        decoder = codecs.getincrementaldecoder("gb18030")("strict")
        offset = 0
        try:
            for chunk in iter(lambda: handle.read(READ_CHUNK), b""):
                decoder.decode(chunk)
                offset += len(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise ImportRefused(
                "无法识别文件编码：既不是 UTF-8 也不是 GB18030"
                f"（第 {offset + exc.start} 字节附近），整个文件未导入"
            ) from None
    return FileFacts("gb18030", "GB18030", newlines, has_nul)


def _without_nul(handle: IO[str]) -> Iterator[str]:
    """PostgreSQL text cannot hold NUL; a stray one must not abort a whole batch."""
    for line in handle:
        yield line.replace("\x00", "") if "\x00" in line else line


@dataclass
class ParsedBatch:
    rows_read: int = 0
    mapped: list[MappedRow] = field(default_factory=list)
    rejects: list[tuple[int, str, list[str]]] = field(default_factory=list)
    raw: dict[int, list[str]] = field(default_factory=dict)


class FeedReader:
    """The CSV side of an import: header check, then batches of mapped rows and rejects."""

    def __init__(self, fmt: FeedFormat, path: Path, facts: FileFacts, ctx: MapContext) -> None:
        self.fmt = fmt
        self.ctx = ctx
        self.handle = path.open(encoding=facts.codec, newline="")
        self.reader = csv.reader(_without_nul(self.handle) if facts.has_nul else self.handle)
        self.last_line = 0
        self.header: list[str] = []
        self.names: tuple[str, ...] = ()
        self.pick: Callable[[list[str]], tuple[str, ...]] = operator.itemgetter(0)
        self.absent: dict[str, str] = {}
        self.mapper = fmt.mapper
        self.layout = fmt.layouts[0]
        self.columns: dict[str, int] = {}

    def read_header(self) -> None:
        """Place the file's columns: the first layout (version of the standard) whose required
        columns are all there wins; none, and the file is refused. Headers are normalised
        here, once per file, so rows cost nothing extra."""
        try:
            header = next(self.reader)
        except StopIteration:
            raise ImportRefused("文件为空，整个文件未导入") from None
        self.last_line = self.reader.line_num
        self.header = header
        names = [normalise_header(name) for name in header]
        fits = [self._fit(layout, names) for layout in self.fmt.layouts]
        fit = next((f for f in fits if not f.missing), None)
        if fit is None:
            raise ImportRefused(self._refusal(fits, names))
        if fit.duplicated:
            raise ImportRefused(f"表头中的列重复：{'、'.join(fit.duplicated)}，整个文件未导入")
        self.layout = fit.layout
        self.ctx = dataclasses.replace(self.ctx, standard=fit.layout.standard)
        self.names = tuple(fit.columns)
        self.columns = fit.columns
        self.pick = operator.itemgetter(*fit.columns.values())
        self.absent = {key: "" for key in self.fmt.keys if key not in fit.columns}
        adapt, mapper = fit.layout.adapt, self.fmt.mapper
        if adapt is not None:

            def adapted(row: Row, line: int, ctx: MapContext) -> MappedRow:
                adapt(row)
                return mapper(row, line, ctx)

            self.mapper = adapted

    @staticmethod
    def _fit(layout: Layout, names: list[str]) -> HeaderFit:
        spelling = {s: h for h in layout.headers for s in _spellings(h)}
        columns: dict[str, int] = {}
        duplicated: list[str] = []
        for index, name in enumerate(names):
            found = spelling.get(name)
            if found is None:
                continue
            key = layout.key(found)
            if key in columns:
                duplicated.append(found)
            else:
                columns[key] = index
        missing = [h for h in layout.required_headers if layout.key(h) not in columns]
        return HeaderFit(layout, columns, missing, duplicated)

    def _refusal(self, fits: list[HeaderFit], names: list[str]) -> str:
        """Which version the header came closest to, what it lacks, and what it could not place."""
        closest = min(fits, key=lambda f: len(f.missing))
        known = {s for f in fits for h in f.layout.headers for s in _spellings(h)}
        unplaced = [
            original.strip() or f"第 {i + 1} 列（空）"
            for i, (original, name) in enumerate(zip(self.header, names, strict=True))
            if name not in known
        ]
        versions = "或".join(f.layout.label for f in fits)
        text = (
            f"{self.fmt.label}文件的表头不符合平台格式（{versions}），"
            f"按{closest.layout.label}缺少必需的列：{'、'.join(closest.missing)}"
        )
        if unplaced:
            text += f"；无法识别的列：{'、'.join(unplaced)}"
        return text + "，整个文件未导入"

    def next_batch(self, size: int, *, keep_raw: bool = True) -> ParsedBatch:
        """Up to `size` rows: mapped, or rejected with the reason. `keep_raw` keeps the columns
        of mapped rows too, in case the database refuses one (a worker does not send them:
        `read_raw_rows` finds them again)."""
        batch = ParsedBatch()
        width = len(self.header)
        mapper, names, pick, absent, ctx = self.mapper, self.names, self.pick, self.absent, self.ctx
        for values in self.reader:
            line = self.last_line + 1
            self.last_line = self.reader.line_num
            if not "".join(values).strip():
                continue  # blank line (no cell holds more than whitespace)
            batch.rows_read += 1
            if len(values) != width:
                batch.rejects.append(
                    (line, f"列数与表头不符（{len(values)} 列，应为 {width} 列）", values)
                )
            else:
                try:
                    row = dict(zip(names, map(str.strip, pick(values)), strict=True))
                    row.update(absent)
                    batch.mapped.append(mapper(row, line, ctx))
                    if keep_raw:
                        batch.raw[line] = values
                except RowError as exc:
                    batch.rejects.append((line, str(exc), values))
            if batch.rows_read >= size:
                break
        return batch

    def masked(self, values: list[str]) -> list[str]:
        """A row's columns as the rejects file may keep them: ID numbers and persons' names
        masked (DESIGN.md §6), so the file holds no more personal data than the masks the
        service shows; the line number leads back to the original. A row whose columns do not
        line up with the header is masked cell by cell: which cell holds what is unknown."""
        if len(values) != len(self.header):
            return [masked(value.strip()) for value in values]
        shown = list(values)
        column = self.columns.get

        def value(keys: tuple[str, ...]) -> str:
            return next((values[i].strip() for k in keys if (i := column(k)) is not None), "")

        names_a_person = value(CATEGORY_KEYS) == PERSON_CATEGORY or not value(USCC_KEYS)
        for key, index in self.columns.items():
            if key in ID_NUMBER_KEYS:
                shown[index] = mask_id_number(values[index].strip())
            elif key in PERSON_NAME_KEYS or (key in SUBJECT_NAME_KEYS and names_a_person):
                shown[index] = masked(values[index].strip())
        return shown

    def close(self) -> None:
        self.handle.close()


# Columns (by the current standard's names) of the feeds that hold personal data, for the
# rejects file. A subject's name is a person's when the row says 自然人 or names no
# organisation code; a legal representative's name always is.
ID_NUMBER_KEYS = frozenset({"证件号码", "法定代表人证件号码"})
PERSON_NAME_KEYS = frozenset({"法定代表人"})
SUBJECT_NAME_KEYS = ("行政相对人名称", "姓名或名称", "主体名称")
USCC_KEYS = ("行政相对人代码_1(统一社会信用代码)", "统一社会信用代码")
CATEGORY_KEYS = ("行政相对人类别", "主体类别")
PERSON_CATEGORY = "自然人"


# ---- the parsing worker process -------------------------------------------------------------

_worker_reader: FeedReader | None = None


def worker_start(kind: str, path: Path, facts: FileFacts, rules: RecordRules, today: date) -> None:
    """Process-pool initializer: open the file and skip its (already checked) header. The
    worker makes no reference cycles, so the cyclic collector would only cost time."""
    global _worker_reader
    gc.disable()
    _worker_reader = FeedReader(FORMATS[kind], path, facts, MapContext(rules=rules, today=today))
    _worker_reader.read_header()


def worker_next_batch(size: int) -> tuple[int, list[tuple[Any, ...]], list[Any], dict[int, Any]]:
    """The next batch in wire form (see MappedRow.to_wire)."""
    assert _worker_reader is not None
    batch = _worker_reader.next_batch(size, keep_raw=False)
    return (
        batch.rows_read,
        [mapped.to_wire() for mapped in batch.mapped],
        batch.rejects,
        batch.raw,
    )


def read_raw_rows(path: Path, facts: FileFacts, lines: set[int]) -> dict[int, list[str]]:
    """The original columns of the rows starting at `lines` (numbered as FeedReader does)."""
    found: dict[int, list[str]] = {}
    with path.open(encoding=facts.codec, newline="") as handle:
        rows = csv.reader(_without_nul(handle) if facts.has_nul else handle)
        last = 0
        for values in rows:
            line = last + 1
            last = rows.line_num
            if line in lines:
                found[line] = values
                if len(found) == len(lines):
                    break
    return found


def batch_from_wire(
    wire: tuple[int, list[tuple[Any, ...]], list[Any], dict[int, Any]],
) -> ParsedBatch:
    rows_read, mapped, rejects, raw = wire
    return ParsedBatch(rows_read, [MappedRow.from_wire(t) for t in mapped], rejects, raw)
