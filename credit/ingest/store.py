"""Writing one batch of mapped rows: subjects and records upserted in bulk, in one transaction.

Row-by-row ORM saves manage a few hundred rows a second; a 200k-row feed needs thousands. So a
batch costs a handful of statements whatever its size: one IN query for the subjects it names,
one bulk insert for the new ones (plus one query for their ids), one bulk update for the changed
ones, one IN query for the records' current content hashes, and one bulk
`INSERT … ON CONFLICT (natural_key) DO UPDATE … WHERE content_hash differs` for the new and
changed records (SQLite ≥ 3.24 and PostgreSQL alike; on PostgreSQL the rows of each bulk
statement arrive by binary COPY into a temporary staging table, see Dialect). Unchanged rows are
never written, so a re-import of the same file leaves every row, and its updated_at, as it was.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from credit.ingest.mapping import (
    LEGAL_REP_ID_FIELD,
    MappedRow,
    RecordData,
    SubjectData,
)
from credit.models import (
    ID_NUMBER_FIELD,
    LEGAL_REP_NAME_FIELD,
    PERSON_NAME_FIELD,
    RecordSource,
    RecordStatus,
    SubjectKind,
)
from credit.person_names import same_name, seal_legal_representative, seal_person_name
from infra.security.crypto import DecryptionError, FieldCipher

PUBLISHED, PLATFORM = RecordStatus.PUBLISHED.value, RecordSource.PLATFORM.value
REVOKED = RecordStatus.REVOKED.value
PERSON = SubjectKind.PERSON.value
SQLITE_IN_CHUNK = 500
# Bound parameters per SQLite statement: the lowest limit of any build (999 before 3.32).
SQLITE_MAX_PARAMS = 999  # well below SQLite's bound-variable limit on old builds (999)

SUBJECT_FIELDS = (
    "kind",
    "name",
    "uscc",
    "uscc_check_ok",
    "registration_no",
    "id_number_enc",
    "id_number_index",
    "legal_representative",
    "legal_representative_id_enc",
    "region",
    "legal_representative_id_index",  # blind index under ID_NUMBER_FIELD (credit/acting.py)
    "legal_representative_id_type",
    "org_code",
    "tax_registration_no",
    "institution_cert_no",
    "social_org_cert_no",
    # A person's name and a legal representative's, encrypted; the columns above hold the masks
    # (credit/person_names.py).
    "name_enc",
    "legal_representative_enc",
)
SUBJECT_INSERT_COLUMNS = ("natural_key", *SUBJECT_FIELDS, "created_at", "updated_at")
SUBJECT_UPDATE_COLUMNS = (*SUBJECT_FIELDS, "updated_at", "id")
# Fields the feed owns; status, shared and source belong to the workflows (repair, objection).
RECORD_FEED_COLUMNS = (
    "subject_id",
    "record_class",
    "type",
    "title",
    "severity",
    "decided_on",
    "publish_min_until",
    "publish_max_until",
    "authority",
    "authority_uscc",
    "source_unit",
    "source_unit_uscc",
    "document_no",
    "content_hash",
    "details",
    "updated_at",
)
RECORD_INSERT_COLUMNS = (
    *RECORD_FEED_COLUMNS,
    "natural_key",
    "status",
    "shared",
    "source",
    "created_at",
)

SELECT_SUBJECTS = f"SELECT id, natural_key, {', '.join(SUBJECT_FIELDS)} FROM subject"  # noqa: S608

PG_TYPES = {
    "id": "bigint",
    "subject_id": "bigint",
    "uscc_check_ok": "boolean",
    "shared": "boolean",
    "decided_on": "date",
    "publish_min_until": "date",
    "publish_max_until": "date",
    "details": "jsonb",
    "created_at": "timestamptz",
    "updated_at": "timestamptz",
    "id_number_enc": "text",
    "legal_representative_id_enc": "text",
    "name_enc": "text",
    "legal_representative_enc": "text",
} | {
    name: "varchar"
    for name in (
        "natural_key",
        "kind",
        "name",
        "uscc",
        "registration_no",
        "id_number_index",
        "legal_representative",
        "region",
        "legal_representative_id_index",
        "legal_representative_id_type",
        "org_code",
        "tax_registration_no",
        "institution_cert_no",
        "social_org_cert_no",
        "record_class",
        "type",
        "title",
        "severity",
        "status",
        "source",
        "authority",
        "authority_uscc",
        "source_unit",
        "source_unit_uscc",
        "document_no",
        "content_hash",
    )
}


class Dialect:
    """The few differences between SQLite and PostgreSQL that raw SQL has to care about."""

    def __init__(self, name: str) -> None:
        self.postgres = name == "postgres"

    def placeholders(self, count: int, start: int = 1) -> str:
        if self.postgres:
            return ", ".join(f"${i}" for i in range(start, start + count))
        return ", ".join("?" * count)

    def param(self, number: int) -> str:
        return f"${number}" if self.postgres else "?"

    def timestamp(self, value: datetime) -> str:
        # tortoise stores SQLite timestamps as ISO text with a space separator
        return value.isoformat() if self.postgres else value.isoformat(" ")

    # PostgreSQL gets each batch by binary COPY (asyncpg) into a temporary staging table, then
    # one statement per batch reading it: a server round trip per row costs far more than the
    # row, and COPY spares the server the parsing of a JSON array (the earlier way, a third of
    # its time on a batch of new records). Dates, timestamps and JSON are staged as text and
    # cast as they are read, exactly as the JSON batch's text was. SQLite gets multi-row VALUES
    # statements of up to SQLITE_MAX_PARAMS parameters: executemany with one row per statement
    # takes the GIL back after every row, which starves it while the next batch is parsed in a
    # thread.

    def _source(self, columns: tuple[str, ...], rows: int) -> str:
        """Where the inserted rows come from: the staging table (PostgreSQL) or VALUES tuples."""
        if self.postgres:
            fields = ", ".join(f"{_q(c)}::{PG_TYPES[c]} AS {_q(c)}" for c in columns)
            return f"SELECT {fields} FROM {STAGES[columns]}"  # noqa: S608
        one = f"({self.placeholders(len(columns))})"
        return "VALUES " + ", ".join([one] * rows)

    def insert_subject_sql(self, rows: int = 1) -> str:
        columns = ", ".join(_q(c) for c in SUBJECT_INSERT_COLUMNS)
        source = self._source(SUBJECT_INSERT_COLUMNS, rows)
        return f"INSERT INTO subject ({columns}) {source} ON CONFLICT DO NOTHING"

    def update_subject_sql(self, rows: int = 1) -> str:
        changed = SUBJECT_UPDATE_COLUMNS[:-1]  # all but the id
        if self.postgres:
            sets = ", ".join(f"{_q(c)} = u.{_q(c)}" for c in changed)
            source = self._source(SUBJECT_UPDATE_COLUMNS, rows)
            return f"UPDATE subject AS s SET {sets} FROM ({source}) AS u WHERE s.id = u.id"  # noqa: S608
        sets = ", ".join(f"{_q(c)} = ?" for c in changed)
        return f"UPDATE subject SET {sets} WHERE id = ?"  # noqa: S608

    def upsert_record_sql(self, rows: int = 1) -> str:
        columns = ", ".join(_q(c) for c in RECORD_INSERT_COLUMNS)
        source = self._source(RECORD_INSERT_COLUMNS, rows)
        sets = ", ".join(f"{_q(c)} = excluded.{_q(c)}" for c in RECORD_FEED_COLUMNS)
        # A row that withdraws its record revokes it (neither shown nor shared); otherwise the
        # status and sharing stay the workflows' (repair, objection).
        withdrawn = f"excluded.status = '{REVOKED}'"
        sets += (
            f", status = CASE WHEN {withdrawn} THEN excluded.status ELSE record.status END"
            f", shared = CASE WHEN {withdrawn} THEN excluded.shared ELSE record.shared END"
        )
        return (
            f"INSERT INTO record ({columns}) {source} "
            f"ON CONFLICT (natural_key) DO UPDATE SET {sets} "
            "WHERE record.content_hash <> excluded.content_hash"
        )

    async def run_bulk(
        self,
        conn: BaseDBAsyncClient,
        make_sql: Callable[[int], str],
        rows: list[list[Any]],
        columns: tuple[str, ...],
        *,
        multi_row: bool = True,
    ) -> None:
        """Run `make_sql(n)` (a statement for n rows) over `rows`, each a list of values of
        `columns`."""
        if self.postgres:
            async with conn.acquire_connection() as pg:
                await pg.execute(_stage_sql(columns))
                await pg.copy_records_to_table(STAGES[columns], records=rows, columns=columns)
                await pg.execute(make_sql(len(rows)))
            return
        if not multi_row:
            await conn.execute_many(make_sql(1), rows)
            return
        per = max(1, SQLITE_MAX_PARAMS // len(rows[0]))
        full = len(rows) // per
        if full:
            chunks = [list(chain.from_iterable(rows[i * per : (i + 1) * per])) for i in range(full)]
            await conn.execute_many(make_sql(per), chunks)
        rest = rows[full * per :]
        if rest:
            await conn.execute_query(make_sql(len(rest)), list(chain.from_iterable(rest)))


# PostgreSQL: the temporary table each bulk statement's rows are copied into (one per
# session, emptied at every commit; emptied before use too, should one transaction write the
# same statement twice).
STAGES = {
    SUBJECT_INSERT_COLUMNS: "import_stage_subject_new",
    SUBJECT_UPDATE_COLUMNS: "import_stage_subject_changed",
    RECORD_INSERT_COLUMNS: "import_stage_record",
}
# Staged as COPY sends them: text, apart from ids and booleans (cast when the stage is read).
_STAGE_TYPES = {"bigint": "bigint", "boolean": "boolean"}


def _stage_sql(columns: tuple[str, ...]) -> str:
    fields = ", ".join(f"{_q(c)} {_STAGE_TYPES.get(PG_TYPES[c], 'text')}" for c in columns)
    stage = STAGES[columns]
    create = f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ({fields}) ON COMMIT DELETE ROWS"
    return f"{create}; DELETE FROM {stage}"  # noqa: S608


def _q(name: str) -> str:
    return f'"{name}"'


async def fetch_by(
    conn: BaseDBAsyncClient, dialect: Dialect, select: str, column: str, keys: Sequence[str]
) -> list[dict[str, Any]]:
    """Rows whose `column` is one of `keys`: one array parameter on PostgreSQL, chunked IN
    lists on SQLite."""
    if not keys:
        return []
    if dialect.postgres:
        return await conn.execute_query_dict(
            f"{select} WHERE {column} = ANY($1::text[])", [list(keys)]
        )
    rows: list[dict[str, Any]] = []
    for start in range(0, len(keys), SQLITE_IN_CHUNK):
        chunk = list(keys[start : start + SQLITE_IN_CHUNK])
        marks = ", ".join("?" * len(chunk))
        rows.extend(await conn.execute_query_dict(f"{select} WHERE {column} IN ({marks})", chunk))
    return rows


@dataclass
class BatchOutcome:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    subjects_created: int = 0
    subjects_updated: int = 0
    changed_subject_ids: set[int] = field(default_factory=set)
    # created in this batch: nothing can be cached for them yet
    new_subject_ids: set[int] = field(default_factory=set)
    # the subjects as this batch leaves them, for the import's cache once committed
    subject_rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    # records this batch revoked because their row withdraws them: (record id, subject id, line)
    withdrawn: list[tuple[int, int, int]] = field(default_factory=list)


def _same_secret(cipher: FieldCipher, token: str | None, plaintext: str, field_name: str) -> bool:
    """Encryption is randomised, so "unchanged" means the stored value decrypts to the same."""
    if not token:
        return False
    try:
        return cipher.decrypt(token, field_name) == plaintext
    except DecryptionError:
        return False


def _merged_subject(
    stored: dict[str, Any], new: SubjectData, cipher: FieldCipher
) -> list[Any] | None:
    """The subject's field values after this batch, or None when nothing changes."""
    old = [stored[name] for name in SUBJECT_FIELDS]
    old[3] = bool(old[3])  # SQLite returns booleans as 0/1
    id_enc = stored["id_number_enc"]
    same_person = bool(id_enc) and stored["id_number_index"] == new.id_number_index
    if new.id_number and not same_person:
        id_enc = cipher.encrypt(new.id_number, ID_NUMBER_FIELD)
    legal_id_enc = stored["legal_representative_id_enc"]
    if new.legal_representative_id and not _same_secret(
        cipher, legal_id_enc, new.legal_representative_id, LEGAL_REP_ID_FIELD
    ):
        legal_id_enc = cipher.encrypt(new.legal_representative_id, LEGAL_REP_ID_FIELD)
    legal_id_index = (
        _legal_rep_index(cipher, new.legal_representative_id)
        if new.legal_representative_id
        else stored["legal_representative_id_index"]
    )
    if new.kind != PERSON:
        name, name_enc = new.name, None
    elif same_name(cipher, stored["name_enc"], new.name, PERSON_NAME_FIELD):
        name, name_enc = stored["name"], stored["name_enc"]
    else:
        name, name_enc = seal_person_name(cipher, new.name)
    legal_rep, legal_rep_enc = stored["legal_representative"], stored["legal_representative_enc"]
    if new.legal_representative and not same_name(
        cipher, legal_rep_enc, new.legal_representative, LEGAL_REP_NAME_FIELD
    ):
        legal_rep, legal_rep_enc = seal_legal_representative(cipher, new.legal_representative)
    merged = [
        new.kind,
        name,
        new.uscc or stored["uscc"],
        new.uscc_check_ok if new.uscc else old[3],
        new.registration_no or stored["registration_no"],
        id_enc,
        stored["id_number_index"] or new.id_number_index,
        legal_rep,
        legal_id_enc,
        new.region or stored["region"],
        legal_id_index,
        (
            new.legal_representative_id_type
            if new.legal_representative_id
            else stored["legal_representative_id_type"]
        ),
        new.org_code or stored["org_code"],
        new.tax_registration_no or stored["tax_registration_no"],
        new.institution_cert_no or stored["institution_cert_no"],
        new.social_org_cert_no or stored["social_org_cert_no"],
        name_enc,
        legal_rep_enc,
    ]
    return None if merged == old else merged


