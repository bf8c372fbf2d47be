"""The PostgreSQL write path (credit/ingest/store.py): batches go by binary COPY into staging
tables, then one statement per batch. It must store exactly what the statement it replaced
stored, one JSON array of rows per batch, kept here as the reference."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from credit.calendar_dates import today
from credit.ingest import store
from credit.ingest.mapping import FORMATS, LEGAL_REP_ID_FIELD, MapContext, MappedRow
from credit.ingest.reader import FeedReader, detect_encoding
from credit.ingest.rules import load_rules
from credit.models import ID_NUMBER_FIELD, LEGAL_REP_NAME_FIELD, PERSON_NAME_FIELD
from tests.conftest import BACKEND
from tests.credit.ingest.test_importer import new_id_number, new_uscc, read_sample, tag, write_csv

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="the PostgreSQL write path")

SECRETS = {
    "id_number_enc": ID_NUMBER_FIELD,
    "legal_representative_id_enc": LEGAL_REP_ID_FIELD,
    "name_enc": PERSON_NAME_FIELD,
    "legal_representative_enc": LEGAL_REP_NAME_FIELD,
}


class _JsonBatch(store.Dialect):
    """The earlier PostgreSQL path: the whole batch as one jsonb parameter."""

    def _source(self, columns: tuple[str, ...], rows: int) -> str:
        fields = ", ".join(
            f"(e->>{i})::{store.PG_TYPES[c]} AS {store._q(c)}" for i, c in enumerate(columns)
        )
        return f"SELECT {fields} FROM jsonb_array_elements($1::jsonb) AS e"

    async def run_bulk(self, conn, make_sql, rows, columns, *, multi_row=True):  # type: ignore[no-untyped-def]
        encoded = json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
        await conn.execute_query(make_sql(len(rows)), [encoded])


class _Rollback(Exception):
    pass


def _batches(runtime: Any, tmp_path: Path, data_dir: Path) -> list[list[MappedRow]]:
    """The penalty sample for fresh subjects (a person among them), then the same rows again
    with a record changed, one withdrawn, and a subject's legal representative, name and
    identifiers changed: inserts and updates of both tables."""
    header, rows = read_sample(data_dir, "penalties")
    label = tag()
    header = [*header, "法定代表人证件类型", "法定代表人证件号码", "当前状态"]
    codes: dict[str, str] = {}
    for row in rows:
        row["行政处罚决定书文号"] += f"-{label}"
        code = row["行政相对人代码_1(统一社会信用代码)"]
        if code and len(code) == 18:
            row["行政相对人代码_1(统一社会信用代码)"] = codes.setdefault(code, new_uscc())
        if row["证件号码"] and row["行政相对人类别"] == "自然人":
            row["证件号码"] = codes.setdefault(row["证件号码"], new_id_number())
    first = write_csv(tmp_path / "first.csv", header, rows)
    rows[0]["违法事实"] = "经复核，事实有变。"
    rows[1]["当前状态"] = "撤销"
    changed_code = rows[2]["行政相对人代码_1(统一社会信用代码)"]
    representative_id = new_id_number("19790412")
    for row in rows:  # every row of that subject: the last one about it wins
        if row["行政相对人代码_1(统一社会信用代码)"] == changed_code:
            row["法定代表人"] = "新代表"
            row["法定代表人证件类型"] = "身份证"
            row["法定代表人证件号码"] = representative_id
            row["行政相对人名称"] += "（更名）"
    second = write_csv(tmp_path / "second.csv", header, rows)
    blind_index = functools.partial(runtime.cipher.blind_index, field=ID_NUMBER_FIELD)
    ctx = MapContext(rules=load_rules(), today=today(), blind_index=blind_index)
    batches = []
    for path in (first, second):
        reader = FeedReader(FORMATS["penalties"], path, detect_encoding(path), ctx)
        reader.read_header()
        batch = reader.next_batch(1000)
        reader.close()
        assert len(batch.mapped) >= 40
        batches.append(batch.mapped)
    return batches


async def _stored(dialect: store.Dialect, runtime: Any, batches: list[list[MappedRow]]) -> Any:
    """What the batches leave in the database (rolled back after): every column but ids and
    timestamps, secrets decrypted (encryption is randomised)."""
    keys = [m.record.natural_key for m in batches[0]]
    try:
        async with in_transaction() as conn:
            outcomes = [await store.write_batch(conn, dialect, b, runtime.cipher) for b in batches]
            records = await conn.execute_query_dict(
                "SELECT (to_jsonb(r) - 'id' - 'subject_id' - 'created_at' - 'updated_at')::text"
                " AS row, s.natural_key AS subject FROM record r JOIN subject s"
                " ON s.id = r.subject_id WHERE r.natural_key = ANY($1::text[])"
                " ORDER BY r.natural_key",
                [keys],
            )
            subjects = await conn.execute_query_dict(
                "SELECT * FROM subject WHERE id IN (SELECT subject_id FROM record"
                " WHERE natural_key = ANY($1::text[])) ORDER BY natural_key",
                [keys],
            )
            raise _Rollback
    except _Rollback:
        pass
    for subject in subjects:
        for column in ("id", "created_at", "updated_at"):
            subject.pop(column)
        for column, field in SECRETS.items():
            if subject[column]:
                subject[column] = runtime.cipher.decrypt(subject[column], field)
    counts = [
        (o.inserted, o.updated, o.unchanged, o.subjects_created, o.subjects_updated)
        for o in outcomes
    ]
    return records, subjects, counts


async def test_staged_copy_stores_what_the_json_batch_stored(runtime, data_dir, tmp_path):
    batches = _batches(runtime, tmp_path, data_dir)
    dialect = store.Dialect(connections.get("default").capabilities.dialect)
    assert dialect.postgres
    copied = await _stored(dialect, runtime, batches)
    reference = await _stored(_JsonBatch("postgres"), runtime, batches)

    assert copied == reference
    records, subjects, counts = copied
    assert len(records) >= 40 and len(subjects) >= 10
    assert counts[1][1] >= 2 and counts[1][4] >= 1  # records and a subject were updated
    assert sum('"status": "revoked"' in r["row"] for r in records) == 1
    assert "新代表" in {s["legal_representative_enc"] for s in subjects}  # decrypted
