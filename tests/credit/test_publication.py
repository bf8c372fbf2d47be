"""Which records are shown to whom and counted (credit/publication.py, config/records.toml)."""

from __future__ import annotations

from dataclasses import replace

from credit.ingest.rules import load_rules
from credit.models import Record, Subject
from credit.publication import is_published_kind
from infra.cache import invalidate_subjects
from tests.helpers import bound_citizen, make_enterprise, make_record
from tests.scenarios.merchants.support import active_merchant, scan

MINOR = {"severity": "minor", "title": "行政处罚：警告（轻微）"}


def _records(view: dict) -> dict[int, dict]:
    return {r["id"]: r for records in view["records"].values() for r in records}


async def test_a_minor_penalty_is_the_subjects_to_see_and_counts_for_nothing(
    client, login, redis, keys
):
    """DESIGN.md §3 after 令第36号: minor dishonesty is in principle not published (issue 10
    item 2). The person sees it, marked not published; it moves no point of the level."""
    headers, _, subject_id, _ = await bound_citizen(client, login)
    before = (await client.get("/api/v1/me/credit", headers=headers)).json()
    minor = await make_record(subject_id, **MINOR)
    await invalidate_subjects(redis, keys, [subject_id])
    after = (await client.get("/api/v1/me/credit", headers=headers)).json()
    shown = _records(after)[minor.id]
    assert (shown["published"], shown["severity"], shown["severity_label"]) == (
        False,
        "minor",
        "轻微",
    )
    assert after["level"] == before["level"]
    assert minor.id not in {f["record_id"] for f in after["factors"]}


async def test_a_minor_penalty_is_not_on_the_public_lookup_nor_the_plate(
    client, login, redis, keys
):
    enterprise = await make_enterprise()
    minor = await make_record(enterprise.id, **MINOR)
    public = (await client.get(f"/api/v1/subjects/{enterprise.uscc}")).json()
    assert minor.id not in _records(public)
    assert public["level"]["score"] == 750 and public["factors"] == []

    _, merchant = await active_merchant(client, login)
    shop = await Subject.get(uscc=merchant["subject"]["uscc"])
    before = await scan(client, merchant["code"])
    shop_minor = await make_record(shop.id, **MINOR)
    await invalidate_subjects(redis, keys, [shop.id])
    after = await scan(client, merchant["code"])
    assert shop_minor.id not in {r["id"] for r in after["records"]}
    assert after["level"] == before["level"]


def test_the_switch_publishes_minor_records():
    rules = load_rules()
    assert rules.windows["minor"].published is False  # the shipped default
    minor_on = replace(rules.windows["minor"], published=True)
    switched = replace(rules, windows=rules.windows | {"minor": minor_on})
    record = Record(severity="minor")
    assert is_published_kind(record, rules) is False
    assert is_published_kind(record, switched) is True
    assert is_published_kind(Record(severity="general"), rules) is True


async def test_the_public_query_condition_is_is_shown_for_the_public(runtime):
    """credit.publication.shown_to_public (the lists' query) selects exactly the records
    is_shown(record, "public", on) shows, over every status, severity, window and kind."""
    from datetime import timedelta
    from itertools import product

    from credit.calendar_dates import today
    from credit.publication import is_shown, shown_to_public

    on = today()
    enterprise = await make_enterprise()
    made = []
    for status, severity, until, (kind, klass), shared in product(
        ("published", "under_objection", "repaired", "expired", "revoked"),
        (None, "minor", "general", "serious"),
        (None, on, on - timedelta(days=1)),
        (("penalty", "general_dishonesty"), ("penalty", "basic"), ("licence", "basic")),
        (True, False),
    ):
        made.append(
            await make_record(
                enterprise.id,
                status=status,
                severity=severity,
                publish_max_until=until,
                type=kind,
                record_class=klass,
                shared=shared,
            )
        )
    selected = set(
        await Record.filter(shown_to_public(on), subject_id=enterprise.id).values_list(
            "id", flat=True
        )
    )
    expected = {r.id for r in made if is_shown(r, "public", on)}
    assert selected == expected and expected