def _legal_rep_index(cipher: FieldCipher, id_number: str) -> str:
    """The digest a bound person's id_number_index holds: the same field name, on purpose."""
    return cipher.blind_index(id_number, ID_NUMBER_FIELD)


def _subject_insert_values(
    subject: SubjectData, cipher: FieldCipher, dialect: Dialect, now: Any
) -> list[Any]:
    name, name_enc = (
        seal_person_name(cipher, subject.name) if subject.kind == PERSON else (subject.name, None)
    )
    legal_rep, legal_rep_enc = (
        seal_legal_representative(cipher, subject.legal_representative)
        if subject.legal_representative
        else (None, None)
    )
    return [
        subject.natural_key,
        subject.kind,
        name,
        subject.uscc,
        subject.uscc_check_ok,
        subject.registration_no,
        cipher.encrypt(subject.id_number, ID_NUMBER_FIELD) if subject.id_number else None,
        subject.id_number_index,
        legal_rep,
        (
            cipher.encrypt(subject.legal_representative_id, LEGAL_REP_ID_FIELD)
            if subject.legal_representative_id
            else None
        ),
        subject.region,
        (
            _legal_rep_index(cipher, subject.legal_representative_id)
            if subject.legal_representative_id
            else None
        ),
        subject.legal_representative_id_type,
        subject.org_code,
        subject.tax_registration_no,
        subject.institution_cert_no,
        subject.social_org_cert_no,
        name_enc,
        legal_rep_enc,
        now,
        now,
    ]


