"""Persons' names at rest (issue 12 item 7, credit/person_names.py): after a person binds and
reads their credit, an enterprise with a legal representative is linked and viewed, and a
reviewer reads an application, neither the persons' names nor their ID numbers are in the
database files (SQLite) or a pg_dump (PostgreSQL), in any Redis key of the run, or in the logs.
Enterprise names stay plain and searchable."""

from __future__ import annotations

import logging
from typing import Any

from credit.models import Subject, SubjectKind
from credit.person_names import (
    legal_representative_name,
    masked,
    person_name,
    seal_stored_names,
)
from tests.credit.test_identity import _database_blobs
from tests.helpers import bind, fresh_id_number, represented_enterprise, unique_code


async def _redis_blob(redis, prefix: str) -> bytes:  # type: ignore[no-untyped-def]
    """Every key of the run's prefix and its value, whatever its type."""
    parts: list[Any] = []
    async for key in redis.scan_iter(match=f"{prefix}*", count=1000):
        kind = await redis.type(key)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        parts.append(key)
        if kind == "string":
            parts.append(await redis.get(key))
        elif kind == "hash":
            parts.append(await redis.hgetall(key))
        elif kind == "list":
            parts.append(await redis.lrange(key, 0, -1))
        elif kind == "set":
            parts.append(await redis.smembers(key))
        elif kind == "zset":
            parts.append(await redis.zrange(key, 0, -1))
        elif kind == "stream":
            parts.append(await redis.xrange(key))
    text = repr(parts).encode()
    # values are bytes: repr escapes them, so search their UTF-8 too
    raw = b"".join(v if isinstance(v, bytes) else repr(v).encode() for v in _flatten(parts))
    return text + raw


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in (*_flatten(k), *_flatten(v))]
    if isinstance(value, list | tuple | set):
        return [x for item in value for x in _flatten(item)]
    return [value]


async def test_no_persons_name_or_id_number_in_the_database_redis_or_logs(
    client, login, settings, redis, caplog, runtime
):
    caplog.set_level(logging.DEBUG)
    name, id_number = "斯琴图雅", fresh_id_number("19810203")
    headers = await login(unique_code())
    bound = await bind(client, headers, name=name, id_number=id_number)
    assert bound.status_code == 200, bound.text
    assert bound.json()["name_masked"] == "斯琴**"
    me = await client.get("/api/v1/me/credit", headers=headers)
    assert me.status_code == 200 and me.json()["subject"]["name"] == "斯琴**"
    assert (await client.get("/api/v1/me", headers=headers)).json()["identity"][
        "name_masked"
    ] == "斯琴**"

    person = await Subject.get(
        id_number_index=runtime.cipher.blind_index(id_number, "subject.id_number")
    )
    assert person.kind == SubjectKind.PERSON and person.name == "斯琴**"
    assert person_name(person, runtime.cipher) == name

    # the person is an enterprise's legal representative (as the platform says); the enterprise's
    # public view is read and cached, and its name stays plain and searchable
    enterprise = await represented_enterprise(client, headers, person.id)
    assert enterprise.legal_representative == "斯琴**"
    assert legal_representative_name(enterprise, runtime.cipher) == name
    public = await client.get(f"/api/v1/subjects/{enterprise.uscc}")
    assert public.status_code == 200 and public.json()["subject"]["name"] == enterprise.name
    found = await client.get("/api/v1/subjects", params={"q": enterprise.name})
    assert [s["uscc"] for s in found.json()["items"]] == [enterprise.uscc]
    # and two demo persons (not the demo citizen 巴特尔: a sample business is 木巴特尔小吃店)
    needles = [name.encode(), id_number.encode(), "其其格".encode(), "王建国".encode()]
    blobs = await _database_blobs(settings)
    assert any(enterprise.name.encode() in blob for blob in blobs)  # the dump can see names
    for blob in blobs:
        for needle in needles:
            assert needle not in blob, needle.decode()
    cached = await _redis_blob(redis, settings.redis_prefix)
    assert cached  # sessions, views, the audit stream
    for needle in needles:
        assert needle not in cached, needle.decode()
    assert caplog.records
    for needle in needles:
        assert needle.decode() not in caplog.text
    # the public search never finds a person, by name or by mask (last: at DEBUG, tortoise
    # logs every query's parameters, the typed search term among them)
    for q in (name, "斯琴**", "斯琴"):
        items = (await client.get("/api/v1/subjects", params={"q": q})).json()["items"]
        assert all(item["kind"] != "person" for item in items)


async def test_names_stored_in_plain_before_are_sealed_at_start(runtime):
    """Rows from before migration 0013 hold names in plain: sealed once, idempotently; an
    erased person's placeholder and organisations' names are left alone."""
    id_index = runtime.cipher.blind_index(fresh_id_number("19700101"), "subject.id_number")
    person = await Subject.create(
        kind=SubjectKind.PERSON,
        name="旧数据人",
        natural_key=f"id:{id_index}",
        id_number_index=id_index,
    )
    erased = await Subject.create(
        kind=SubjectKind.PERSON, name="已解除绑定", natural_key=f"erased:{unique_code()}"
    )
    company = await Subject.create(
        kind=SubjectKind.ENTERPRISE,
        name="阿拉善旧数据商贸有限公司",
        natural_key=f"t:{unique_code()}",
        legal_representative="旧代表",
    )
    assert await seal_stored_names(runtime.cipher) >= 2
    person, erased, company = [await Subject.get(id=s.id) for s in (person, erased, company)]
    assert person.name == masked("旧数据人") == "旧数**"
    assert person_name(person, runtime.cipher) == "旧数据人"
    assert company.name == "阿拉善旧数据商贸有限公司" and company.legal_representative == "旧**"
    assert legal_representative_name(company, runtime.cipher) == "旧代表"
    assert erased.name == "已解除绑定" and erased.name_enc is None
    assert await seal_stored_names(runtime.cipher) == 0
