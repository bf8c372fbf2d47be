"""No ID number is stored or logged in plaintext once a person binds their identity and reads
their credit (credit/identity.py, credit/self_read.py), on either backend. The importer's side:
tests/credit/ingest/test_importer.py."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from pathlib import Path

from tortoise import connections

from tests.helpers import bind, fresh_id_number, unique_code


async def test_no_id_number_in_plaintext_in_the_database(client, login, settings):
    id_number = fresh_id_number("19750505")
    headers = await login(unique_code())
    assert (await bind(client, headers, name="图雅", id_number=id_number)).status_code == 200
    assert (await client.get("/api/v1/me/credit", headers=headers)).status_code == 200
    needles = [id_number.encode(), b"15292119900315001X"]
    url = settings.database_url
    if url.startswith("sqlite://"):
        db_file = Path(url.removeprefix("sqlite://"))
        await connections.get("default").execute_query("PRAGMA wal_checkpoint(FULL)")
        blobs = [p.read_bytes() for p in db_file.parent.glob(db_file.name + "*")]
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
    for blob in blobs:
        for needle in needles:
            assert needle not in blob


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