async def _resolve_subjects(
    conn: BaseDBAsyncClient,
    dialect: Dialect,
    rows: Sequence[MappedRow],
    cipher: FieldCipher,
    now: Any,
    outcome: BatchOutcome,
    known: Mapping[str, dict[str, Any]],
) -> dict[str, int]:
    """natural key -> subject id for every subject of the batch, inserting and updating.
    `known` holds subjects as this import last committed them, so they need no lookup."""
    subjects: dict[str, SubjectData] = {}
    copied: set[str] = set()
    for mapped in rows:
        key = mapped.subject.natural_key
        first = subjects.get(key)
        if first is None:
            subjects[key] = mapped.subject
            continue
        if key not in copied:  # merge into a copy: the rows stay as read, for a retry
            first = subjects[key] = dataclasses.replace(first)
            copied.add(key)
        first.merge(mapped.subject)
    stored = {key: known[key] for key in subjects if key in known}
    unknown = [key for key in subjects if key not in stored]
    stored.update(
        (row["natural_key"], row)
        for row in await fetch_by(conn, dialect, SELECT_SUBJECTS, "natural_key", unknown)
    )
    ids = {key: int(row["id"]) for key, row in stored.items()}
    inserts: list[list[Any]] = []
    updates: list[list[Any]] = []
    for key, subject in subjects.items():
        current = stored.get(key)
        if current is None:
            inserts.append(_subject_insert_values(subject, cipher, dialect, now))
            continue
        merged = _merged_subject(current, subject, cipher)
        if merged is not None:
            updates.append([*merged, now, current["id"]])
            outcome.changed_subject_ids.add(int(current["id"]))
            state = dict(zip(SUBJECT_FIELDS, merged, strict=True))
            state["id"], state["natural_key"] = current["id"], key
            outcome.subject_rows[key] = state
        elif key not in known:
            outcome.subject_rows[key] = current
    if inserts:
        await dialect.run_bulk(conn, dialect.insert_subject_sql, inserts, SUBJECT_INSERT_COLUMNS)
        new_keys = [values[0] for values in inserts]
        found = await fetch_by(conn, dialect, SELECT_SUBJECTS, "natural_key", new_keys)
        ids.update((row["natural_key"], int(row["id"])) for row in found)
        outcome.new_subject_ids.update(int(row["id"]) for row in found)
        outcome.subject_rows.update((row["natural_key"], row) for row in found)
        missing = [key for key in new_keys if key not in ids]
        if missing:
            # A person created elsewhere under another key: find them by the blind index.
            by_index = {subjects[key].id_number_index: key for key in missing}
            for row in await fetch_by(
                conn,
                dialect,
                "SELECT id, id_number_index FROM subject",
                "id_number_index",
                [index for index in by_index if index],
            ):
                ids[by_index[row["id_number_index"]]] = int(row["id"])
        unresolved = [key for key in new_keys if key not in ids]
        if unresolved:
            raise RuntimeError(f"{len(unresolved)} subjects could not be inserted")
        outcome.subjects_created += len(inserts)
    if updates:
        await dialect.run_bulk(
            conn, dialect.update_subject_sql, updates, SUBJECT_UPDATE_COLUMNS, multi_row=False
        )
        outcome.subjects_updated += len(updates)
    return ids


