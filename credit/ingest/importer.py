"""Importing one league platform file: read, check, map, write in batches, report.

Reading and checking run one batch ahead of the database writes, off the event loop: in a
worker process for large files (checking is pure Python, so a thread would only contend for
the GIL with the writes), in a thread for small ones (no start-up cost). A bad row goes to the
rejects file and never stops the batch; a file whose headers are wrong is refused before
anything is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import functools
import json
import logging
import multiprocessing
import sqlite3
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any

from redis.asyncio import Redis
from tortoise import connections
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.transactions import in_transaction
from tqdm import tqdm

from credit.calendar_dates import today as shanghai_today
from credit.ingest.mapping import FORMATS, MapContext, MappedRow
from credit.ingest.reader import (
    FeedReader,
    FileFacts,
    ImportRefused,
    ParsedBatch,
    batch_from_wire,
    detect_encoding,
    read_raw_rows,
    worker_next_batch,
    worker_start,
)
from credit.ingest.rules import RecordRules, load_rules
from credit.ingest.store import BatchOutcome, Dialect, write_batch
from credit.models import ID_NUMBER_FIELD, Record
from credit.store_changes import made_stale, prune
from infra.audit import AuditEvent
from infra.audit import append as append_audit
from infra.cache import Keys
from infra.security.crypto import FieldCipher

log = logging.getLogger(__name__)

MAX_WARNING_SAMPLES = 50
# Files with at least this many lines are parsed in a worker process (start-up ~0.5 s).
PARALLEL_MIN_LINES = 20_000
# Subjects remembered between batches (as last committed), so a subject seen again needs no
# lookup. Beyond this many the memory is simply cleared.
KNOWN_SUBJECTS_LIMIT = 200_000
# Cached views of changed subjects are dropped at least this often during an import (and at its
# end, even a failed one): a subject touched by many batches is then dropped once, not per batch.
INVALIDATE_EVERY_SECONDS = 10.0


@dataclass
class ImportSummary:
    kind: str
    path: Path
    encoding: str = ""
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0  # records revoked because their row withdraws them
    rejected: int = 0
    warnings: int = 0
    subjects_created: int = 0
    subjects_updated: int = 0
    seconds: float = 0.0
    rejects_path: Path | None = None
    warning_samples: list[str] = field(default_factory=list)

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0

    def as_text(self) -> str:
        """The summary an operator reads after an import, in Chinese."""
        label = FORMATS[self.kind].label if self.kind in FORMATS else self.kind
        lines = [
            f"导入完成：{label}（{self.path.name}，编码 {self.encoding}）",
            f"读取 {self.rows_read} 行：新增 {self.inserted}，更新 {self.updated}，"
            f"未变 {self.unchanged}，拒收 {self.rejected}，警告 {self.warnings}",
            *([f"其中撤回 {self.withdrawn} 条：记录已撤销，原行保留"] if self.withdrawn else []),
            f"信用主体：新建 {self.subjects_created}，更新 {self.subjects_updated}",
            f"用时 {self.seconds:.2f} 秒，每秒 {self.rows_per_second:.0f} 行",
        ]
        if self.rejected:
            lines.append(f"拒收行（含行号与原因）：{self.rejects_path}")
        else:
            lines.append("无拒收行")
        if self.warning_samples:
            shown = len(self.warning_samples)
            more = f"，共 {self.warnings} 条" if self.warnings > shown else ""
            lines.append(f"警告（前 {shown} 条{more}）：")
            lines.extend(f"  {text}" for text in self.warning_samples)
        return "\n".join(lines)


class RejectWriter:
    """Rejected rows with their line number (header = line 1), reason and original columns,
    personal data masked (`FeedReader.masked`). Opened on the first reject; a stale file from an
    earlier run is emptied."""

    def __init__(
        self, path: Path, header: list[str], masked: Callable[[list[str]], list[str]]
    ) -> None:
        self.path = path
        self.header = header
        self.masked = masked
        self.handle: IO[str] | None = None
        self.writer: Any = None
        self.count = 0

    def write(self, line: int, reason: str, values: list[str]) -> None:
        if self.writer is None:
            self._open()
        self.writer.writerow([line, reason, *self.masked(values)])
        self.count += 1

    def _open(self) -> None:
        # UTF-8 with BOM: what a spreadsheet needs to show Chinese correctly
        self.handle = self.path.open("w", encoding="utf-8-sig", newline="")
        self.writer = csv.writer(self.handle)
        self.writer.writerow(["行号", "拒收原因", *self.header])

    def close(self) -> None:
        if self.handle is None and self.path.exists():
            self._open()
        if self.handle is not None:
            self.handle.close()


class _ThreadSource:
    """Batches parsed in a thread of this process."""

    ahead = 1  # one reader, so one batch in flight

    def __init__(self, reader: FeedReader) -> None:
        self.reader = reader

    def next_batch(self, size: int) -> Awaitable[ParsedBatch]:
        return asyncio.to_thread(self.reader.next_batch, size)

    async def close(self) -> None:
        self.reader.close()


class _ProcessSource:
    """Batches parsed in a worker process (spawned: no copy of this process's threads and
    connections), handed over as plain tuples. The worker never sees a key."""

    ahead = 2  # one worker runs its tasks in order, so two can be queued

    def __init__(
        self, kind: str, path: Path, facts: FileFacts, rules: RecordRules, today: date
    ) -> None:
        self.pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=worker_start,
            initargs=(kind, path, facts, rules, today),
        )

    async def next_batch(self, size: int) -> ParsedBatch:
        loop = asyncio.get_running_loop()
        wire = await loop.run_in_executor(self.pool, worker_next_batch, size)
        return batch_from_wire(wire)

    async def close(self) -> None:
        await asyncio.to_thread(self.pool.shutdown, wait=True, cancel_futures=True)


class SeenKeys:
    """The natural keys read so far in this import, each with the line it was first read on,
    in a private temporary SQLite file (deleted when closed): held in memory they would grow
    with the file (~200 MB for a million rows), while the import itself streams."""

    def __init__(self) -> None:
        self.db = sqlite3.connect("")  # "": a temporary database on disk, cache 2 MB
        self.db.execute("CREATE TABLE seen (key TEXT PRIMARY KEY, line INTEGER) WITHOUT ROWID")

    def first_lines(self, rows: list[MappedRow]) -> dict[str, int]:
        """The first line of each natural key of `rows` (completed rows, in file order): an
        earlier batch's, or the first in this one."""
        first: dict[str, int] = {}
        for mapped in rows:
            first.setdefault(mapped.record.natural_key, mapped.line)
        if not first:
            return first
        batch = json.dumps(list(first), ensure_ascii=False)
        earlier = self.db.execute(
            "SELECT key, line FROM seen WHERE key IN (SELECT value FROM json_each(?))", (batch,)
        ).fetchall()
        self.db.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?)", first.items())
        first.update(earlier)
        return first

    def close(self) -> None:
        self.db.close()


