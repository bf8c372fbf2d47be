"""`fetch_models`: a hand-written SELECT gives the very models the ORM's query gives."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from credit.calendar_dates import today
from credit.models import Record, Subject
from infra.db import fetch_models, fetch_rows
from tests.helpers import make_enterprise, make_record


def fields_of(model: Any) -> dict[str, Any]:
    return {name: getattr(model, name) for name in model._meta.db_fields}


async def test_hand_written_selects_make_the_orms_models(client) -> None:  # type: ignore[no-untyped-def]
    subject = await make_enterprise("阿拉善左旗测试读取有限公司")
    await make_record(subject.id)
    await make_record(
        subject.id,
        record_class="positive",
        type="red_list",
        severity=None,
        publish_max_until=None,
        status="repaired",
        shared=False,
    )
    await make_record(subject.id, decided_on=today() - timedelta(days=3), title="处罚\x01")
    by_orm = await Record.filter(subject_id=subject.id).order_by("-decided_on", "-id")
    by_hand = await fetch_models(
        Record,
        "SELECT * FROM record WHERE subject_id = $1 ORDER BY decided_on DESC, id DESC",
        [subject.id],
    )
    assert [fields_of(r) for r in by_hand] == [fields_of(r) for r in by_orm]
    kinds = [[type(value) for value in fields_of(r).values()] for r in by_orm]
    assert [[type(value) for value in fields_of(r).values()] for r in by_hand] == kinds
    (again,) = await fetch_models(Subject, "SELECT * FROM subject WHERE id = $1", [subject.id])
    assert fields_of(again) == fields_of(await Subject.get(id=subject.id))


async def test_dates_and_repeated_parameters_bind_on_both_backends(client) -> None:  # type: ignore[no-untyped-def]
    subject = await make_enterprise()
    record = await make_record(subject.id)
    rows = await fetch_rows(
        "SELECT (SELECT count(*) FROM record WHERE subject_id = $1 AND decided_on = $2) AS same,"
        " (SELECT count(*) FROM record WHERE subject_id = $1 AND decided_on < $2) AS before",
        [subject.id, record.decided_on],
    )
    assert rows == [{"same": 1, "before": 0}]