def _record_values(record: RecordData, subject_id: int, dialect: Dialect, now: Any) -> list[Any]:
    return [
        subject_id,
        record.record_class,
        record.type,
        record.title,
        record.severity,
        record.decided_on,
        record.publish_min_until,
        record.publish_max_until,
        record.authority,
        record.authority_uscc,
        record.source_unit,
        record.source_unit_uscc,
        record.document_no,
        record.content_hash,
        record.details_json,
        now,
        record.natural_key,
        REVOKED if record.withdrawn else PUBLISHED,
        not record.withdrawn,
        PLATFORM,
        now,
    ]


async def write_batch(
    conn: BaseDBAsyncClient,
    dialect: Dialect,
    rows: Sequence[MappedRow],
    cipher: FieldCipher,
    known: Mapping[str, dict[str, Any]] | None = None,
) -> BatchOutcome:
    """Upsert the batch's subjects and records on `conn` (a transaction). Rows count as if
    applied in file order: a key seen twice is inserted then updated (or left unchanged)."""
    outcome = BatchOutcome()
    if not rows:
        return outcome
    now = dialect.timestamp(datetime.now(UTC))
    subject_ids = await _resolve_subjects(conn, dialect, rows, cipher, now, outcome, known or {})

    keys = list(dict.fromkeys(mapped.record.natural_key for mapped in rows))
    stored = {
        row["natural_key"]: (row["content_hash"], int(row["subject_id"]))
        for row in await fetch_by(
            conn,
            dialect,
            "SELECT natural_key, content_hash, subject_id FROM record",
            "natural_key",
            keys,
        )
    }
    latest: dict[str, MappedRow] = {}
    current_hash: dict[str, str] = {key: value[0] for key, value in stored.items()}
    for mapped in rows:
        key = mapped.record.natural_key
        previous = current_hash.get(key)
        if previous is None:
            outcome.inserted += 1
        elif previous == mapped.record.content_hash:
            outcome.unchanged += 1
        else:
            outcome.updated += 1
        current_hash[key] = mapped.record.content_hash
        latest[key] = mapped

    values: list[list[Any]] = []
    withdrawn: dict[str, tuple[int, int]] = {}  # natural key -> (subject id, line)
    for key, mapped in latest.items():
        before = stored.get(key)
        if before is not None and before[0] == mapped.record.content_hash:
            continue
        subject_id = subject_ids[mapped.subject.natural_key]
        values.append(_record_values(mapped.record, subject_id, dialect, now))
        outcome.changed_subject_ids.add(subject_id)
        if before is not None:
            outcome.changed_subject_ids.add(before[1])
        if mapped.record.withdrawn:
            withdrawn[key] = (subject_id, mapped.line)
    if values:
        await dialect.run_bulk(conn, dialect.upsert_record_sql, values, RECORD_INSERT_COLUMNS)
    if withdrawn:  # rare: one more query, for the audit trail
        rows_found = await fetch_by(
            conn, dialect, "SELECT id, natural_key FROM record", "natural_key", list(withdrawn)
        )
        outcome.withdrawn = [(int(row["id"]), *withdrawn[row["natural_key"]]) for row in rows_found]
    outcome.changed_subject_ids -= outcome.new_subject_ids
    return outcome
