"""No ID number is stored or logged in plaintext once a person binds their identity and reads
their credit (credit/identity.py, credit/self_read.py), on either backend, and none is left,
encrypted or as a blind index, once they withdraw. The importer's side:
tests/credit/ingest/test_importer.py. The rules of names, age and the consent text, as functions;
the HTTP behaviour: tests/miniprogram_api/test_identity.py."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import subprocess
from datetime import date
from pathlib import Path

import pytest
from tortoise import connections

from credit.identity import ConsentText, age_on, normalise_name
from credit.models import Subject
from infra.settings import CONFIG_DIR
from tests.helpers import bind, fresh_id_number, read_database_file, unique_code


async def _database_blobs(settings, *, live_rows_only: bool = False) -> list[bytes]:  # type: ignore[no-untyped-def]
    """The database as stored: the SQLite files (or, live_rows_only, a dump of their rows:
    SQLite leaves an updated row's old bytes in free space), or a PostgreSQL data dump."""
    url = settings.database_url
    if url.startswith("sqlite://"):
        db_file = Path(url.removeprefix("sqlite://"))
        await connections.get("default").execute_query("PRAGMA wal_checkpoint(FULL)")
        if live_rows_only:
            with sqlite3.connect(db_file) as conn:
                return ["\n".join(conn.iterdump()).encode()]
        blobs = [read_database_file(p) for p in db_file.parent.glob(db_file.name + "*")]
        assert blobs and any(b"identity_binding" in blob for blob in blobs)
    else:
        dump = await asyncio.to_thread(
            subprocess.run,
            ["pg_dump", "--data-only", url.replace("postgres://", "postgresql://", 1)],
            capture_output=True,
            check=True,
        )
        blobs = [dump.stdout]
        assert b"COPY public.subject" in dump.stdout
    return blobs


async def test_no_id_number_in_plaintext_in_the_database(client, login, settings):
    id_number = fresh_id_number("19750505")
    headers = await login(unique_code())
    assert (await bind(client, headers, name="图雅", id_number=id_number)).status_code == 200
    assert (await client.get("/api/v1/me/credit", headers=headers)).status_code == 200
    needles = [id_number.encode(), b"15292119900315001X"]
    for blob in await _database_blobs(settings):
        for needle in needles:
            assert needle not in blob


async def test_after_withdrawal_neither_the_encrypted_id_nor_its_index_is_stored(
    client, login, settings, cipher
):
    id_number = fresh_id_number("19770707")
    headers = await login(unique_code())
    assert (await bind(client, headers, name="萨仁高娃", id_number=id_number)).status_code == 200
    index = cipher.blind_index(id_number, "subject.id_number").encode()
    encrypted = (await Subject.get(id_number_index=index.decode())).id_number_enc.encode()
    before = await _database_blobs(settings, live_rows_only=True)
    assert any(index in blob and encrypted in blob for blob in before)  # the check can see them
    assert (await client.delete("/api/v1/me/identity", headers=headers)).status_code == 200
    for blob in await _database_blobs(settings, live_rows_only=True):
        assert index not in blob and encrypted not in blob and id_number.encode() not in blob


async def test_no_id_number_in_the_logs(client, login, caplog):
    id_number = fresh_id_number("19660606")
    caplog.set_level(logging.DEBUG)
    headers = await login(unique_code())
    assert (await bind(client, headers, name="其木格", id_number=id_number)).status_code == 200
    # A failed attempt and a refused one log too: neither may carry the number.
    await bind(client, await login(unique_code()), name="其木格", id_number=id_number)
    await client.get("/api/v1/me/credit", headers=headers)
    assert caplog.records  # something was logged at DEBUG, so the check means something
    assert id_number not in caplog.text
    assert id_number[6:14] + id_number[14:] not in caplog.text


@pytest.mark.parametrize(
    ("typed", "bound"),
    [
        ("巴特尔·朝鲁", "巴特尔·朝鲁"),
        ("巴特尔\u2022朝鲁", "巴特尔·朝鲁"),  # •
        ("巴特尔\u30fb朝鲁", "巴特尔·朝鲁"),  # ・
        ("巴特尔\uff65朝鲁", "巴特尔·朝鲁"),  # ･
        ("巴特尔\u2027朝鲁", "巴特尔·朝鲁"),  # ‧
        (" 巴特尔 · 朝鲁 ", "巴特尔·朝鲁"),
        ("刘\u4dae", "刘\u4dae"),  # Extension A
        ("王\U0002003e", "王\U0002003e"),  # Extension B
        ("周\U00031350", "周\U00031350"),  # Extension H
        ("吴\u3007", "吴\u3007"),  # 〇
        ("李\uf900", "李\u8c48"),  # a compatibility ideograph: its NFC form
        ("郑\ufa11", "郑\ufa11"),  # a unified ideograph of the compatibility block
        ("·巴特尔", None),
        ("巴特尔··朝鲁", None),
        ("巴特尔.朝鲁", None),
        ("\u2f00二", None),  # Kangxi radical one
        ("\u4e00\u2e80", None),  # a CJK radical
        ("乌云\u200b", None),  # zero-width space
        ("乌", None),
    ],
)
def test_names_as_the_id_card_prints_them(typed, bound):
    assert normalise_name(typed) == bound


def test_age_in_full_years_and_the_29th_of_february():
    birth = date(2012, 2, 29)
    assert age_on(birth, date(2026, 2, 28)) == 13
    assert age_on(birth, date(2026, 3, 1)) == 14
    assert age_on(birth, date(2028, 2, 29)) == 16
    assert age_on(date(2012, 6, 1), date(2026, 5, 31)) == 13
    assert age_on(date(2012, 6, 1), date(2026, 6, 1)) == 14


def test_a_consent_text_without_a_required_section_does_not_load(tmp_path):
    text = (CONFIG_DIR / "consents.toml").read_text()
    assert ConsentText.load().version  # the shipped file loads
    broken = tmp_path / "consents.toml"
    broken.write_text(text.replace('key = "retention"', 'key = "kept"'))
    with pytest.raises(ValueError, match="retention"):
        ConsentText.load(broken)
