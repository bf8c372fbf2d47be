"""Which records are shown, and to whom (DESIGN.md §3): the one rule the self view, the public
view, the merchant plate and incentive eligibility all read."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Literal

from tortoise.expressions import Q

from credit.applications.models import Application, ApplicationKind
from credit.calendar_dates import SHANGHAI
from credit.ingest.mapping import LICENCE_STATE
from credit.ingest.rules import RecordRules, load_rules
from credit.models import Record, RecordClass, RecordStatus, RecordType, Severity

Audience = Literal["self", "public"]
OBJECTION_LABEL = "异议处理中"

# A record under objection stays shown and counted wherever it was shown: objecting must never be
# a way to hide a record (DESIGN.md §3); only the decision changes it.
_SHOWN_STATUSES = frozenset({RecordStatus.PUBLISHED, RecordStatus.UNDER_OBJECTION})


def is_shown(record: Record, audience: Audience, on: date) -> bool:
    """Shown: in its publication window and not repaired, expired or revoked; to the public
    only if its severity is published at all (minor is not, by default)."""
    if record.status not in _SHOWN_STATUSES or not record.shared:
        return False
    if record.publish_max_until is not None and record.publish_max_until < on:
        return False
    return audience == "self" or is_published_kind(record)


def shown_to_public(on: date, rules: RecordRules | None = None) -> Q:
    """`is_shown(record, "public", on)` as a query condition, for lists that must not load
    records to drop them (the public lists, credit/public_lists.py). Tested against is_shown."""
    rules = rules or load_rules()
    published = [s.value for s in Severity if rules.windows[s.value].published]
    no_severity = Q(severity__isnull=True) & ~Q(
        type=RecordType.PENALTY, record_class=RecordClass.BASIC
    )
    kinds = (no_severity | Q(severity__in=published)) if published else no_severity
    return (
        Q(status__in=[s.value for s in _SHOWN_STATUSES], shared=True)
        & (Q(publish_max_until__isnull=True) | Q(publish_max_until__gte=on))
        & kinds
    )


def is_published_kind(record: Record, rules: RecordRules | None = None) -> bool:
    """Whether records of this kind are published (config/records.toml, per severity; a penalty
    that is not a dishonesty record never is): an unpublished one is the subject's to see and
    counts for nothing."""
    if record.severity is None:
        # A penalty outside dishonesty (不予处罚, 责令改正 alone) is its subject's to see only.
        return not (record.type == RecordType.PENALTY and record.record_class == RecordClass.BASIC)
    window = (rules or load_rules()).windows.get(str(record.severity))
    return window is None or window.published


def counts(record: Record, rules: RecordRules | None = None) -> bool:
    """Whether a shown record counts in a level: its severity is published, and it is not a
    licence the feed says is no longer valid (当前状态 注销 / 撤销 / 吊销, config/records.toml
    [feed_status.licences] lapsed), which stays shown with its state."""
    rules = rules or load_rules()
    if record.type == RecordType.LICENCE and (
        str(record.details.get(LICENCE_STATE, "")) in rules.feed_status.licence_lapsed
    ):
        return False
    return is_published_kind(record, rules)


async def objection_labels(records: Sequence[Record]) -> dict[int, dict[str, Any]]:
    """record id -> its `objection` in the views ({status, label, since}) for the records under
    objection: the open objection's status and the Shanghai date it was filed."""
    ids = [r.id for r in records if r.status == RecordStatus.UNDER_OBJECTION]
    if not ids:
        return {}
    # Without an open objection found (records marked so by hand): the label, no status or date.
    labels: dict[int, dict[str, Any]] = {
        record_id: {"status": None, "label": OBJECTION_LABEL, "since": None} for record_id in ids
    }
    open_objections = await Application.filter(
        record_id__in=ids, kind=ApplicationKind.OBJECTION, open_key__isnull=False
    ).only("id", "record_id", "status", "created_at")
    for application in open_objections:
        if application.record_id is not None:
            labels[application.record_id] = {
                "status": str(application.status),
                "label": OBJECTION_LABEL,
                "since": application.created_at.astimezone(SHANGHAI).date().isoformat(),
            }
    return labels