def default_rejects_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.rejects.csv")


def _is_row_data_error(exc: Exception) -> bool:
    """Errors a single bad row can cause (constraint, value out of range): worth isolating.
    Lost connections or locks are not: those stop the import (a re-run is idempotent)."""
    if isinstance(exc, IntegrityError):
        return True
    cause = exc.__cause__
    if isinstance(cause, sqlite3.IntegrityError):
        return True
    with contextlib.suppress(ImportError):
        import asyncpg

        return isinstance(cause, asyncpg.exceptions.DataError)
    return False


class _BatchWriter:
    def __init__(
        self,
        connection_name: str,
        dialect: Dialect,
        cipher: FieldCipher,
        rejects: RejectWriter,
        path: Path,
        facts: FileFacts,
    ) -> None:
        self.path = path
        self.facts = facts
        self.connection_name = connection_name
        self.dialect = dialect
        self.cipher = cipher
        self.rejects = rejects
        # Subjects as committed by this import. Another writer changing a subject's feed fields
        # meanwhile is not seen until the next import (which then corrects it).
        self.known: dict[str, dict[str, Any]] = {}

    async def write(self, rows: list[MappedRow], raw: dict[int, list[str]]) -> BatchOutcome:
        """One transaction for the batch; if the database refuses it, halve until the bad
        row is found and rejected, so the good rows still land."""
        try:
            async with in_transaction(self.connection_name) as conn:
                outcome = await write_batch(conn, self.dialect, rows, self.cipher, self.known)
            if len(self.known) + len(outcome.subject_rows) > KNOWN_SUBJECTS_LIMIT:
                self.known.clear()
            self.known.update(outcome.subject_rows)
            return outcome
        except OperationalError as exc:
            if not _is_row_data_error(exc):
                raise
            if len(rows) == 1:
                line = rows[0].line
                if line not in raw:  # parsed in a worker, which keeps no columns
                    raw.update(
                        await asyncio.to_thread(read_raw_rows, self.path, self.facts, {line})
                    )
                self.rejects.write(line, f"数据库拒绝写入：{exc}", raw.get(line, []))
                return BatchOutcome()
        middle = len(rows) // 2
        first = await self.write(rows[:middle], raw)
        second = await self.write(rows[middle:], raw)
        first.inserted += second.inserted
        first.updated += second.updated
        first.unchanged += second.unchanged
        first.subjects_created += second.subjects_created
        first.subjects_updated += second.subjects_updated
        first.changed_subject_ids |= second.changed_subject_ids
        first.new_subject_ids |= second.new_subject_ids
        first.withdrawn += second.withdrawn
        return first


async def _audit_withdrawals(
    redis: Redis, keys: Keys, kind: str, path: Path, outcome: BatchOutcome
) -> None:
    """The audit trail of records a feed withdrew (after the batch's commit)."""
    for record_id, subject_id, line in outcome.withdrawn:
        log.info("import %s %s line %d: record %d withdrawn", kind, path.name, line, record_id)
        await append_audit(
            redis,
            keys,
            AuditEvent(
                action="record.withdrawn",
                actor_kind="system",
                actor_role="import",
                purpose="平台数据撤回",
                channel="import",
                subject_id=subject_id,
                detail={"record_id": record_id, "file": path.name, "line": line, "kind": kind},
            ),
        )


