"""Cursor pages (infra/pagination.py): a cursor is ASCII digits or a 422, never a 500 from int()
(`str.isdigit` also takes "²", "①" and "١٢")."""

from __future__ import annotations

from tests.helpers import bound_citizen

OTHER_DIGITS = ["²", "①", "١٢"]


async def test_a_cursor_of_other_digits_is_a_422(client, login):
    headers, *_ = await bound_citizen(client, login)
    for cursor in OTHER_DIGITS:
        queries = await client.get(
            "/api/v1/me/credit/queries", headers=headers, params={"cursor": cursor}
        )
        assert queries.status_code == 422, (cursor, queries.text)
        assert "cursor" in queries.json()["error"]["fields"]
        subjects = await client.get("/api/v1/subjects", params={"q": "驼铃", "cursor": cursor})
        assert subjects.status_code == 422, (cursor, subjects.text)
        assert "cursor" in subjects.json()["error"]["fields"]
    assert (await client.get("/api/v1/me/credit/queries", headers=headers)).status_code == 200