async def import_file(
    kind: str,
    path: Path,
    *,
    cipher: FieldCipher,
    redis: Redis,
    keys: Keys,
    rejects_path: Path | None = None,
    progress: bool = True,
    batch_size: int = 2000,
    today: date | None = None,
) -> ImportSummary:
    """Import one platform file of `kind` (penalties, licences, lists, honours) into the credit
    store and drop the cached views of every subject whose data changed."""
    fmt = FORMATS.get(kind)
    if fmt is None:
        raise ImportRefused(f"未知的文件类型：{kind}（可选：{'、'.join(FORMATS)}）")
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    path = Path(path)
    if not path.is_file():
        raise ImportRefused(f"找不到文件：{path}")
    started = time.perf_counter()
    summary = ImportSummary(kind=kind, path=path)
    blind_index = functools.partial(cipher.blind_index, field=ID_NUMBER_FIELD)
    ctx = MapContext(rules=load_rules(), today=today or shanghai_today(), blind_index=blind_index)
    facts = await asyncio.to_thread(detect_encoding, path)
    summary.encoding = facts.label
    reader = FeedReader(fmt, path, facts, ctx)
    try:
        await asyncio.to_thread(reader.read_header)
    except BaseException:
        reader.close()
        raise
    source: _ThreadSource | _ProcessSource
    if facts.newlines >= PARALLEL_MIN_LINES:
        reader.close()
        source = _ProcessSource(kind, path, facts, ctx.rules, ctx.today)
    else:
        source = _ThreadSource(reader)

    connection_name = Record._meta.default_connection or "default"
    dialect = Dialect(connections.get(connection_name).capabilities.dialect)
    await prune()  # the stale-view notes of imports long past (credit/store_changes.py)
    rejects = RejectWriter(rejects_path or default_rejects_path(path), reader.header, reader.masked)
    writer = _BatchWriter(connection_name, dialect, cipher, rejects, path, facts)
    seen = SeenKeys()
    bar = tqdm(
        total=max(facts.newlines - 1, 0),
        unit="行",
        desc=f"导入{fmt.label}",
        file=sys.stderr,
        disable=not progress,
        mininterval=0.5,
    )
    pending: deque[asyncio.Future[ParsedBatch]] = deque()
    stale: set[int] = set()
    flushed_at = time.monotonic()
    try:
        # parse the next batch(es) while this one is written
        pending.extend(
            asyncio.ensure_future(source.next_batch(batch_size)) for _ in range(source.ahead)
        )
        while True:
            batch = await pending.popleft()
            if batch.rows_read == 0:
                break
            pending.append(asyncio.ensure_future(source.next_batch(batch_size)))
            summary.rows_read += batch.rows_read
            for line, reason, values in batch.rejects:
                rejects.write(line, reason, values)
            for mapped in batch.mapped:
                mapped.complete(blind_index)
            first_lines = seen.first_lines(batch.mapped)
            for mapped in batch.mapped:
                first = first_lines[mapped.record.natural_key]
                if first != mapped.line:
                    mapped.warnings.append(
                        f"与第 {first} 行是同一条记录（自然键相同），以后出现的为准"
                    )
                for text in mapped.warnings:
                    summary.warnings += 1
                    if len(summary.warning_samples) < MAX_WARNING_SAMPLES:
                        summary.warning_samples.append(f"第 {mapped.line} 行：{text}")
            outcome = await writer.write(batch.mapped, batch.raw)
            summary.inserted += outcome.inserted
            summary.updated += outcome.updated
            summary.unchanged += outcome.unchanged
            summary.withdrawn += len(outcome.withdrawn)
            await _audit_withdrawals(redis, keys, kind, path, outcome)
            summary.subjects_created += outcome.subjects_created
            summary.subjects_updated += outcome.subjects_updated
            stale |= outcome.changed_subject_ids
            if stale and time.monotonic() - flushed_at >= INVALIDATE_EVERY_SECONDS:
                await made_stale(redis, keys, stale)
                stale = set()
                flushed_at = time.monotonic()
            bar.update(batch.rows_read)
    finally:
        for future in pending:
            with contextlib.suppress(Exception):
                await future
        # committed batches stay committed, so their subjects' views go even if a later one failed
        await made_stale(redis, keys, stale)
        bar.close()
        await source.close()
        rejects.close()
        seen.close()
    summary.rejected = rejects.count
    summary.rejects_path = rejects.path if rejects.count else None
    summary.seconds = time.perf_counter() - started
    log.info(
        "import %s %s: read=%d inserted=%d updated=%d unchanged=%d rejected=%d warnings=%d "
        "%.1f rows/s",
        kind,
        path.name,
        summary.rows_read,
        summary.inserted,
        summary.updated,
        summary.unchanged,
        summary.rejected,
        summary.warnings,
        summary.rows_per_second,
    )
    return summary
